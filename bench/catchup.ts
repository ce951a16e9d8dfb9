// Scenario "catchup": 8 writers' latency idle, then while 10 subscribers at once read a
// 20,000-event story from the start (storyEvents(after: 0)), each starting over as soon
// as it has caught up, so the catch-ups last the whole measurement.
import { createClient, type Client } from "graphql-ws";
import { importStory } from "../src/commands/importStory.ts";
import { openDatabase } from "../src/database/connect.ts";
import { createLiveMessaging } from "../src/live/pubsub.ts";
import { encodeGlobalId } from "../src/graphql/globalIds.ts";
import { createBenchDatabase, createStory, fmt, graphql, load, report, signUp, startServer, type LoadResult } from "./lib.ts";

const WRITERS = 8;
const CATCH_UPS = 10;
const EVENTS = Number(process.env.BENCH_CATCHUP_EVENTS ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WRITE = `mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } } }`;
const FEED = `subscription($id: ID!) { storyEvents(storyId: $id, after: 0) { seq type } }`;

async function main() {
  const database = await createBenchDatabase("catchup");
  const server = await startServer({ DATABASE_URL: database.url });
  const db = await openDatabase({ databaseUrl: database.url, dataDir: "/tmp", poolSize: 2 });
  const clients: Client[] = [];
  try {
    const token = await signUp(server.url, "catcher");
    const owner = await db.prisma.user.findFirstOrThrow({ where: { username: "catcher" } });
    const createdAt = new Date().toISOString();
    const seedStarted = performance.now();
    const events = Array.from({ length: EVENTS }, (_, i) =>
      i === 0
        ? { seq: 1, type: "StoryCreated", schemaVersion: 1, payload: { title: "Title 1", version: { number: 1 } }, createdAt }
        : { seq: i + 1, type: "StoryDetailsChanged", schemaVersion: 1, payload: { title: `Title ${i + 1}` }, createdAt },
    );
    const longStory = encodeGlobalId("Story", (await importStory({ db, pubsub: createLiveMessaging(undefined).pubsub }, owner.id, { format: "story-spark.story", formatVersion: 1, events })).storyId);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const stories = await Promise.all(Array.from({ length: WRITERS }, (_, i) => createStory(server.url, token, `Writer ${i}`)));
    let n = 0;
    const write = (client: number) => graphql(server.url, WRITE, { i: { storyId: stories[client], module: "IDEA_SPARK", output: { logline: `write ${n++}` } } }, token);

    const idle = await load(WRITERS, SECONDS, write);
    const idleRss = await server.rssMb();

    // 10 catch-ups, each begun again as soon as it ends, for as long as the writers run
    let running = true;
    let completed = 0;
    let failures = 0;
    let delivered = 0;
    const catchUp = async (slot: number): Promise<void> => {
      while (running) {
        const client = createClient({ url: server.url.replace(/^http/, "ws"), connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
        clients[slot] = client;
        let received = 0;
        let lastSeq = 0;
        await new Promise<void>((resolve) => {
          const stop = client.subscribe<{ storyEvents: { seq: number } }>(
            { query: FEED, variables: { id: longStory } },
            {
              next: (message) => {
                const seq = message.data?.storyEvents.seq ?? 0;
                if (seq !== lastSeq + 1) failures++;
                delivered++;
                lastSeq = seq;
                if (++received >= EVENTS || !running) {
                  if (received >= EVENTS) completed++;
                  stop();
                  resolve();
                }
              },
              error: (error) => {
                if (running) {
                  failures++;
                  console.error("catch-up error", error);
                }
                resolve();
              },
              complete: () => resolve(),
            },
          );
        });
        await client.dispose();
      }
    };
    const readers = Array.from({ length: CATCH_UPS }, (_, slot) => catchUp(slot));
    await new Promise((resolve) => setTimeout(resolve, 500)); // they have all begun
    let during: LoadResult;
    const deliveredBefore = delivered;
    const loadStarted = performance.now();
    try {
      during = await load(WRITERS, SECONDS, write);
      delivered -= deliveredBefore;
    } finally {
      running = false;
      await Promise.all(clients.map((c) => c.dispose()));
      await Promise.all(readers);
    }
    const ratio = during.p99 / idle.p99;
    const rss = await server.rssMb();
    await report(
      "catchup",
      `${WRITERS} writers (writeModule over HTTP, one story each, back to back) for ${SECONDS} s idle, then for ${SECONDS} s while ${CATCH_UPS} graphql-ws subscribers read a ${fmt.n(EVENTS)}-event story with \`storyEvents(after: 0)\`, each starting over as soon as it has all the events; PostgreSQL; default CATCHUP_CONCURRENCY.`,
      [
        { metric: "writers' p99, idle", value: fmt.ms(idle.p99) },
        { metric: "writers' p99, during the catch-ups", value: fmt.ms(during.p99), baseline: fmt.ms(idle.p99), ratio: `${ratio.toFixed(2)} ×`, target: "≤ 3 ×", met: ratio <= 3 },
        { metric: "writers' p50, idle / during", value: `${fmt.ms(idle.p50)} / ${fmt.ms(during.p50)}` },
        { metric: "writes/s, idle / during", value: `${fmt.n(idle.perSecond)} / ${fmt.n(during.perSecond)}` },
        { metric: "write errors", value: String(idle.errors + during.errors), target: "0", met: idle.errors + during.errors === 0 },
        { metric: "catch-up events delivered/s (all subscribers) during the writes", value: fmt.n(delivered / ((performance.now() - loadStarted) / 1000)) },
        { metric: `catch-ups of ${fmt.n(EVENTS)} events completed`, value: String(completed) },
        { metric: "catch-up errors or out-of-order events", value: String(failures), target: "0", met: failures === 0 },
        { metric: "memory (server RSS after the idle writes / at the end)", value: `${fmt.mb(idleRss)} / ${fmt.mb(rss)}` },
        { metric: "seeding the story by import (not timed above)", value: `${seedSeconds.toFixed(1)} s` },
      ],
      ["The subscribers run in the benchmark process, on the same machine, and take their events as fast as they can."],
    );
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await db.close();
    await server.stop();
    await database.drop();
  }
}

await main();
