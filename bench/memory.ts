// Scenario "memory": the server's RSS through a day's mix on one process — writes, story pages,
// then the streamed export of a story of 5,000 versions over a 50 KB module — with `npm start`'s
// heap flags and, back to back on a fresh server, with V8's default heap sizing: RSS at the end
// of each load, the peak, and the server's CPU per request (the price of a smaller young generation).
import { importStory } from "../src/commands/importStory.ts";
import { openDatabase } from "../src/database/connect.ts";
import { encodeGlobalId } from "../src/domain/globalIds.ts";
import { createLiveMessaging } from "../src/live/pubsub.ts";
import { largeStoryExport } from "../test/support/largeStory.ts";
import { OUTPUT, WRITE } from "./append.ts";
import { PAGE } from "./storyPage.ts";
import { createBenchDatabase, createStory, fmt, graphql, load, processCpuSeconds, report, signUp, startServer, type Row, type ServerProcess } from "./lib.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WRITERS = 8;
const READERS = 32;
const EXPORT_VERSIONS = Number(process.env.BENCH_EXPORT_VERSIONS ?? 5_000);
const PROSE_BYTES = 50 * 1024;
const RSS_SAMPLE_MS = 100;

type Phase = { name: string; requests: number; seconds: number; cpuMsPerRequest: number; endRssMb: number; peakRssMb: number };

/** Runs `work` on the server, sampling its RSS meanwhile; `work` gives the requests it made. */
async function phase(server: ServerProcess, name: string, work: () => Promise<number>): Promise<Phase> {
  let peakRssMb = await server.rssMb();
  const sampler = setInterval(() => void server.rssMb().then((mb) => (peakRssMb = Math.max(peakRssMb, mb))), RSS_SAMPLE_MS);
  const cpuBefore = await processCpuSeconds(server.pid);
  const started = performance.now();
  try {
    const requests = await work();
    const seconds = (performance.now() - started) / 1000;
    const cpu = (await processCpuSeconds(server.pid)) - cpuBefore;
    const endRssMb = await server.rssMb();
    return { name, requests, seconds, cpuMsPerRequest: (cpu * 1000) / requests, endRssMb, peakRssMb: Math.max(peakRssMb, endRssMb) };
  } finally {
    clearInterval(sampler);
  }
}

/** Requests per second of a load; the time taken by a single request (the export). */
function pace(p: Phase): string {
  return p.requests > 1 ? fmt.n(p.requests / p.seconds) : `${p.seconds.toFixed(1)} s`;
}

/** One fresh server through writes, pages and the large export. */
async function dayOnServer(databaseUrl: string, largeStoryId: string, v8HeapDefaults: boolean): Promise<{ idleRssMb: number; phases: Phase[]; exportBytes: number }> {
  const server = await startServer({ DATABASE_URL: databaseUrl }, { v8HeapDefaults });
  try {
    const idleRssMb = await server.rssMb();
    const token = await signUp(server.url, `day${v8HeapDefaults ? "defaults" : "flags"}`);
    const stories = await Promise.all(Array.from({ length: WRITERS }, (_, i) => createStory(server.url, token, `Memory ${i}`)));
    let n = 0;
    const writes = await phase(server, "writes", async () => {
      const result = await load(WRITERS, SECONDS, (client) => graphql(server.url, WRITE, { i: { storyId: stories[client], module: "IDEA_SPARK", output: { ...OUTPUT, n: n++ } } }, token));
      if (result.errors > 0) throw new Error(`${result.errors} writes failed`);
      return result.operations;
    });
    const pages = await phase(server, "story pages", async () => {
      const result = await load(READERS, SECONDS, (client) => graphql(server.url, PAGE, { id: stories[client % WRITERS] }, token));
      if (result.errors > 0) throw new Error(`${result.errors} pages failed`);
      return result.operations;
    });
    const owner = await exportOwnerToken(server.url);
    let exportBytes = 0;
    const download = await phase(server, `export of ${fmt.n(EXPORT_VERSIONS)} versions`, async () => {
      const response = await fetch(`${server.url.replace(/\/graphql$/, "")}/stories/${encodeURIComponent(largeStoryId)}/export.json`, { headers: { authorization: `Bearer ${owner}` } });
      if (response.status !== 200) throw new Error(`export answered ${response.status}: ${await response.text()}`);
      for await (const chunk of response.body!) exportBytes += (chunk as Uint8Array).byteLength;
      return 1;
    });
    return { idleRssMb, phases: [writes, pages, download], exportBytes };
  } finally {
    await server.stop();
  }
}

