// Scenario "peer": Story Spark against PostGraphile 5, which a user wanting a GraphQL API over
// PostgreSQL would pick instead. Both serve the same database and rows (written through our
// API), measured in one run with one load generator (autocannon, keep-alive) at 8 and 32
// connections: the floor, the story page (at 20 versions per story and at ~2,000), and the module
// write — theirs a PL/pgSQL function doing the same database work (./peer/writeModule.sql),
// through PostGraphile's mutation and through raw `pg`. Ratios are ours ÷ theirs.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { MODULES, type ModuleName } from "../src/domain/catalogue.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import {
  ROOT,
  backendsCpuSpent,
  createBenchDatabase,
  createStory,
  databaseBackendsCpuSeconds,
  fmt,
  graphql,
  httpLoad,
  load,
  processCpuSeconds,
  report,
  signUp,
  serverProcess,
  startServer,
  type LoadResult,
  type Row,
  type ServerProcess,
} from "./lib.ts";
import { moduleNotes, moduleOutput } from "./peer/storyContent.ts";

const CONNECTIONS = [8, 32] as const;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = 1;
const STORIES = 50;
const VERSIONS = 20;
/** The stories imported with a long history (fewer for a quicker trial run). */
const HISTORY_STORIES = Number(process.env.BENCH_PEER_HISTORY_STORIES ?? STORIES);
const HISTORY_VERSIONS = 2_000;
const PAGE_VERSIONS = 10;
/** How many different outputs a writer cycles through. */
const WRITE_DRAFTS = 4;
/** An imported log of 2,000 realistic events is ~10 MB of JSON. */
const OURS_MAX_BODY_BYTES = 64 * 1024 * 1024;

const ourPage = (owner: string) => `query Page($id: ID!) {
  story(id: $id) {
    id title logline genre isComplete revision updatedAt${owner}
    modules { id name order inputText output updatedAt }
    versions(first: ${PAGE_VERSIONS}) { edges { node { number createdAt } } }
  }
}`;
const OUR_PAGE = ourPage("");
/**
 * The page with its owner, a field outside the story's revision: never answered from our response
 * cache, each answer is read afresh by the page's one statement (theirs stays without the owner).
 */
const OUR_PAGE_AFRESH = ourPage(" owner { id }");
/** PostGraphile orders by indexed columns only: its client puts the five modules in order by `moduleOrder`. */
const THEIR_PAGE = `query Page($id: UUID!) {
  storyByRowId(rowId: $id) {
    rowId title logline genre isComplete revision updatedAt
    storyModulesByStoryId { nodes { rowId moduleName moduleOrder inputText outputText updatedAt } }
    storyVersionsByStoryId(first: ${PAGE_VERSIONS}, orderBy: VERSION_NUMBER_DESC) { nodes { versionNumber createdAt } }
  }
}`;
const OUR_WRITE = `mutation Write($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } version { number } } }`;
const THEIR_WRITE = `mutation Write($i: PeerWriteModuleInput!) { peerWriteModule(input: $i) { result { eventSeq versionNumber } } }`;
const FLOOR = JSON.stringify({ query: "{ __typename }" });
/** The module the write benchmark writes (about 1 KB of JSON) into a story of about 25 KB. */
const WRITTEN: ModuleName = "IDEA_SPARK";

type Story = { globalId: string; uuid: string; index: number };
type Measured = LoadResult & { nodeCpuMs: number | null; postgresCpuMs: number };

