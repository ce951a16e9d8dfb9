// Scenario "rebuild": rebuild the read tables from 200,000 events stored in PostgreSQL,
// against a plain SELECT of the same rows through `pg`; then again while readers and writers
// use the server, against the same load without a rebuild.
import pg from "pg";
import { openDatabase } from "../src/database/connect.ts";
import { encodeGlobalId } from "../src/graphql/globalIds.ts";
import { rebuildReadTables, type RebuildResult } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { createBenchDatabase, fmt, graphql, percentile, report, signUp, startServer } from "./lib.ts";
import { random, storyHistory } from "./synthetic.ts";

const READERS = 8;
const WRITERS = 4;
const MODULE_NAMES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"];
const READ = "query($id: ID!) { story(id: $id) { revision activeVersion { number } modules { name output } } }";
const WRITE = "mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } } }";

type Traffic = { latencies: number[]; errors: string[] };

/** Readers and writers on the seeded stories until `until` settles; their latencies and errors. */
async function traffic(url: string, token: string, storyIds: string[], until: Promise<unknown>): Promise<{ reads: Traffic; writes: Traffic }> {
  let running = true;
  void until.finally(() => (running = false));
  const reads: Traffic = { latencies: [], errors: [] };
  const writes: Traffic = { latencies: [], errors: [] };
  const next = random(7);
  const pick = () => storyIds[Math.floor(next() * storyIds.length)]!;
  const loop = async (into: Traffic, operation: () => Promise<unknown>) => {
    while (running) {
      const started = performance.now();
      try {
        await operation();
        into.latencies.push(performance.now() - started);
      } catch (error) {
        into.errors.push(String(error).slice(0, 300));
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: READERS }, () => loop(reads, () => graphql(url, READ, { id: pick() }, token))),
    ...Array.from({ length: WRITERS }, (_, w) =>
      loop(writes, () => graphql(url, WRITE, { i: { storyId: pick(), module: MODULE_NAMES[w % 5], output: { note: `w${w}` } } }, token)),
    ),
  ]);
  return { reads, writes };
}

const STORIES = 2_000;
const EVENTS_PER_STORY = 100;
const INSERT_BATCH = 2_000;

async function main() {
  const database = await createBenchDatabase("rebuild");
  const server = await startServer({ DATABASE_URL: database.url });
  const db = await openDatabase({ databaseUrl: database.url, dataDir: "/tmp", poolSize: 4, migrate: false });
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
      const rows = events.slice(i, i + INSERT_BATCH);
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

    // the same readers and writers, first alone, then during a rebuild
    const storyIds = (await db.prisma.story.findMany({ select: { id: true } })).map((s) => encodeGlobalId("Story", s.id));
    const idle = await traffic(server.url, token, storyIds, new Promise((resolve) => setTimeout(resolve, 10_000)));
    let underLoad!: RebuildResult;
    const loadStarted = performance.now();
    const during = await traffic(server.url, token, storyIds, rebuildReadTables(db).then((result) => (underLoad = result)));
    const underLoadSeconds = (performance.now() - loadStarted) / 1000;
    const differences = await verifyReadTables(db);
    const slowest = (t: Traffic) => Math.max(...t.latencies);
    const p99 = (t: Traffic) => percentile(t.latencies, 99);
    const errors = during.reads.errors.length + during.writes.errors.length;
    for (const error of [...during.reads.errors, ...during.writes.errors].slice(0, 5)) console.error(error);

    await report(
      "rebuild",
      `\`rebuild\` (fold and project every story into new tables beside the live ones, catch up, swap them in under a short lock) from ${fmt.n(events.length)} events of ${fmt.n(STORIES)} stories stored in PostgreSQL; baseline: a plain \`SELECT * FROM story_events ORDER BY story_id, seq\` of the same rows through \`pg\`. Then the same rebuild while ${READERS} readers and ${WRITERS} writers use the server (a story's modules, a module write, on random stories), against 10 s of the same load without a rebuild.`,
      [
        { metric: "rows/s", value: fmt.n(perSecond), baseline: `${fmt.n(baseline)} rows/s`, ratio: fmt.pct(ratio), target: "≥ 25 %", met: ratio >= 0.25 },
        { metric: "rebuild time", value: `${rebuildSeconds.toFixed(1)} s`, baseline: `${selectSeconds.toFixed(2)} s` },
        { metric: "rows written", value: `${fmt.n(rebuilt.streams)} stories, ${fmt.n(rebuilt.streams * 5)} modules, ${fmt.n(versions)} versions` },
        { metric: "rebuild time under load", value: `${underLoadSeconds.toFixed(1)} s`, baseline: `${rebuildSeconds.toFixed(1)} s alone` },
        { metric: "stories caught up after the build; swap retries", value: `${fmt.n(underLoad.caughtUp)}; ${underLoad.swapRetries}` },
        { metric: "errors during the rebuild (reads, writes)", value: `${during.reads.errors.length}, ${during.writes.errors.length}`, target: "0", met: errors === 0 },
        { metric: "reads during the rebuild: count, p99, slowest", value: `${fmt.n(during.reads.latencies.length)}, ${fmt.ms(p99(during.reads))}, ${fmt.ms(slowest(during.reads))}`, baseline: `p99 ${fmt.ms(p99(idle.reads))}, slowest ${fmt.ms(slowest(idle.reads))}` },
        { metric: "writes during the rebuild: count, p99, slowest", value: `${fmt.n(during.writes.latencies.length)}, ${fmt.ms(p99(during.writes))}, ${fmt.ms(slowest(during.writes))}`, baseline: `p99 ${fmt.ms(p99(idle.writes))}, slowest ${fmt.ms(slowest(idle.writes))}` },
        { metric: "verify after both rebuilds", value: differences.length === 0 ? "no differences" : `${differences.length} differences`, target: "none", met: differences.length === 0 },
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

await main();
