// Scenario "fan-out": 1,000 WebSocket subscribers on one story; after each write, how long
// until the last subscriber has the message, counted from the mutation's response.
import { createClient, type Client } from "graphql-ws";
import { createBenchDatabase, createStory, fmt, graphql, percentile, report, signUp, startServer } from "./lib.ts";

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1_000);
const WRITES = 20;
const WATCH = `subscription($id: ID!) { moduleUpdated(storyId: $id) { event { seq } module { name } } }`;
const WRITE = `mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } } }`;

async function main() {
  const database = await createBenchDatabase("fanout");
  // one reader holds every subscription here (a story has one reader until stories are shared),
  // so the per-user cap is lifted to the scenario's size
  const server = await startServer({ DATABASE_URL: database.url, MAX_SUBSCRIPTIONS_PER_USER: String(SUBSCRIBERS) });
  const clients: Client[] = [];
  try {
    const token = await signUp(server.url, "fan");
    const storyId = await createStory(server.url, token, "Watched by many");
    const arrivals = new Map<number, number[]>(); // seq → arrival times
    let subscribed = 0;
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const client = createClient({ url: server.url.replace(/^http/, "ws"), connectionParams: { authorization: `Bearer ${token}` }, lazy: false, retryAttempts: 0 });
      clients.push(client);
      client.subscribe<{ moduleUpdated: { event: { seq: number } } }>(
        { query: WATCH, variables: { id: storyId } },
        {
          next: (message) => {
            const seq = message.data?.moduleUpdated.event.seq;
            if (seq === undefined) return;
            const list = arrivals.get(seq) ?? [];
            list.push(performance.now());
            arrivals.set(seq, list);
          },
          error: (error) => console.error("subscriber error", error),
          complete: () => {},
        },
      );
      subscribed++;
    }
    // until every subscriber is live: write probes until one reaches them all
    for (let probe = 0; ; probe++) {
      const { writeModule } = await graphql<{ writeModule: { event: { seq: number } } }>(server.url, WRITE, { i: { storyId, module: "WORLD_SEED", output: { setting: `probe ${probe}` } } }, token);
      // a slow delivery is measured below, not taken for a subscriber that is not live yet
      const deadline = performance.now() + 3_000;
      while ((arrivals.get(writeModule.event.seq)?.length ?? 0) < subscribed && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if ((arrivals.get(writeModule.event.seq)?.length ?? 0) === subscribed) break;
      if (probe > 60) throw new Error(`only ${arrivals.get(writeModule.event.seq)?.length ?? 0} of ${subscribed} subscribers are live`);
    }

    const lastDelays: number[] = [];
    const lastFromRequest: number[] = [];
    const responseTimes: number[] = [];
    const allDelays: number[] = [];
    let missing = 0;
    for (let i = 0; i < WRITES; i++) {
      const sent = performance.now();
      const { writeModule } = await graphql<{ writeModule: { event: { seq: number } } }>(server.url, WRITE, { i: { storyId, module: "IDEA_SPARK", output: { logline: `write ${i}` } } }, token);
      const responded = performance.now();
      responseTimes.push(responded - sent);
      const deadline = responded + 5_000;
      while ((arrivals.get(writeModule.event.seq)?.length ?? 0) < subscribed && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const times = arrivals.get(writeModule.event.seq) ?? [];
      missing += subscribed - times.length;
      const delays = times.map((t) => Math.max(0, t - responded));
      allDelays.push(...delays);
      lastDelays.push(Math.max(...delays));
      lastFromRequest.push(Math.max(...times) - sent);
    }
    const p99Last = percentile(lastDelays, 99);
    const rss = await server.rssMb();
    await report(
      "fan-out",
      `${subscribed} graphql-ws subscribers (one WebSocket each, in the benchmark process) on one story; ${WRITES} writes one after another; the time from each mutation's response until the last subscriber has its message.`,
      [
        { metric: "last subscriber, p99 over writes", value: fmt.ms(p99Last), target: "≤ 100 ms", met: p99Last <= 100 },
        { metric: "last subscriber, median over writes", value: fmt.ms(percentile(lastDelays, 50)) },
        { metric: "any subscriber, p50 / p99", value: `${fmt.ms(percentile(allDelays, 50))} / ${fmt.ms(percentile(allDelays, 99))}` },
        { metric: "mutation response time, p50 / p99", value: `${fmt.ms(percentile(responseTimes, 50))} / ${fmt.ms(percentile(responseTimes, 99))}` },
        { metric: "last subscriber from the request, p50 / p99", value: `${fmt.ms(percentile(lastFromRequest, 50))} / ${fmt.ms(percentile(lastFromRequest, 99))}` },
        { metric: "messages missing", value: String(missing), target: "0", met: missing === 0 },
        { metric: "memory (server RSS at the end)", value: fmt.mb(rss), target: "≤ 300 MB", met: rss <= 300 },
      ],
      [
        "The subscribers' own event loop is the benchmark process's, so the delays include its time to take 1,000 messages off the sockets.",
        "A message that arrives before the mutation's response counts 0 ms after it; the delay from the request shows the whole cost.",
      ],
    );
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await server.stop();
    await database.drop();
  }
}

await main();