async function main() {
  const database = await createBenchDatabase("peer");
  let ours: ServerProcess | null = null;
  let theirs: ServerProcess | null = null;
  const sampler = new pg.Client({ connectionString: database.url });
  try {
    const started = performance.now();
    ours = await startServer({ DATABASE_URL: database.url, MAX_BODY_BYTES: String(OURS_MAX_BODY_BYTES) });
    const token = await signUp(ours.url, "peer");
    const stories = await seedStories(ours.url, token);
    const seeded = performance.now();

    await sampler.connect();
    await sampler.query(await fs.readFile(path.join(ROOT, "bench", "peer", "writeModule.sql"), "utf8"));
    theirs = await startPostGraphile(database.url);
    await checkSamePages(ours.url, theirs.url, token, stories[0]!);
    await checkSameWrites(ours.url, theirs.url, token, database.url, stories[0]!);
    const bearer = { authorization: `Bearer ${token}` };
    const measure = (server: ServerProcess | null, run: (seconds: number) => Promise<LoadResult>) => measured(sampler, server, run);

    const floor = new Map<number, [Measured, Measured]>();
    const page = new Map<number, [Measured, Measured]>();
    const afresh = new Map<number, Measured>();
    for (const connections of CONNECTIONS) {
      const floorOn = (url: string, headers: Record<string, string>) => (seconds: number) => httpLoad({ url, connections, seconds, headers, body: () => FLOOR });
      floor.set(connections, [await measure(ours, floorOn(ours.url, {})), await measure(theirs, floorOn(theirs.url, {}))]);
      page.set(connections, [
        await measure(ours, pageLoad(ours.url, OUR_PAGE, stories.map((s) => s.globalId), connections, bearer)),
        await measure(theirs, pageLoad(theirs.url, THEIR_PAGE, stories.map((s) => s.uuid), connections, {})),
      ]);
      afresh.set(connections, await measure(ours, pageLoad(ours.url, OUR_PAGE_AFRESH, stories.map((s) => s.globalId), connections, bearer)));
    }

    const write = new Map<number, [Measured, Measured, Measured]>();
    for (const connections of CONNECTIONS) {
      const writers = stories.slice(0, connections);
      const raw = await rawWriters(database.url, writers);
      try {
        write.set(connections, [
          await measure(ours, writeLoad(ours.url, OUR_WRITE, writers, (s) => s.globalId, connections, bearer)),
          await measure(theirs, writeLoad(theirs.url, THEIR_WRITE, writers, (s) => s.uuid, connections, {})),
          await measure(null, raw.run),
        ]);
      } finally {
        await raw.close();
      }
    }

    const rssBeforeImport = { ours: await ours.rssMb(), theirs: await theirs.rssMb() };
    const historyStarted = performance.now();
    const longStories = await importLongStories(ours.url, token);
    const historySeconds = (performance.now() - historyStarted) / 1000;
    await checkSamePages(ours.url, theirs.url, token, longStories[0]!);
    const history = new Map<number, [Measured, Measured]>();
    for (const connections of CONNECTIONS) {
      history.set(connections, [
        await measure(ours, pageLoad(ours.url, OUR_PAGE, longStories.map((s) => s.globalId), connections, bearer)),
        await measure(theirs, pageLoad(theirs.url, THEIR_PAGE, longStories.map((s) => s.uuid), connections, {})),
      ]);
    }
    const rss = { ours: await ours.rssMb(), theirs: await theirs.rssMb() };
    const facts = await dataFacts(sampler, stories, longStories);

    const rows: Row[] = [];
    for (const connections of CONNECTIONS) {
      rows.push(...compared(`\`{ __typename }\`, ${connections} connections`, floor.get(connections)!, "≥ 80 %", 0.8));
      rows.push(...compared(`story page (${VERSIONS} versions), ${connections} connections`, page.get(connections)!, "≥ 100 %", 1));
      rows.push(
        ...compared(`story page read afresh, not from the response cache (${VERSIONS} versions), ${connections} connections`, [afresh.get(connections)!, page.get(connections)![1]], "≥ 100 %", 1),
      );
      rows.push(...compared(`story page (~${fmt.n(HISTORY_VERSIONS)} versions), ${connections} connections`, history.get(connections)!, "≥ 100 %", 1));
      const long = history.get(connections)![0].perSecond / page.get(connections)![0].perSecond;
      rows.push({
        metric: `ours: page at ~${fmt.n(HISTORY_VERSIONS)} versions ÷ at ${VERSIONS}, ${connections} connections`,
        value: `${fmt.n(history.get(connections)![0].perSecond)} req/s`,
        baseline: `${fmt.n(page.get(connections)![0].perSecond)} req/s`,
        ratio: fmt.pct(long),
        target: "≥ 90 %",
        met: long >= 0.9,
      });
      const [ourWrite, theirWrite, rawWrite] = write.get(connections)!;
      rows.push(...compared(`module write, ${connections} connections`, [ourWrite, theirWrite], "≥ 100 %", 1));
      rows.push(...compared(`module write vs the function through raw \`pg\`, ${connections} connections`, [ourWrite, rawWrite], "≥ 60 %", 0.6));
    }
    rows.push({
      metric: "server RSS after the page and write loads",
      value: fmt.mb(rssBeforeImport.ours),
      baseline: fmt.mb(rssBeforeImport.theirs),
      target: "≤ 300 MB (ours)",
      met: rssBeforeImport.ours <= 300,
    });
    rows.push({ metric: "server RSS at the end (after the import and the long pages)", value: fmt.mb(rss.ours), baseline: fmt.mb(rss.theirs), target: "≤ 300 MB (ours)", met: rss.ours <= 300 });

    await report(
      "peer",
      `Story Spark (value) against PostGraphile ${await postGraphileVersion()} with its defaults and no auth (baseline), on one PostgreSQL database, in one run: autocannon with keep-alive connections, ${SECONDS} s after a ${WARMUP_SECONDS} s warm-up per figure. Ours reads and writes with a signed-in writer (auth and ownership); theirs reads the same rows with the equivalent PostGraphile query and writes through \`peer_write_module\` (bench/peer/writeModule.sql), a PL/pgSQL function doing writeModule's database work, exposed as PostGraphile's mutation and called through raw \`pg\` (${CONNECTIONS.join(" and ")} clients on their own connections, lib.ts \`load\`). Ratios are ours ÷ theirs.`,
      rows,
      [
        `Data: ${STORIES} stories written through our API (${VERSIONS} versions each, five modules, a snapshot of ${fmt.n(facts.snapshotKb, 1)} KB of JSON); the page reads a story, its 5 modules and its last ${PAGE_VERSIONS} versions' number and date, cycling over the stories (PostGraphile orders by indexed columns only, so its client puts the modules in order by \`moduleOrder\`). The long history: ${HISTORY_STORIES} more stories imported through our \`importStory\` (an import makes a new story; ${fmt.n(facts.longVersions)} versions each, the same kind of content), read by the same two queries. Seeding the ${STORIES} stories took ${((seeded - started) / 1000).toFixed(0)} s, the import ${historySeconds.toFixed(0)} s. The database held ${fmt.n(facts.databaseMb)} MB at the end.`,
        "Ours answers a repeated page from its response cache (src/graphql/responseCache.ts) once a one-statement check finds the story's revision unchanged; nothing writes during the page loads, so nearly every answer is kept. The rows \"read afresh\" ask for the story's owner too, a field outside the revision, so that every answer is read by the page's one statement (src/graphql/storyPage.ts); they are compared with the same PostGraphile page, without the owner.",
        `The write: each connection writes ${WRITTEN} (about ${fmt.n(facts.writtenKb, 1)} KB of JSON) into a story of its own, the first ${CONNECTIONS.join(" or ")} of the ${STORIES}, which keep the versions written. Ours also checks the output against the module's schema and logs the module's usage (off the request's path, in its PostgreSQL CPU); the function does neither. Before the load, one write through each path was checked by \`story-spark verify\` (the read tables equal the fold of the log).`,
        "CPU per request: the server process's user + system time (/proc/<pid>/stat) over the measured seconds ÷ requests answered; PostgreSQL: the same for the client backends of the bench database (pg_stat_activity, then /proc; pg_stat_statements is not loaded on this server). Background writers and autovacuum are not counted. `pg` has no server process of its own: its Node figure is —.",
        `Our server's pool holds up to 20 connections, PostGraphile's (pg's default) 10. Ours runs with MAX_BODY_BYTES=${OURS_MAX_BODY_BYTES} for the import; the floor is sent without a token to both. autocannon runs in the benchmark's process on the same cores as both servers and PostgreSQL.`,
      ],
    );
  } finally {
    await ours?.stop();
    await theirs?.stop();
    await sampler.end().catch(() => {});
    await database.drop();
  }
}

