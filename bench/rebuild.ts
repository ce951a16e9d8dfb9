// Scenario "rebuild": rebuild the read tables from 200,000 events stored in PostgreSQL,
// against a plain SELECT of the same rows through `pg`; then again while a few clients read
// the read tables plainly, against the same reads without a rebuild; then again while readers
// and writers use the server, against the same load without a rebuild. The clients run in a
// worker thread, so that the rebuild's work in this process neither delays nor times them.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import pg from "pg";
import { openDatabase } from "../src/database/connect.ts";
import { contentRows, outputContent } from "../src/domain/content.ts";
import { storedPayload } from "../src/eventstore/eventStore.ts";
import { encodeGlobalId } from "../src/graphql/globalIds.ts";
import { rebuildReadTables, type RebuildResult } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { createBenchDatabase, fmt, graphql, percentile, report, signUp, startServer } from "./lib.ts";
import { random, storyHistory } from "./synthetic.ts";

const READERS = 8;
const WRITERS = 4;
/** Clients reading the read tables through `pg` during the second rebuild. */
const TABLE_READERS = 4;
/** A story page's rows, read plainly: the story, its modules, its last 10 versions' number and date. */
const TABLE_READS = [
  "SELECT * FROM stories WHERE id = $1",
  "SELECT * FROM story_modules WHERE story_id = $1 ORDER BY module_order",
  "SELECT version_number, created_at FROM story_versions WHERE story_id = $1 ORDER BY version_number DESC LIMIT 10",
];
const MODULE_NAMES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"];
const READ = "query($id: ID!) { story(id: $id) { revision activeVersion { number } modules { name output } } }";
const WRITE = "mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } } }";

type Traffic = { latencies: number[]; errors: string[] };

/** `clients` loops of `operation` until `until` settles; their latencies and errors. */
async function load(clients: number, until: Promise<unknown>, operation: (client: number) => Promise<unknown>): Promise<Traffic> {
  let running = true;
  void until.finally(() => (running = false));
  const traffic: Traffic = { latencies: [], errors: [] };
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (running) {
        const started = performance.now();
        try {
          await operation(client);
          traffic.latencies.push(performance.now() - started);
        } catch (error) {
          traffic.errors.push(String(error).slice(0, 300));
        }
      }
    }),
  );
  return traffic;
}

/** What the worker thread runs: readers and writers through the server, or plain reads of the read tables. */
type Clients = { kind: "server"; url: string; token: string; storyIds: string[] } | { kind: "tables"; databaseUrl: string; storyIds: string[] };
type ServerTraffic = { reads: Traffic; writes: Traffic };

/** `clients` in a worker thread of their own until `until` settles; what they measured. */
async function inWorker<Measured>(clients: Clients, until: Promise<unknown>): Promise<Measured> {
  const worker = new Worker(new URL(import.meta.url), { workerData: clients });
  const measured = new Promise<Measured>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  try {
    await until;
  } finally {
    worker.postMessage("stop");
  }
  const result = await measured;
  await worker.terminate();
  return result;
}

/** The worker thread: its clients, until the main thread says stop. */
async function runClients(clients: Clients): Promise<void> {
  const stop = new Promise((resolve) => parentPort!.once("message", resolve));
  if (clients.kind === "server") {
    parentPort!.postMessage(await serverTraffic(clients.url, clients.token, clients.storyIds, stop));
    return;
  }
  const pool = new pg.Pool({ connectionString: clients.databaseUrl, max: TABLE_READERS });
  try {
    parentPort!.postMessage(await tableReads(pool, clients.storyIds, stop));
  } finally {
    await pool.end();
  }
}

/** Readers and writers through the server on the seeded stories until `until` settles. */
async function serverTraffic(url: string, token: string, storyIds: string[], until: Promise<unknown>): Promise<ServerTraffic> {
  const pick = picker(storyIds.map((id) => encodeGlobalId("Story", id)));
  const [reads, writes] = await Promise.all([
    load(READERS, until, () => graphql(url, READ, { id: pick() }, token)),
    load(WRITERS, until, (w) => graphql(url, WRITE, { i: { storyId: pick(), module: MODULE_NAMES[w % 5], output: { note: `w${w}` } } }, token)),
  ]);
  return { reads, writes };
}

