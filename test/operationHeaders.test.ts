// A WebSocket operation signed in by its own `extensions.headers` (GraphiQL's Headers tab; its
// connection_init carries nothing): who it runs as, what a stranger's or a bad token gets, and that
// it is re-checked, capped and counted like a subscription signed in at connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenService } from "../src/auth/tokens.ts";
import { decodeGlobalId } from "../src/graphql/globalIds.ts";
import { StoryEventsFeed, Viewer, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeWs, wsClient, type Received, type Subscription } from "./support/live.ts";
import { startTestServer, TEST_TOKEN_SECRET, type TestServer } from "./support/server.ts";

const MISSING_STORY_ID = Buffer.from("Story:6f1c1b0e-0000-4000-8000-000000000000").toString("base64");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(undefined, { live: { viewerRecheckMs: 300, maxSubscriptionsPerSocket: 3 } });
});
afterAll(() => server?.close());

const bearer = (token: string) => `Bearer ${token}`;
const errorsOf = (received: Received<unknown>) => received.results.flatMap((r) => r.errors ?? []);
const codesOf = (received: Received<unknown>) => errorsOf(received).map((e) => e.extensions?.code);
const firstEvent = (s: Subscription<{ storyEvents: { seq: number } }>) => s.received.until((r) => r.data.length > 0);
const ended = (s: Subscription<unknown>, timeoutMs?: number) => s.received.until((r) => r.ended, timeoutMs);

async function eventually(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The viewer a WebSocket query runs as, with these operation headers. */
async function viewerOver(ws: ReturnType<typeof wsClient>, headers?: Record<string, unknown>) {
  const query = subscribeWs(ws, Viewer, {}, headers);
  await ended(query);
  return query.received;
}

describe("on a socket whose connection_init carried no token", () => {
  it("runs a query and a subscription as the viewer of the operation's Authorization header, whatever its case", async () => {
    const ada = await signUpWriter(server, "ada");
    const storyId = await createStory(server, ada.token);
    const ws = wsClient(server.url, null);
    try {
      expect((await viewerOver(ws, { Authorization: bearer(ada.token) })).data).toEqual([{ viewer: expect.objectContaining({ username: "ada" }) }]);
      expect((await viewerOver(ws, { authorization: bearer(ada.token) })).data).toEqual([{ viewer: expect.objectContaining({ username: "ada" }) }]);
      expect((await viewerOver(ws)).data).toEqual([{ viewer: null }]);

      const feed = subscribeWs(ws, StoryEventsFeed, { storyId }, { AUTHORIZATION: bearer(ada.token) });
      await firstEvent(feed);
      await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "a keeper" } } }, ada.token);
      await feed.received.until((r) => r.data.some((d) => d.storyEvents.type === "ModuleWritten"));
      feed.stop();

      const anonymous = subscribeWs(ws, StoryEventsFeed, { storyId });
      await ended(anonymous);
      expect(codesOf(anonymous.received)).toEqual(["UNAUTHENTICATED"]);
    } finally {
      await ws.dispose();
    }
  });

  it("gives a stranger's token on someone else's story exactly what a missing id gets", async () => {
    const owner = await signUpWriter(server, "owner");
    const stranger = await signUpWriter(server, "stranger");
    const storyId = await createStory(server, owner.token, "Private");
    const ws = wsClient(server.url, null);
    try {
      const theirs = subscribeWs(ws, StoryEventsFeed, { storyId }, { authorization: bearer(stranger.token) });
      const missing = subscribeWs(ws, StoryEventsFeed, { storyId: MISSING_STORY_ID }, { authorization: bearer(stranger.token) });
      await Promise.all([ended(theirs), ended(missing)]);
      expect(codesOf(theirs.received)).toEqual(["NOT_FOUND"]);
      expect(errorsOf(theirs.received).map((e) => e.message)).toEqual(errorsOf(missing.received).map((e) => e.message));
      expect(theirs.received.data).toEqual([]);
    } finally {
      await ws.dispose();
    }
  });

  it("refuses with UNAUTHENTICATED a header it can't read as one token, and an invalid token; the socket stays open", async () => {
    const ada = await signUpWriter(server, "ada");
    const storyId = await createStory(server, ada.token);
    const ws = wsClient(server.url, null);
    try {
      // open all along: the socket is the same one throughout (the client closes an idle one)
      const good = subscribeWs(ws, StoryEventsFeed, { storyId }, { authorization: bearer(ada.token) });
      await firstEvent(good);
      const refusals = [
        { headers: { authorization: 42 }, message: /Authorization must be a string/ },
        { headers: { authorization: bearer(ada.token), Authorization: "Bearer another" }, message: /one Authorization header, not several/ },
        { headers: { authorization: "Bearer forged.token.value" }, message: /the token is invalid or expired/ },
      ];
      for (const { headers, message } of refusals) {
        const refused = subscribeWs(ws, StoryEventsFeed, { storyId }, headers);
        await ended(refused);
        expect(errorsOf(refused.received)).toEqual([expect.objectContaining({ message: expect.stringMatching(message), extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }) })]);
        expect(refused.received.data).toEqual([]);
      }
      await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "still here" } } }, ada.token);
      await good.received.until((r) => r.data.some((d) => d.storyEvents.type === "ModuleWritten"));
      expect(good.received.ended).toBe(false);
      expect(ws.closeCodes).toEqual([]);
      good.stop();
    } finally {
      await ws.dispose();
    }
  });

  it("is re-checked like any token: signed out, its subscription ends with UNAUTHENTICATED, the socket and the others on it go on", async () => {
    const ada = await signUpWriter(server, "ada");
    const bo = await signUpWriter(server, "bo");
    const adasStory = await createStory(server, ada.token);
    const bosStory = await createStory(server, bo.token);
    const ws = wsClient(server.url, null);
    try {
      const adas = subscribeWs(ws, StoryEventsFeed, { storyId: adasStory }, { authorization: bearer(ada.token) });
      const bos = subscribeWs(ws, StoryEventsFeed, { storyId: bosStory }, { authorization: bearer(bo.token) });
      await Promise.all([adas, bos].map(firstEvent));

      // what signing out everywhere does: every token issued before no longer counts
      await server.db.prisma.user.update({ where: { id: decodeGlobalId(ada.userId)!.id }, data: { tokenVersion: { increment: 1 } } });

      await ended(adas, 2_000);
      expect(codesOf(adas.received)).toEqual(["UNAUTHENTICATED"]);
      await server.query(WriteModule, { input: { storyId: bosStory, module: "IDEA_SPARK", output: { logline: "still here" } } }, bo.token);
      await bos.received.until((r) => r.data.some((d) => d.storyEvents.type === "ModuleWritten"));
      expect(bos.received.ended).toBe(false);
      expect(ws.closeCodes).toEqual([]);
      bos.stop();
      await eventually(() => server.app.live.size === 0, 1_000, `${server.app.live.size} subscriptions open`);
    } finally {
      await ws.dispose();
    }
  });

  it("ends with UNAUTHENTICATED when its token expires", async () => {
    const ada = await signUpWriter(server, "ada");
    const storyId = await createStory(server, ada.token);
    const shortLived = createTokenService({ secret: TEST_TOKEN_SECRET, dataDir: server.database.dataDir, ttl: "2s" });
    const { token: expiring } = await shortLived.issue({ id: decodeGlobalId(ada.userId)!.id, tokenVersion: 0 });
    const ws = wsClient(server.url, null);
    try {
      const feed = subscribeWs(ws, StoryEventsFeed, { storyId }, { authorization: bearer(expiring) });
      await firstEvent(feed);
      await ended(feed, 4_000);
      expect(codesOf(feed.received)).toEqual(["UNAUTHENTICATED"]);
      expect(ws.closeCodes).toEqual([]);
    } finally {
      await ws.dispose();
    }
  });

  it("counts against the socket's cap, whoever's token signed each one in", async () => {
    const writers = await Promise.all(["ada", "bo", "cy"].map((name) => signUpWriter(server, name)));
    const stories = await Promise.all(writers.map((w) => createStory(server, w.token)));
    const ws = wsClient(server.url, null);
    const open: Subscription<{ storyEvents: { seq: number } }>[] = [];
    try {
      writers.forEach((w, i) => open.push(subscribeWs(ws, StoryEventsFeed, { storyId: stories[i]! }, { authorization: bearer(w.token) })));
      await Promise.all(open.map(firstEvent));
      const over = subscribeWs(ws, StoryEventsFeed, { storyId: stories[0]! }, { authorization: bearer(writers[0]!.token) });
      await ended(over);
      expect(errorsOf(over.received)).toEqual([
        expect.objectContaining({ message: "at most 3 subscriptions per connection", extensions: expect.objectContaining({ code: "RATE_LIMITED" }) }),
      ]);
      expect(server.app.live.size).toBe(3);
    } finally {
      for (const subscription of open) subscription.stop();
      await ws.dispose();
    }
  });
});