/** One figure: a warm-up, then the measured run with the CPU the server and the database's backends spent on it. */
async function measured(sampler: pg.Client, server: ServerProcess | null, run: (seconds: number) => Promise<LoadResult>): Promise<Measured> {
  await run(WARMUP_SECONDS);
  const nodeBefore = server ? await processCpuSeconds(server.pid) : 0;
  const postgresBefore = await databaseBackendsCpuSeconds(sampler);
  const result = await run(SECONDS);
  const nodeAfter = server ? await processCpuSeconds(server.pid) : 0;
  const postgresAfter = await databaseBackendsCpuSeconds(sampler);
  if (result.errors > 0) throw new Error(`${result.errors} requests failed`);
  const perRequestMs = (seconds: number) => (seconds * 1000) / result.operations;
  return { ...result, nodeCpuMs: server ? perRequestMs(nodeAfter - nodeBefore) : null, postgresCpuMs: perRequestMs(backendsCpuSpent(postgresBefore, postgresAfter)) };
}

function compared(what: string, [ours, theirs]: [Measured, Measured], target: string, goal: number): Row[] {
  const ratio = ours.perSecond / theirs.perSecond;
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  const cpu = (m: Measured) => `Node ${m.nodeCpuMs === null ? "—" : ms(m.nodeCpuMs)} + PostgreSQL ${ms(m.postgresCpuMs)}`;
  return [
    { metric: `${what}: requests/s`, value: fmt.n(ours.perSecond), baseline: fmt.n(theirs.perSecond), ratio: fmt.pct(ratio), target, met: ratio >= goal },
    { metric: `${what}: p50 / p99`, value: `${fmt.ms(ours.p50)} / ${fmt.ms(ours.p99)}`, baseline: `${fmt.ms(theirs.p50)} / ${fmt.ms(theirs.p99)}` },
    { metric: `${what}: CPU per request`, value: cpu(ours), baseline: cpu(theirs) },
  ];
}