/** A story page's rows read plainly from the read tables, by a few `pg` clients, until `until` settles. */
async function tableReads(pool: pg.Pool, storyIds: string[], until: Promise<unknown>): Promise<Traffic> {
  const pick = picker(storyIds);
  return load(TABLE_READERS, until, async () => {
    const storyId = pick();
    for (const statement of TABLE_READS) await pool.query(statement, [storyId]);
  });
}

function picker(storyIds: string[]): () => string {
  const next = random(7);
  return () => storyIds[Math.floor(next() * storyIds.length)]!;
}

const seconds = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));

const STORIES = 2_000;
const EVENTS_PER_STORY = 100;
const INSERT_BATCH = 2_000;

async function main() {
  const database = await createBenchDatabase("rebuild");
  const server = await startServer({ DATABASE_URL: database.url });
  // a rebuild holds four connections: its lease, the log reader and two loaders
  const db = await openDatabase({ databaseUrl: database.url, dataDir: "/tmp", poolSize: 6, migrate: false });
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const token = await signUp(server.url, "rebuild");
    // the only user: the seeded stories are theirs, so their token reads and writes them
    const ownerId = (await db.prisma.user.findFirstOrThrow({ select: { id: true } })).id;
    const next = random(200_000);
    const events = Array.from({ length: STORIES }, () => storyHistory(ownerId, EVENTS_PER_STORY, next)).flat();
    const seedStarted = performance.now();
    for (let i = 0; i < events.length; i += INSERT_BATCH) {
      // stored as the server stores them: outputs by reference, their content in story_contents
      const batch = events.slice(i, i + INSERT_BATCH);
      const rows = batch.map((event) => ({ ...event, payload: storedPayload(event) }));
      const contents = batch.flatMap((event) => (event.type === "ModuleWritten" ? contentRows(event.storyId, outputContent(event.payload.output)!) : []));
      await client.query(
        `INSERT INTO story_contents (story_id, hash, value)
         SELECT x."storyId", x.hash, coalesce(x.value, 'null'::jsonb) FROM jsonb_to_recordset($1::jsonb) AS x("storyId" uuid, hash text, value jsonb)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(contents)],
      );
      await client.query(
        `INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number)
         SELECT x.id, x."storyId", x.seq, x.type, x."schemaVersion", x.payload, x."actorId", x."createdAt", x."activeVersionNumber"
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "storyId" uuid, seq int, type text, "schemaVersion" int, payload jsonb,
                "actorId" uuid, "createdAt" timestamptz, "activeVersionNumber" int)`,
        [JSON.stringify(rows)],
      );
    }
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    await client.query("VACUUM ANALYZE story_events");

    // baseline: the same rows, read plainly
    const selectStarted = performance.now();
    const selected = await client.query("SELECT * FROM story_events ORDER BY story_id, seq");
    const selectSeconds = (performance.now() - selectStarted) / 1000;
    const baseline = selected.rowCount! / selectSeconds;

    const rebuildStarted = performance.now();
    const rebuilt = await rebuildReadTables(db);
    const rebuildSeconds = (performance.now() - rebuildStarted) / 1000;
    const perSecond = rebuilt.events / rebuildSeconds;
    const ratio = perSecond / baseline;
    const versions = await db.prisma.storyVersion.count();

    const storyIds = (await db.prisma.story.findMany({ select: { id: true } })).map((s) => s.id);

    // plain reads of the read tables, first alone, then during a rebuild
    const tables: Clients = { kind: "tables", databaseUrl: database.url, storyIds };
    const idleTableReads = await inWorker<Traffic>(tables, seconds(5));
    const readStarted = performance.now();
    const duringTableReads = await inWorker<Traffic>(tables, rebuildReadTables(db));
    const whileReadSeconds = (performance.now() - readStarted) / 1000;

    // the same readers and writers through the server, first alone, then during a rebuild
    const users: Clients = { kind: "server", url: server.url, token, storyIds };
    const idle = await inWorker<ServerTraffic>(users, seconds(10));
    let underLoad!: RebuildResult;
    const loadStarted = performance.now();
    const during = await inWorker<ServerTraffic>(users, rebuildReadTables(db).then((result) => (underLoad = result)));
    const underLoadSeconds = (performance.now() - loadStarted) / 1000;
    const differences = await verifyReadTables(db);
    const slowest = (t: Traffic) => Math.max(...t.latencies);
    const p50 = (t: Traffic) => percentile(t.latencies, 50);
    const p99 = (t: Traffic) => percentile(t.latencies, 99);
    const errors = during.reads.errors.length + during.writes.errors.length + duringTableReads.errors.length;
    for (const error of [...duringTableReads.errors, ...during.reads.errors, ...during.writes.errors].slice(0, 5)) console.error(error);

    await report(
      "rebuild",
      `\`rebuild\` (fold and project every story into new tables beside the live ones, catch up, swap them in under a short lock) from ${fmt.n(events.length)} events of ${fmt.n(STORIES)} stories stored in PostgreSQL; baseline: a plain \`SELECT * FROM story_events ORDER BY story_id, seq\` of the same event rows through \`pg\`. Then the same rebuild while ${TABLE_READERS} \`pg\` clients in a worker thread read a random story's page rows from the read tables (its row, its modules, its last 10 versions' number and date: ${TABLE_READS.length} statements), against 5 s of the same reads without a rebuild. Then the same rebuild while ${READERS} readers and ${WRITERS} writers in a worker thread use the server (a story's modules, a module write, on random stories), against 10 s of the same load without a rebuild.`,
      [
        { metric: "rows/s", value: fmt.n(perSecond), baseline: `${fmt.n(baseline)} rows/s`, ratio: fmt.pct(ratio), target: "≥ 50 %", met: ratio >= 0.5 },
        { metric: "rebuild time", value: `${rebuildSeconds.toFixed(1)} s`, baseline: `${selectSeconds.toFixed(2)} s` },
        { metric: "rows written", value: `${fmt.n(rebuilt.streams)} stories, ${fmt.n(rebuilt.streams * 5)} modules, ${fmt.n(versions)} versions` },
        {
          metric: "table reads during the rebuild: count, p50, p99, slowest",
          value: `${fmt.n(duringTableReads.latencies.length)}, ${fmt.ms(p50(duringTableReads))}, ${fmt.ms(p99(duringTableReads))}, ${fmt.ms(slowest(duringTableReads))}`,
          baseline: `p50 ${fmt.ms(p50(idleTableReads))}, p99 ${fmt.ms(p99(idleTableReads))}, slowest ${fmt.ms(slowest(idleTableReads))}`,
          target: "p99 ≤ 50 ms",
          met: p99(duringTableReads) <= 50,
        },
        { metric: "rebuild time with the table readers", value: `${whileReadSeconds.toFixed(1)} s`, baseline: `${rebuildSeconds.toFixed(1)} s alone` },
        { metric: "rebuild time under load", value: `${underLoadSeconds.toFixed(1)} s`, baseline: `${rebuildSeconds.toFixed(1)} s alone` },
        { metric: "catch-ups after the build (of whole logs); swap retries", value: `${fmt.n(underLoad.caughtUp)} (${fmt.n(underLoad.refolded)}); ${underLoad.swapRetries}` },
        {
          metric: "errors during the rebuilds (table reads, server reads, server writes)",
          value: `${duringTableReads.errors.length}, ${during.reads.errors.length}, ${during.writes.errors.length}`,
          target: "0",
          met: errors === 0,
        },
        { metric: "server reads during the rebuild: count, p50, p99, slowest", value: `${fmt.n(during.reads.latencies.length)}, ${fmt.ms(p50(during.reads))}, ${fmt.ms(p99(during.reads))}, ${fmt.ms(slowest(during.reads))}`, baseline: `p50 ${fmt.ms(p50(idle.reads))}, p99 ${fmt.ms(p99(idle.reads))}, slowest ${fmt.ms(slowest(idle.reads))}` },
        { metric: "server writes during the rebuild: count, p50, p99, slowest", value: `${fmt.n(during.writes.latencies.length)}, ${fmt.ms(p50(during.writes))}, ${fmt.ms(p99(during.writes))}, ${fmt.ms(slowest(during.writes))}`, baseline: `p50 ${fmt.ms(p50(idle.writes))}, p99 ${fmt.ms(p99(idle.writes))}, slowest ${fmt.ms(slowest(idle.writes))}` },
        { metric: "verify after the three rebuilds", value: differences.length === 0 ? "no differences" : `${differences.length} differences`, target: "none", met: differences.length === 0 },
        { metric: "seeding the events (not timed above)", value: `${seedSeconds.toFixed(1)} s` },
        { metric: "memory (bench process RSS)", value: fmt.mb(process.memoryUsage().rss / 2 ** 20) },
      ],
    );
  } finally {
    await client.end();
    await db.close();
    await server.stop();
    await database.drop();
  }
}

if (isMainThread) await main();
else await runClients(workerData as Clients);
