// Redis goes away and comes back while writers write and subscribers listen: the broker is
// never on the write path, and storyEvents and moduleUpdated subscribers end with every
// change exactly once, in order, those made during the outage included. And moduleUpdated
// replays the module changes after a revision, then live ones.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODULES } from "../src/domain/catalogue.ts";
import { RestoreVersion, StoryEventsFeed, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Received } from "./support/live.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { graphql } from "./generated/gql.ts";
import { throwawayRedis, type ThrowawayRedis } from "./support/redis.ts";

const ModuleChanges = graphql(`
  subscription ModuleChanges($storyId: ID!, $module: ModuleName, $after: Int) {
    moduleUpdated(storyId: $storyId, module: $module, after: $after) {
      module { name }
      version { number }
      event { seq type }
    }
  }
`);

type ModuleName = (typeof MODULES)[number]["name"];
type Change = { seq: number; modules: ModuleName[] };
type ModuleMessage = { moduleUpdated: { module: { name: string }; event: { seq: number } } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inCatalogueOrder = (modules: Iterable<ModuleName>) => MODULES.map((m) => m.name).filter((name) => new Set(modules).has(name));

/** A writer's script: module writes and restores of the empty first version, with the modules each changes. */
function writer(server: TestServer, token: string, storyId: string) {
  const filled = new Set<ModuleName>();
  let n = 0;
  const changes: Change[] = [];
  return {
    changes,
    async write(module: ModuleName): Promise<number> {
      const { writeModule } = await server.query(WriteModule, { input: { storyId, module, output: { note: `write ${++n}` } } }, token);
      filled.add(module);
      changes.push({ seq: writeModule.event.seq, modules: [module] });
      return writeModule.event.seq;
    },
    async restoreEmpty(): Promise<number> {
      const { restoreVersion } = await server.query(RestoreVersion, { input: { storyId, number: 1 } }, token);
      changes.push({ seq: restoreVersion.event.seq, modules: inCatalogueOrder(filled) });
      filled.clear();
      return restoreVersion.event.seq;
    },
    /** four changes, one of them to several modules at once */
    async round(): Promise<void> {
      await this.write("IDEA_SPARK");
      await this.write("CHARACTER_FORGE");
      await this.restoreEmpty();
      await this.write("WORLD_SEED");
    },
  };
}

/** The (seq, module) pairs a moduleUpdated subscriber should see for these changes, in order. */
const expectedPairs = (changes: Change[], after: number, only: ModuleName | null = null) =>
  changes.filter((c) => c.seq > after).flatMap((c) => c.modules.filter((m) => only === null || m === only).map((m) => `${c.seq} ${m}`));
const receivedPairs = (received: Received<ModuleMessage>) =>
  received.data.map((d) => `${d.moduleUpdated.event.seq} ${d.moduleUpdated.module.name}`);

// ------------------------------------------------------------------ the outage

describe.skipIf(!process.env.TEST_REDIS_URL)("a Redis outage during writes and subscriptions", () => {
  let redis: ThrowawayRedis;
  let server: TestServer;
  const strays: unknown[] = [];
  const onStray = (error: unknown) => strays.push(error);

  beforeAll(async () => {
    process.on("unhandledRejection", onStray);
    process.on("uncaughtException", onStray);
    redis = await throwawayRedis();
    await redis.start();
    server = await startTestServer(undefined, { redisUrl: redis.url });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.kill();
    process.off("unhandledRejection", onStray);
    process.off("uncaughtException", onStray);
  });

  it("acknowledges every write, and subscribers end with every change exactly once, in order", async () => {
    const { token } = await signUpWriter(server);
    const storyId = await createStory(server, token);
    const script = writer(server, token, storyId);
    const ws = wsClient(server.url, token);
    const events = [subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 }), subscribeSse(server.url, StoryEventsFeed, { storyId, after: 0 }, token)];
    // without `after`, from the moment each is live: warm up until both have seen a write
    const updates = [subscribeWs(ws, ModuleChanges, { storyId }), subscribeSse(server.url, ModuleChanges, { storyId }, token)];
    let firstSeen = 0;
    for (let probe = 0; probe < 50 && !updates.every((u) => u.received.data.length > 0); probe++) {
      firstSeen = await script.write("PLOT_SKELETON");
      await Promise.all(updates.map((u) => u.received.until((r) => r.data.length > 0, 500).catch(() => null)));
    }
    const from = Math.max(...updates.map((u) => u.received.data[0]!.moduleUpdated.event.seq)) - 1;
    expect(from).toBeLessThanOrEqual(firstSeen);

    try {
      await script.round();
      await redis.kill();
      await sleep(200);
      const failuresBefore = server.messaging.publishFailures();
      await script.round(); // every write answered while Redis is gone
      expect(server.messaging.publishFailures()).toBeGreaterThan(failuresBefore);
      await redis.start();
      await script.round();
      await sleep(500);
      await script.round();

      const last = script.changes.at(-1)!.seq;
      const allSeqs = Array.from({ length: last }, (_, i) => i + 1);
      for (const { received } of events) {
        await received.until((r) => r.data.some((d) => d.storyEvents.seq === last), 15_000);
      }
      for (const { received } of updates) {
        await received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === last), 15_000);
      }
      await sleep(300); // nothing more, and nothing twice, comes after
      for (const { received } of events) {
        expect(received.data.map((d) => d.storyEvents.seq)).toEqual(allSeqs);
        expect(received.results.filter((r) => r.errors)).toEqual([]);
      }
      for (const { received } of updates) {
        const pairs = receivedPairs(received);
        // the warm-up's writes a subscriber saw before the other was live, then everything
        expect(pairs.slice(pairs.indexOf(expectedPairs(script.changes, from)[0]!))).toEqual(expectedPairs(script.changes, from));
        expect(received.results.filter((r) => r.errors)).toEqual([]);
      }
      expect(strays).toEqual([]);
    } finally {
      for (const subscription of [...events, ...updates]) subscription.stop();
      await ws.dispose();
    }
  });

  it("stops cleanly while Redis is away, with subscribers open", async () => {
    const { token } = await signUpWriter(server);
    const storyId = await createStory(server, token);
    const ws = wsClient(server.url, token);
    const feed = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
    await feed.received.until((r) => r.data.length > 0);
    await redis.kill();
    await sleep(200);
    const later = subscribeWs(ws, ModuleChanges, { storyId }); // its SUBSCRIBE waits for a Redis that never comes back
    await sleep(200);
    await server.stop(); // a QUIT waiting for Redis would hang here
    await feed.received.until((r) => r.ended);
    await later.received.until((r) => r.ended);
    await expect(fetch(server.url)).rejects.toThrow();
    expect(strays).toEqual([]);
    await ws.dispose();
  });
});