/** Each connection reads the pages of the stories in turn, starting at its own. */
function pageLoad(url: string, query: string, ids: string[], connections: number, headers: Record<string, string>) {
  const bodies = ids.map((id) => JSON.stringify({ query, variables: { id } }));
  return (seconds: number) => httpLoad({ url, connections, seconds, headers, body: (connection, request) => bodies[(connection + request) % bodies.length]! });
}

/** Each connection writes into its own story, cycling through a few drafts. */
function writeLoad(url: string, query: string, writers: Story[], id: (story: Story) => string, connections: number, headers: Record<string, string>) {
  const bodies = writers.map((story) =>
    Array.from({ length: WRITE_DRAFTS }, (_, draft) =>
      JSON.stringify({ query, variables: { i: { storyId: id(story), module: WRITTEN, inputText: moduleNotes(WRITTEN, story.index, 100 + draft), output: moduleOutput(WRITTEN, story.index, 100 + draft) } } }),
    ),
  );
  return (seconds: number) => httpLoad({ url, connections, seconds, headers, body: (connection, request) => bodies[connection]![request % WRITE_DRAFTS]! });
}

/**
 * The same function called through `pg`, one client per story; the clients stay connected until
 * `close`, so that their backends' CPU is still there to be read after a run.
 */
async function rawWriters(databaseUrl: string, writers: Story[]) {
  const clients = await Promise.all(
    writers.map(async (story) => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      const drafts = Array.from({ length: WRITE_DRAFTS }, (_, draft) => [
        story.uuid,
        WRITTEN,
        moduleNotes(WRITTEN, story.index, 100 + draft),
        JSON.stringify(moduleOutput(WRITTEN, story.index, 100 + draft)),
      ]);
      let sent = 0;
      return { client, write: () => client.query("SELECT version_number, event_seq FROM peer_write_module($1, $2, $3, $4)", drafts[sent++ % WRITE_DRAFTS]) };
    }),
  );
  return {
    run: (seconds: number) => load(writers.length, seconds, (i) => clients[i]!.write(), 0),
    close: () => Promise.all(clients.map(({ client }) => client.end())),
  };
}

