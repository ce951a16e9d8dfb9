// Live updates over WebSocket (graphql-ws) and Server-Sent Events, and the storyEvents catch-up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearModule, ModuleUpdated, Redo, RestoreVersion, StoryEventsFeed, Undo, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter, startServerWithWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Subscription } from "./support/live.ts";
import type { TestServer } from "./support/server.ts";

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

type Update = { moduleUpdated: { story: { id: string }; module: { name: string }; event: { seq: number; type: string } } };

/**
 * A subscription is live some time after it is sent: write until each subscriber has seen
 * a write, and answer the seq after which the scripted part begins.
 */
async function syncedAfterProbes(storyId: string, subscriptions: Subscription<Update>[]): Promise<number> {
  for (let probe = 0; probe < 100; probe++) {
    const { writeModule } = await server.query(
      WriteModule,
      { input: { storyId, module: "CHARACTER_FORGE", output: { probe } } as never },
      token,
    );
    const seq = writeModule.event.seq;
    const seen = (received: Subscription<Update>["received"]) => received.data.some((d) => d.moduleUpdated.event.seq === seq);
    await Promise.all(subscriptions.map((s) => s.received.until(seen, 1_000).catch(() => null)));
    if (subscriptions.every((s) => seen(s.received))) return seq;
  }
  throw new Error("the subscriptions never received a write");
}

describe("moduleUpdated", () => {
  it("reaches a graphql-ws client and an SSE client for write, clear, undo, redo and restore, and nothing of other stories", async () => {
    const storyId = await createStory(server, token, "Watched");
    const otherStoryId = await createStory(server, token, "Not watched");
    const ws = wsClient(server.url, token);
    const viaWs = subscribeWs(ws, ModuleUpdated, { storyId });
    const viaSse = subscribeSse(server.url, ModuleUpdated, { storyId }, token);
    try {
      const start = await syncedAfterProbes(storyId, [viaWs, viaSse]);
      const write = (id: string, module: "IDEA_SPARK" | "WORLD_SEED", output: object) =>
        server.query(WriteModule, { input: { storyId: id, module, output } }, token);

      await write(storyId, "IDEA_SPARK", { logline: "one" }); // IDEA_SPARK
      await write(otherStoryId, "IDEA_SPARK", { logline: "elsewhere" }); // not ours
      await write(storyId, "WORLD_SEED", { setting: "two" }); // WORLD_SEED
      await server.query(ClearModule, { input: { storyId, module: "IDEA_SPARK" } }, token); // IDEA_SPARK
      await server.query(UpdateStory, { input: { id: storyId, title: "Renamed" } }, token); // no module changes
      await server.query(Undo, { input: { storyId } }, token); // IDEA_SPARK back
      await server.query(Redo, { input: { storyId } }, token); // IDEA_SPARK cleared again
      await server.query(RestoreVersion, { input: { storyId, number: 1 } }, token); // restore: the written ones emptied

      const expected = [
        ["IDEA_SPARK", "ModuleWritten"],
        ["WORLD_SEED", "ModuleWritten"],
        ["IDEA_SPARK", "ModuleCleared"],
        ["IDEA_SPARK", "Undone"],
        ["IDEA_SPARK", "Redone"],
        ["WORLD_SEED", "VersionRestored"],
        ["CHARACTER_FORGE", "VersionRestored"],
      ];
      for (const subscription of [viaWs, viaSse]) {
        const scripted = (s: Subscription<Update>) => s.received.data.filter((d) => d.moduleUpdated.event.seq > start);
        await subscription.received.until(() => scripted(subscription).length >= expected.length);
        await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more may arrive
        const messages = scripted(subscription).map((d) => d.moduleUpdated);
        expect(messages.map((m) => [m.module.name, m.event.type]).sort()).toEqual([...expected].sort());
        expect(messages.map((m) => m.event.seq)).toEqual([...messages.map((m) => m.event.seq)].sort((a, b) => a - b));
        expect(new Set(subscription.received.data.map((d) => d.moduleUpdated.story.id))).toEqual(new Set([storyId]));
        expect(subscription.received.results.filter((r) => r.errors)).toEqual([]);
      }
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
  });

  it("filters by module when one is given", async () => {
    const storyId = await createStory(server, token, "Filtered");
    const ws = wsClient(server.url, token);
    const worldOnly = subscribeWs(ws, ModuleUpdated, { storyId, module: "WORLD_SEED" });
    try {
      // writes until the subscription is live, then one more of each module
      let seen = false;
      for (let i = 0; i < 50 && !seen; i++) {
        await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: `probe ${i}` } } }, token);
        seen = await worldOnly.received.until((received) => received.data.length > 0, 300).then(() => true, () => false);
      }
      const before = worldOnly.received.data.length;
      await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "ignored" } } }, token);
      await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "seen" } } }, token);
      await worldOnly.received.until((r) => r.data.length === before + 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(worldOnly.received.data.map((d) => d.moduleUpdated.module.name)).toEqual(
        Array(before + 1).fill("WORLD_SEED"),
      );
      expect(worldOnly.received.data.at(-1)!.moduleUpdated.module).toEqual({ name: "WORLD_SEED", output: { setting: "seen" } });
    } finally {
      worldOnly.stop();
      await ws.dispose();
    }
  });
});

