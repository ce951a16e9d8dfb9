// Scenario "story page": a story with its 5 modules, last 20 versions and owner, 32
// concurrent clients, against `{ __typename }` on the same server.
import { createBenchDatabase, createStory, fmt, graphql, load, report, signUp, startServer } from "./lib.ts";

const CLIENTS = 32;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const MODULES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;
export const PAGE = `query($id: ID!) {
  story(id: $id) {
    id title logline genre isComplete revision canUndo canRedo updatedAt
    owner { id username }
    modules { id name order inputText output updatedAt }
    versions(first: 20) { edges { node { id number label createdAt isActive } } }
  }
}`;

export type PageFigures = { page: { perSecond: number; p50: number; p99: number }; typename: { perSecond: number; p50: number; p99: number }; rssMb: number };

export async function measureStoryPage(env: NodeJS.ProcessEnv): Promise<PageFigures> {
  const server = await startServer(env);
  try {
    const token = await signUp(server.url, "reader");
    const storyId = await createStory(server.url, token, "A page worth reading");
    for (let i = 0; i < 30; i++) {
      const module = MODULES[i % MODULES.length]!;
      await graphql(
        server.url,
        `mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } } }`,
        { i: { storyId, module, inputText: `notes ${i}`, output: { draft: `draft ${i} `.repeat(40), n: i } } },
        token,
      );
    }
    const page = await load(CLIENTS, SECONDS, () => graphql(server.url, PAGE, { id: storyId }, token));
    const typename = await load(CLIENTS, SECONDS, () => graphql(server.url, "{ __typename }", {}, token));
    if (page.errors + typename.errors > 0) throw new Error("requests failed");
    return { page, typename, rssMb: await server.rssMb() };
  } finally {
    await server.stop();
  }
}

/** V8 flags that keep the heap small, for operators who must (README, Performance). */
export const SMALL_HEAP = "--max-old-space-size=256 --max-semi-space-size=16";

async function main() {
  const database = await createBenchDatabase("page");
  try {
    const f = await measureStoryPage({ DATABASE_URL: database.url });
    const capped = await measureStoryPage({ DATABASE_URL: database.url, NODE_OPTIONS: SMALL_HEAP });
    const ratio = f.page.perSecond / f.typename.perSecond;
    await report(
      "story page",
      `story + 5 modules + last 20 versions + owner, ${CLIENTS} concurrent clients over HTTP, PostgreSQL, ${SECONDS} s after a 1 s warm-up; baseline: \`{ __typename }\` on the same server.`,
      [
        { metric: "requests/s", value: fmt.n(f.page.perSecond), baseline: `${fmt.n(f.typename.perSecond)} req/s`, ratio: fmt.pct(ratio), target: "≥ 50 %", met: ratio >= 0.5 },
        { metric: "p50 latency", value: fmt.ms(f.page.p50), baseline: fmt.ms(f.typename.p50) },
        { metric: "p99 latency", value: fmt.ms(f.page.p99), baseline: fmt.ms(f.typename.p99) },
        { metric: "memory (server RSS at the end)", value: fmt.mb(f.rssMb), target: "≤ 300 MB", met: f.rssMb <= 300 },
        {
          metric: `with NODE_OPTIONS="${SMALL_HEAP}": requests/s, RSS`,
          value: `${fmt.n(capped.page.perSecond)}, ${fmt.mb(capped.rssMb)}`,
          baseline: `${fmt.n(capped.typename.perSecond)} req/s`,
          ratio: fmt.pct(capped.page.perSecond / capped.typename.perSecond),
          target: "≤ 300 MB",
          met: capped.rssMb <= 300,
        },
      ],
    );
  } finally {
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