/** STORIES stories through our API, each with VERSIONS versions: every module written, then revised. */
async function seedStories(url: string, token: string): Promise<Story[]> {
  const WRITERS = 8;
  const stories: Story[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let index = next++; index < STORIES; index = next++) {
        const globalId = await createStory(url, token, `Peer story ${index}`);
        for (let draft = 1; draft < VERSIONS; draft++) {
          const module = MODULES[(draft - 1) % MODULES.length]!.name;
          await graphql(url, OUR_WRITE, { i: { storyId: globalId, module, inputText: moduleNotes(module, index, draft), output: moduleOutput(module, index, draft) } }, token);
        }
        stories[index] = { globalId, uuid: uuidOf(globalId), index };
      }
    }),
  );
  return stories;
}

/** HISTORY_STORIES stories of HISTORY_VERSIONS versions each, through our importStory. */
async function importLongStories(url: string, token: string): Promise<Story[]> {
  const IMPORTERS = 2;
  const stories: Story[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: IMPORTERS }, async () => {
      for (let n = next++; n < HISTORY_STORIES; n = next++) {
        const index = STORIES + n;
        const data = await graphql<{ importStory: { story: { id: string } } }>(
          url,
          "mutation Import($i: ImportStoryInput!) { importStory(input: $i) { story { id } } }",
          { i: { data: longLog(index) } },
          token,
        );
        stories[n] = { globalId: data.importStory.story.id, uuid: uuidOf(data.importStory.story.id), index };
      }
    }),
  );
  return stories;
}

/** An export's log: the story created, then HISTORY_VERSIONS − 1 drafts of its modules in turn, a minute apart. */
function longLog(index: number) {
  const start = Date.now() - HISTORY_VERSIONS * 60_000;
  const at = (seq: number) => new Date(start + seq * 60_000).toISOString();
  const events: { seq: number; type: string; schemaVersion: number; payload: unknown; createdAt: string }[] = [
    { seq: 1, type: "StoryCreated", schemaVersion: 1, payload: { title: `Long story ${index}`, logline: null, genre: null, version: { number: 1 } }, createdAt: at(1) },
  ];
  for (let seq = 2; seq <= HISTORY_VERSIONS; seq++) {
    const module = MODULES[(seq - 2) % MODULES.length]!.name;
    const draft = seq - 1;
    events.push({
      seq,
      type: "ModuleWritten",
      schemaVersion: 1,
      payload: { module, inputText: moduleNotes(module, index, draft), output: moduleOutput(module, index, draft), version: { number: seq } },
      createdAt: at(seq),
    });
  }
  return { format: "story-spark.story", formatVersion: 1, events };
}

type OurPage = {
  story: {
    title: string;
    revision: number;
    modules: { name: string; inputText: string | null; output: unknown }[];
    versions: { edges: { node: { number: number; createdAt: string } }[] };
  };
};
type TheirPage = {
  storyByRowId: {
    title: string;
    revision: number;
    storyModulesByStoryId: { nodes: { moduleOrder: number; inputText: string | null; outputText: unknown }[] };
    storyVersionsByStoryId: { nodes: { versionNumber: number; createdAt: string }[] };
  };
};

/** Both queries must answer the same page, or the comparison means nothing. */
async function checkSamePages(ourUrl: string, theirUrl: string, token: string, story: Story): Promise<void> {
  const mine = (await graphql<OurPage>(ourUrl, OUR_PAGE, { id: story.globalId }, token)).story;
  const peer = (await graphql<TheirPage>(theirUrl, THEIR_PAGE, { id: story.uuid })).storyByRowId;
  const ourView = {
    title: mine.title,
    revision: mine.revision,
    modules: mine.modules.map((m) => [m.inputText, m.output]),
    versions: mine.versions.edges.map(({ node }) => [node.number, new Date(node.createdAt).getTime()]),
  };
  const theirView = {
    title: peer.title,
    revision: peer.revision,
    modules: peer.storyModulesByStoryId.nodes.toSorted((a, b) => a.moduleOrder - b.moduleOrder).map((m) => [m.inputText, m.outputText]),
    versions: peer.storyVersionsByStoryId.nodes.map((v) => [v.versionNumber, new Date(v.createdAt).getTime()]),
  };
  if (JSON.stringify(ourView) !== JSON.stringify(theirView) || ourView.versions.length !== PAGE_VERSIONS) {
    throw new Error(`the two pages differ:\nours   ${JSON.stringify(ourView).slice(0, 400)}\ntheirs ${JSON.stringify(theirView).slice(0, 400)}`);
  }
}