describe("on a socket signed in at connection_init", () => {
  it("runs everything as the connection's viewer: an operation may repeat its token, and one bringing a stranger's is refused", async () => {
    const ada = await signUpWriter(server, "ada");
    const stranger = await signUpWriter(server, "stranger");
    const strangersStory = await createStory(server, stranger.token, "Theirs");
    const adasStory = await createStory(server, ada.token);
    const ws = wsClient(server.url, ada.token);
    try {
      // open all along: the socket is the same one throughout (the client closes an idle one)
      const own = subscribeWs(ws, StoryEventsFeed, { storyId: adasStory });
      await firstEvent(own);
      expect((await viewerOver(ws)).data).toEqual([{ viewer: expect.objectContaining({ username: "ada" }) }]);
      expect((await viewerOver(ws, { Authorization: `bearer ${ada.token}` })).data).toEqual([{ viewer: expect.objectContaining({ username: "ada" }) }]);

      const asStranger = await viewerOver(ws, { authorization: bearer(stranger.token) });
      const intoTheirStory = subscribeWs(ws, StoryEventsFeed, { storyId: strangersStory }, { authorization: bearer(stranger.token) });
      await ended(intoTheirStory);
      for (const refused of [asStranger, intoTheirStory.received]) {
        expect(errorsOf(refused)).toEqual([
          expect.objectContaining({ message: expect.stringMatching(/signed in with another token/), extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }) }),
        ]);
        expect(refused.data).toEqual([]);
      }

      const repeated = subscribeWs(ws, StoryEventsFeed, { storyId: adasStory }, { authorization: bearer(ada.token) });
      await firstEvent(repeated);
      repeated.stop();
      expect(own.received.ended).toBe(false);
      expect(ws.closeCodes).toEqual([]);
      own.stop();
    } finally {
      await ws.dispose();
    }
  });
});

describe("over HTTP", () => {
  it("gives a body's extensions.headers no authority: only the Authorization header counts", async () => {
    const ada = await signUpWriter(server, "ada");
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ viewer { id } }", extensions: { headers: { authorization: bearer(ada.token) } } }),
    });
    expect(await response.json()).toEqual({ data: { viewer: null } });
  });
});