describe("many subscribers of one story", () => {
  it("each get every write, while the server reads each new event from the log once for all of them, not once each", async () => {
    const storyId = await createStory(server, token, "Watched by a crowd");
    const sockets = Array.from({ length: 4 }, () => wsClient(server.url, token));
    const subscriptions = Array.from({ length: 40 }, (_, i) => subscribeWs(sockets[i % sockets.length]!, ModuleUpdated, { storyId }));
    try {
      await syncedAfterProbes(storyId, subscriptions);
      // the read a subscriber makes for its message is one or two statements; forty of them would be 40–120
      const before = server.db.statements.count;
      const { writeModule } = await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "for all" } } as never }, token);
      const seq = writeModule.event.seq;
      await Promise.all(subscriptions.map((s) => s.received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === seq))));
      const statements = server.db.statements.count - before;
      for (const subscription of subscriptions) {
        const message = subscription.received.data.find((d) => d.moduleUpdated.event.seq === seq)!.moduleUpdated;
        expect(message.module).toEqual({ name: "IDEA_SPARK", output: { logline: "for all" } });
      }
      expect(statements).toBeLessThan(20);
    } finally {
      subscriptions.forEach((s) => s.stop());
      await Promise.all(sockets.map((socket) => socket.dispose()));
    }
  });
});

describe("storyEvents", () => {
  it("catches up from after: 0 while 200 writes from 10 writers are in flight: every seq once, in order", async () => {
    const storyId = await createStory(server, token, "Busy story");
    const writers = Array.from({ length: 10 }, async (_, writer) => {
      for (let i = 0; i < 20; i++) {
        await server.query(WriteModule, { input: { storyId, module: "WORDSMITH_LAB", output: { prose: `${writer}:${i}` } } }, token);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // some writes are in already
    const ws = wsClient(server.url, token);
    const feed = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
    try {
      await Promise.all(writers);
      await feed.received.until((r) => r.data.length >= 201, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const seqs = feed.received.data.map((d) => d.storyEvents.seq);
      expect(seqs).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
      expect(feed.received.data[0]!.storyEvents.type).toBe("StoryCreated");
    } finally {
      feed.stop();
      await ws.dispose();
    }
  });

  it("starts after the given seq, over SSE too", async () => {
    const storyId = await createStory(server, token, "Resumed");
    for (let i = 0; i < 3; i++) await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: `${i}` } } }, token);
    const feed = subscribeSse(server.url, StoryEventsFeed, { storyId, after: 2 }, token);
    try {
      await feed.received.until((r) => r.data.length >= 2);
      await server.query(Undo, { input: { storyId } }, token);
      await feed.received.until((r) => r.data.length >= 3);
      expect(feed.received.data.map((d) => [d.storyEvents.seq, d.storyEvents.type])).toEqual([
        [3, "ModuleWritten"],
        [4, "ModuleWritten"],
        [5, "Undone"],
      ]);
    } finally {
      feed.stop();
    }
  });
});

describe("access to subscriptions", () => {
  it("someone else's story is NOT_FOUND on both transports", async () => {
    const storyId = await createStory(server, token, "Private");
    const intruder = await signUpWriter(server, "intruder");
    const ws = wsClient(server.url, intruder.token);
    const viaWs = subscribeWs(ws, ModuleUpdated, { storyId });
    const viaSse = subscribeSse(server.url, StoryEventsFeed, { storyId, after: 0 }, intruder.token);
    try {
      for (const subscription of [viaWs, viaSse]) {
        await subscription.received.until((r) => r.results.length > 0);
        expect(subscription.received.results[0]!.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
        expect(subscription.received.data).toEqual([]);
      }
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
  });

  it("a bad token is refused at connection (WebSocket) and UNAUTHENTICATED (SSE)", async () => {
    const storyId = await createStory(server, token, "Guarded");
    const ws = wsClient(server.url, "forged.token.value");
    const viaWs = subscribeWs(ws, ModuleUpdated, { storyId });
    const viaSse = subscribeSse(server.url, ModuleUpdated, { storyId }, "forged.token.value");
    try {
      await viaWs.received.until((r) => r.ended);
      expect(ws.closeCodes).toContain(4403);
      expect(viaWs.received.data).toEqual([]);
      await viaSse.received.until((r) => r.results.length > 0);
      expect(viaSse.received.results[0]!.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
  });
});