/** One write through each path, then `story-spark verify`: the function's rows must be what our fold makes of its event. */
async function checkSameWrites(ourUrl: string, theirUrl: string, token: string, databaseUrl: string, story: Story): Promise<void> {
  const output = moduleOutput(WRITTEN, story.index, 99);
  await graphql(ourUrl, OUR_WRITE, { i: { storyId: story.globalId, module: WRITTEN, inputText: "ours", output } }, token);
  await graphql(theirUrl, THEIR_WRITE, { i: { storyId: story.uuid, module: WRITTEN, inputText: "theirs", output } });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("SELECT peer_write_module($1, $2, $3, $4)", [story.uuid, WRITTEN, "raw", JSON.stringify(output)]);
  } finally {
    await client.end();
  }
  await checkSamePages(ourUrl, theirUrl, token, story);
  const verify = spawn(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", "verify"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let said = "";
  verify.stdout.on("data", (chunk) => (said += chunk));
  verify.stderr.on("data", (chunk) => (said += chunk));
  const [code] = (await once(verify, "exit")) as [number | null];
  if (code !== 0) throw new Error(`verify found differences after the peer's writes:\n${said.slice(-3000)}`);
}

/** PostGraphile's own CLI with the recommended preset, in its own process so its CPU and memory are its own. */
async function startPostGraphile(databaseUrl: string): Promise<ServerProcess> {
  const cli = path.join(ROOT, "node_modules", "postgraphile", "dist", "cli-run.js");
  const child = spawn(process.execPath, [cli, "-P", "postgraphile/presets/amber", "-c", databaseUrl, "-s", "public", "-n", "127.0.0.1", "-p", "0"], {
    cwd: path.join(ROOT, "bench", "peer"),
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return serverProcess(child, "PostGraphile", /Server listening on port \d+ at (http:\/\/\S+)/);
}

async function postGraphileVersion(): Promise<string> {
  const manifest = JSON.parse(await fs.readFile(path.join(ROOT, "node_modules", "postgraphile", "package.json"), "utf8")) as { version: string };
  return manifest.version;
}

/** The sizes the notes give: a page story's snapshot, the written output, the long stories' versions, the database. */
async function dataFacts(sampler: pg.Client, stories: Story[], longStories: Story[]) {
  const { rows } = await sampler.query<{ kb: number }>(
    "SELECT avg(octet_length(v.full_snapshot::text)) / 1024 AS kb FROM stories s JOIN story_version_snapshots v ON v.story_id = s.id AND v.version_number = $2 WHERE s.id = ANY($1::uuid[])",
    [stories.map((s) => s.uuid), VERSIONS],
  );
  const versions = await sampler.query<{ n: number }>("SELECT max(latest_version_number) AS n FROM stories WHERE id = ANY($1::uuid[])", [longStories.map((s) => s.uuid)]);
  const size = await sampler.query<{ mb: number }>("SELECT pg_database_size(current_database()) / 1048576.0 AS mb");
  return {
    databaseMb: Number(size.rows[0]?.mb ?? 0),
    snapshotKb: Number(rows[0]?.kb ?? 0),
    writtenKb: JSON.stringify(moduleOutput(WRITTEN, 0, 100)).length / 1024,
    longVersions: Number(versions.rows[0]?.n ?? 0),
  };
}

function uuidOf(globalId: string): string {
  const decoded = decodeGlobalId(globalId);
  if (!decoded) throw new Error(`not a global id: ${globalId}`);
  return decoded.id;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
