// Scenario "append": writeModule through GraphQL over HTTP, 8 concurrent clients, against
// single-row INSERT commits of the same event payload through `pg` with 8 clients.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createBenchDatabase, createStory, fmt, graphql, load, report, signUp, startServer } from "./lib.ts";

const CLIENTS = 8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
export const OUTPUT = {
  logline: "A grieving lighthouse keeper bargains with the sea for her drowned brother.",
  one_liner: "Grief, tides and a bargain.",
  premise: "Mara keeps the Skerry light alone since Ewan drowned; the sea offers him back, for a price.",
  themes: ["Can grief be bargained with?", "What do we owe the dead?"],
};
export const WRITE = `mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } version { number } } }`;

export type AppendFigures = { perSecond: number; p50: number; p99: number; rssMb: number };

/** writeModule on a running server: events/s and latencies. */
export async function measureAppend(env: NodeJS.ProcessEnv): Promise<AppendFigures> {
  const server = await startServer(env);
  try {
    const token = await signUp(server.url, "appender");
    const stories = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => createStory(server.url, token, `Append ${i}`)));
    let n = 0;
    const result = await load(CLIENTS, SECONDS, (client) =>
      graphql(server.url, WRITE, { i: { storyId: stories[client], module: "IDEA_SPARK", output: { ...OUTPUT, n: n++ } } }, token),
    );
    if (result.errors > 0) throw new Error(`${result.errors} writes failed`);
    return { perSecond: result.perSecond, p50: result.p50, p99: result.p99, rssMb: await server.rssMb() };
  } finally {
    await server.stop();
  }
}

/** The physical baseline: one autocommitted INSERT of the same event row per call. */
async function measureInsertBaseline(url: string) {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return { client, storyId: randomUUID(), seq: 0 };
    }),
  );
  const payload = JSON.stringify({ module: "IDEA_SPARK", inputText: null, output: OUTPUT, version: { id: randomUUID(), number: 2 } });
  try {
    return await load(CLIENTS, SECONDS, async (i) => {
      const c = clients[i]!;
      c.seq++;
      await c.client.query(
        `INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number)
         VALUES ($1, $2, $3, 'ModuleWritten', 1, $4, NULL, now(), $3)`,
        [randomUUID(), c.storyId, c.seq, payload],
      );
    });
  } finally {
    await Promise.all(clients.map((c) => c.client.end()));
  }
}

async function main() {
  const database = await createBenchDatabase("append");
  try {
    const append = await measureAppend({ DATABASE_URL: database.url });
    const baseline = await measureInsertBaseline(database.url);
    const ratio = append.perSecond / baseline.perSecond;
    await report(
      "append",
      `writeModule through GraphQL over HTTP, ${CLIENTS} concurrent clients (one story each), PostgreSQL, ${SECONDS} s after a 1 s warm-up; baseline: single-row INSERT commits of the same event payload through \`pg\`, ${CLIENTS} clients.`,
      [
        { metric: "events/s", value: fmt.n(append.perSecond), baseline: `${fmt.n(baseline.perSecond)} INSERT/s`, ratio: fmt.pct(ratio), target: "≥ 40 %", met: ratio >= 0.4 },
        { metric: "p50 latency", value: fmt.ms(append.p50), baseline: fmt.ms(baseline.p50) },
        { metric: "p99 latency", value: fmt.ms(append.p99), baseline: fmt.ms(baseline.p99) },
        { metric: "memory (server RSS at the end)", value: fmt.mb(append.rssMb), target: "≤ 300 MB", met: append.rssMb <= 300 },
      ],
    );
  } finally {
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