const EXPORT_OWNER = { email: "exporter@bench.example", password: "bench password" };

async function exportOwnerToken(url: string): Promise<string> {
  const data = await graphql<{ signIn: { token: string } }>(url, "mutation($i: SignInInput!) { signIn(input: $i) { token } }", { i: EXPORT_OWNER });
  return data.signIn.token;
}

/** The large story, imported straight into the database (outside the measured server). */
async function seedLargeStory(databaseUrl: string): Promise<string> {
  const server = await startServer({ DATABASE_URL: databaseUrl });
  try {
    await graphql(server.url, "mutation($i: SignUpInput!) { signUp(input: $i) { token } }", { i: { ...EXPORT_OWNER, username: "exporter" } });
  } finally {
    await server.stop();
  }
  const db = await openDatabase({ databaseUrl, dataDir: "/tmp", poolSize: 2 });
  try {
    const owner = await db.prisma.user.findFirstOrThrow({ where: { username: "exporter" } });
    const { storyId } = await importStory({ db, pubsub: createLiveMessaging(undefined).pubsub }, owner.id, largeStoryExport(EXPORT_VERSIONS, PROSE_BYTES));
    return encodeGlobalId("Story", storyId);
  } finally {
    await db.close();
  }
}

async function main() {
  const database = await createBenchDatabase("memory");
  try {
    const seedStarted = performance.now();
    const largeStoryId = await seedLargeStory(database.url);
    console.error(`(imported a story of ${EXPORT_VERSIONS} versions in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s)`);
    const flags = await dayOnServer(database.url, largeStoryId, false);
    const defaults = await dayOnServer(database.url, largeStoryId, true);
    const rows: Row[] = [{ metric: "idle RSS", value: fmt.mb(flags.idleRssMb), baseline: fmt.mb(defaults.idleRssMb) }];
    flags.phases.forEach((p, i) => {
      const d = defaults.phases[i]!;
      rows.push(
        { metric: `${p.name}: RSS at the end`, value: fmt.mb(p.endRssMb), baseline: fmt.mb(d.endRssMb), target: "≤ 300 MB", met: p.endRssMb <= 300 },
        { metric: `${p.name}: peak RSS`, value: fmt.mb(p.peakRssMb), baseline: fmt.mb(d.peakRssMb) },
        { metric: `${p.name}: ${p.requests > 1 ? "requests/s" : "seconds"}, server CPU per request`, value: `${pace(p)}, ${fmt.ms(p.cpuMsPerRequest)}`, baseline: `${pace(d)}, ${fmt.ms(d.cpuMsPerRequest)}`, ratio: `CPU ${fmt.pct(p.cpuMsPerRequest / d.cpuMsPerRequest)}` },
      );
    });
    await report(
      "memory",
      `One server through ${WRITERS} writers (writeModule) for ${SECONDS} s, ${READERS} readers of story pages for ${SECONDS} s, then one streamed JSON export (GET /stories/<id>/export.json) of a story of ${fmt.n(EXPORT_VERSIONS)} versions over a 50 KB module (${fmt.mb(flags.exportBytes / 1048576)} of JSON); value: \`npm start\` as it is; baseline: the same on a fresh server without its V8 heap flags, right after.`,
      rows,
      ["RSS from /proc/<pid>/status (VmRSS), sampled every 100 ms for the peak; CPU per request from /proc/<pid>/stat (user + system)."],
    );
  } finally {
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
