// Catch-ups share fairly: many subscribers reading a long history at once take turns
// (at most CATCHUP_CONCURRENCY page reads at a time in the process) and each still gets
// every event exactly once, in order, with the writes made meanwhile after them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalId } from "../src/graphql/globalIds.ts";
import { catchUpLimiter, catchUpReadsInFlight } from "../src/live/catchUpLimiter.ts";
import { graphql } from "./generated/gql.ts";
import { WriteModule } from "./support/documents.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { importLongStory } from "./support/fixtures.ts";

const EVENTS = 3_000;
const SUBSCRIBERS = 6;
const LIVE_WRITES = 5;
const LIMIT = 2;

const CatchUpFeed = graphql(`
  subscription CatchUpFeed($storyId: ID!, $after: Int) {
    storyEvents(storyId: $storyId, after: $after) { seq type }
  }
`);

let server: TestServer;
let token: string;
let storyId: string;

// Given a story of 3,000 events (created, then retitled), imported as a generated export.
beforeAll(async () => {
  server = await startTestServer();
  const imported = await importLongStory(server, "catcher", EVENTS);
  token = imported.token;
  storyId = encodeGlobalId("Story", imported.storyId); // as clients know it
}, 120_000);
afterAll(() => server?.close());

describe("simultaneous catch-ups", () => {
  it(`${SUBSCRIBERS} storyEvents(after: 0) over ${EVENTS.toLocaleString("en-US")} events: at most ${LIMIT} page reads at once, every event once, in order`, async () => {
    const previousLimit = catchUpLimiter.concurrency;
    catchUpLimiter.setLimit(LIMIT);
    catchUpLimiter.resetObserved();
    const clients = Array.from({ length: SUBSCRIBERS }, () => wsClient(server.url, token));
    const feeds = clients.map((client) => subscribeWs(client, CatchUpFeed, { storyId, after: 0 }));
    try {
      // writes while they catch up: each arrives once, after the history
      for (let i = 0; i < LIVE_WRITES; i++) {
        await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: `live ${i}` } } }, token);
      }
      const total = EVENTS + LIVE_WRITES;
      await Promise.all(feeds.map((feed) => feed.received.until((r) => r.data.length >= total || r.ended, 90_000)));
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more should come
      const stats = catchUpReadsInFlight();
      expect(stats.maxObserved).toBeGreaterThan(0);
      expect(stats.maxObserved).toBeLessThanOrEqual(LIMIT);
      expect(stats.maxWaiting).toBeGreaterThan(0); // the subscribers did take turns
      const expected = Array.from({ length: total }, (_, i) => i + 1);
      for (const feed of feeds) {
        expect(feed.received.results.filter((r) => r.errors)).toEqual([]);
        expect(feed.received.data.map((d) => d.storyEvents.seq)).toEqual(expected);
        expect(feed.received.data.slice(EVENTS).map((d) => d.storyEvents.type)).toEqual(Array(LIVE_WRITES).fill("ModuleWritten"));
      }
    } finally {
      for (const feed of feeds) feed.stop();
      await Promise.all(clients.map((client) => client.dispose()));
      catchUpLimiter.setLimit(previousLimit);
    }
  }, 120_000);
});