// ------------------------------------------------------------------ moduleUpdated(after:)

describe("moduleUpdated(after: revision)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("replays exactly the module changes after the revision, in order, then live ones, on both transports", async () => {
    const { token } = await signUpWriter(server);
    const storyId = await createStory(server, token);
    const script = writer(server, token, storyId);
    await script.round();
    await script.round();
    const after = script.changes[1]!.seq; // just before the first restore, which changed two modules

    const ws = wsClient(server.url, token);
    const all = [subscribeWs(ws, ModuleChanges, { storyId, after }), subscribeSse(server.url, ModuleChanges, { storyId, after }, token)];
    const one = subscribeWs(ws, ModuleChanges, { storyId, after: 1, module: "CHARACTER_FORGE" });
    try {
      const replayed = expectedPairs(script.changes, after);
      expect(replayed).toContain(`${after + 1} IDEA_SPARK`);
      expect(replayed).toContain(`${after + 1} CHARACTER_FORGE`);
      for (const { received } of all) await received.until((r) => r.data.length >= replayed.length);
      await script.round(); // live ones follow
      const last = script.changes.at(-1)!.seq;
      for (const { received } of all) await received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === last) || r.ended);
      await sleep(200);
      for (const { received } of all) expect(receivedPairs(received)).toEqual(expectedPairs(script.changes, after));
      // the filter applies to the replay too (the round's last write is to another module: wait on the count)
      await one.received.until((r) => receivedPairs(r).length === expectedPairs(script.changes, 1, "CHARACTER_FORGE").length);
      expect(receivedPairs(one.received)).toEqual(expectedPairs(script.changes, 1, "CHARACTER_FORGE"));
      // each message's version is the active one after its event
      expect(all[0]!.received.data[0]!.moduleUpdated.version.number).toBeGreaterThan(0);
    } finally {
      for (const subscription of [...all, one]) subscription.stop();
      await ws.dispose();
    }
  });

  it("answers BAD_USER_INPUT naming `after` for a negative revision, and NOT_FOUND to a stranger", async () => {
    const { token } = await signUpWriter(server);
    const stranger = await signUpWriter(server, "stranger");
    const storyId = await createStory(server, token);
    const ws = wsClient(server.url, token);
    const strangerWs = wsClient(server.url, stranger.token);
    const negative = subscribeWs(ws, ModuleChanges, { storyId, after: -1 });
    const strangers = subscribeWs(strangerWs, ModuleChanges, { storyId, after: 0 });
    try {
      await negative.received.until((r) => r.ended);
      expect(negative.received.results.flatMap(errorCodes)).toEqual(["BAD_USER_INPUT"]);
      expect(negative.received.results[0]!.errors![0]!.extensions).toMatchObject({ field: "after" });
      await strangers.received.until((r) => r.ended);
      expect(strangers.received.results.flatMap(errorCodes)).toEqual(["NOT_FOUND"]);
    } finally {
      await ws.dispose();
      await strangerWs.dispose();
    }
  });
});
