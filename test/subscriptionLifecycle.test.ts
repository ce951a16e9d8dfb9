// Subscriptions that end: a client that leaves costs nothing afterwards, a deleted story and a token
// that runs out end what runs on them, the server's stop ends them all; and what one socket may cost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { WebSocket } from "ws";
import { createTokenService } from "../src/auth/tokens.ts";
import { decodeGlobalId } from "../src/graphql/globalIds.ts";
import type { LiveLimits } from "../src/live/limits.ts";
import { DeleteStory, ModuleDraftFeed, ModuleUpdated, StoryEventsFeed, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Received, type Subscription } from "./support/live.ts";
import { createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { databaseEnv, startServerProcess } from "./support/processes.ts";
import { startTestServer, TEST_TOKEN_SECRET, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { graphql } from "./generated/gql.ts";


const ViewerName = graphql(`
  query ViewerName { viewer { username } }
`);

/** The shared test server with live limits of the test's choosing, and its listener count with nothing open. */
async function startLiveServer(limits: Partial<LiveLimits> = {}) {
  const server = await startTestServer(undefined, { live: limits });
  // the server's own listeners (the AI service listens for cancellations), there with no subscription open
  return { server, app: server.app, messaging: server.messaging, idleListeners: server.messaging.listenerCount() };
}
type LiveServer = Awaited<ReturnType<typeof startLiveServer>>;

async function queryOver<T, V>(url: string, document: TypedDocumentNode<T, V>, variables: V, token?: string | null): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const result = (await response.json()) as GraphQLResponse<T>;
  if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data!;
}

const nothingLeft = (live: LiveServer) => () =>
  `subscriptions ${live.app.live.size}, listeners ${live.messaging.listenerCount()} (${live.idleListeners} with none open)`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${typeof what === "string" ? what : what()}`);
    await sleep(20);
  }
}

/** The SQL statements the server sends over `ms`, nothing else running. */
async function statementsOver(server: TestServer, ms: number): Promise<number> {
  const before = server.db.statements.count;
  await sleep(ms);
  return server.db.statements.count - before;
}

const codesOf = (received: Received<unknown>) => received.results.flatMap((r) => (r.errors ?? []).map((e) => e.extensions?.code));
const firstEvent = (s: Subscription<{ storyEvents: { seq: number } }>) => s.received.until((r) => r.data.length > 0);
/** A live subscription is only sure to be listening once a write has reached it. */
async function syncedByWrite(server: TestServer, token: string, storyId: string, subscriptions: Subscription<unknown>[]) {
  for (let probe = 0; probe < 50; probe++) {
    const before = subscriptions.map((s) => s.received.results.length);
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { probe } } }, token);
    await Promise.all(subscriptions.map((s, i) => s.received.until((r) => r.results.length > before[i]!, 500).catch(() => null)));
    if (subscriptions.every((s, i) => s.received.results.length > before[i]!)) return;
  }
  throw new Error("the subscriptions never received a write");
}

describe("a client that leaves", () => {
  let live: LiveServer;
  let token: string;
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);

  beforeAll(async () => {
    live = await startLiveServer();
    ({ token } = await signUpWriter(live.server));
    process.on("warning", onWarning);
  });
  afterAll(async () => {
    process.off("warning", onWarning);
    await live?.server.close();
  });

  it("stops every read and listener of storyEvents, moduleUpdated and moduleDraft within 1 s, over WebSocket and SSE", async () => {
    const storyId = await createStory(live.server, token);
    const ws = wsClient(live.server.url, token);
    const feeds = [subscribeWs(ws, StoryEventsFeed, { storyId }), subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token)];
    const others = [
      subscribeWs(ws, ModuleUpdated, { storyId }),
      subscribeSse(live.server.url, ModuleUpdated, { storyId }, token),
      subscribeWs(ws, ModuleDraftFeed, { storyId }),
      subscribeSse(live.server.url, ModuleDraftFeed, { storyId }, token),
    ];
    await Promise.all(feeds.map(firstEvent));
    await syncedByWrite(live.server, token, storyId, others.slice(0, 2) as Subscription<unknown>[]);
    expect(live.app.live.size).toBe(6);

    for (const subscription of [...feeds, ...others]) subscription.stop();
    await ws.dispose();

    await eventually(() => live.app.live.size === 0 && live.messaging.listenerCount() === live.idleListeners, 1_000, nothingLeft(live));
    await sleep(200); // a read that had started may finish
    expect(await statementsOver(live.server, 6_000)).toBe(0); // longer than the feed's 5 s safety re-read
  });

  it("leaves nothing running after 100 subscribers drop, and no MaxListenersExceededWarning", async () => {
    const storyId = await createStory(live.server, token);
    const sockets = Array.from({ length: 5 }, () => wsClient(live.server.url, token));
    const subscriptions = [
      ...sockets.flatMap((socket) => Array.from({ length: 10 }, () => subscribeWs(socket, StoryEventsFeed, { storyId }))),
      ...Array.from({ length: 50 }, () => subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token)),
    ];
    await Promise.all(subscriptions.map(firstEvent));
    expect(live.app.live.size).toBe(100);

    for (const subscription of subscriptions.slice(50)) subscription.stop(); // SSE: the connection goes away
    for (const socket of sockets) socket.terminate(); // WebSocket: dropped without a goodbye

    await eventually(() => live.app.live.size === 0 && live.messaging.listenerCount() === live.idleListeners, 1_000, nothingLeft(live));
    await sleep(200);
    expect(await statementsOver(live.server, 6_000)).toBe(0);
    expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
  });
});

describe("a deleted story", () => {
  let live: LiveServer;
  beforeAll(async () => {
    live = await startLiveServer();
  });
  afterAll(() => live?.server.close());

  it("ends its storyEvents, moduleUpdated and moduleDraft subscriptions with NOT_FOUND on both transports", async () => {
    const { token } = await signUpWriter(live.server);
    const storyId = await createStory(live.server, token);
    const ws = wsClient(live.server.url, token);
    const feeds = [subscribeWs(ws, StoryEventsFeed, { storyId }), subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token)];
    const others = [
      subscribeWs(ws, ModuleUpdated, { storyId }),
      subscribeSse(live.server.url, ModuleUpdated, { storyId }, token),
      subscribeWs(ws, ModuleDraftFeed, { storyId }),
      subscribeSse(live.server.url, ModuleDraftFeed, { storyId }, token),
    ];
    try {
      await Promise.all(feeds.map(firstEvent));
      await syncedByWrite(live.server, token, storyId, others.slice(0, 2) as Subscription<unknown>[]);
      // moduleDraft hears nothing of writes: give it the moment a subscription takes to start
      await eventually(() => live.app.live.size === 6, 5_000, "all six subscribed");

      await live.server.query(DeleteStory, { input: { id: storyId } }, token);

      for (const subscription of [...feeds, ...others]) {
        await subscription.received.until((r) => r.ended, 2_000);
        expect(codesOf(subscription.received)).toEqual(["NOT_FOUND"]);
      }
      await eventually(() => live.app.live.size === 0 && live.messaging.listenerCount() === live.idleListeners, 1_000, nothingLeft(live));
    } finally {
      await ws.dispose();
    }
  });
});

describe("a token that stops being good", () => {
  let live: LiveServer;
  beforeAll(async () => {
    live = await startLiveServer({ viewerRecheckMs: 300 });
  });
  afterAll(() => live?.server.close());

  it("that expires closes the WebSocket with 4403 and ends the SSE stream with UNAUTHENTICATED", async () => {
    const { token, userId } = await signUpWriter(live.server);
    const storyId = await createStory(live.server, token);
    const shortLived = createTokenService({ secret: TEST_TOKEN_SECRET, dataDir: live.server.database.dataDir, ttl: "2s" });
    const { token: expiring } = await shortLived.issue({ id: decodeGlobalId(userId)!.id, tokenVersion: 0 });
    const ws = wsClient(live.server.url, expiring);
    const viaWs = subscribeWs(ws, StoryEventsFeed, { storyId });
    const viaSse = subscribeSse(live.server.url, StoryEventsFeed, { storyId }, expiring);
    await Promise.all([viaWs, viaSse].map(firstEvent));

    await Promise.all([viaWs, viaSse].map((s) => s.received.until((r) => r.ended, 4_000)));
    expect(ws.closeCodes).toEqual([4403]);
    expect(viaWs.received.closeCode).toBe(4403);
    expect(codesOf(viaSse.received)).toEqual(["UNAUTHENTICATED"]);
    await eventually(() => live.app.live.size === 0, 1_000, nothingLeft(live));
  });

  it("that is signed out everywhere is noticed at the next re-check, on both transports", async () => {
    const { token, userId } = await signUpWriter(live.server);
    const storyId = await createStory(live.server, token);
    const ws = wsClient(live.server.url, token);
    const viaWs = subscribeWs(ws, StoryEventsFeed, { storyId });
    const viaSse = subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token);
    await Promise.all([viaWs, viaSse].map(firstEvent));

    // what signing out everywhere does: every token issued before no longer counts
    await live.server.db.prisma.user.update({ where: { id: decodeGlobalId(userId)!.id }, data: { tokenVersion: { increment: 1 } } });

    await Promise.all([viaWs, viaSse].map((s) => s.received.until((r) => r.ended, 2_000)));
    expect(viaWs.received.closeCode).toBe(4403);
    expect(codesOf(viaSse.received)).toEqual(["UNAUTHENTICATED"]);
    await eventually(() => live.app.live.size === 0, 1_000, nothingLeft(live));
  });
});

describe("what a WebSocket may cost", () => {
  let live: LiveServer;
  beforeAll(async () => {
    live = await startLiveServer({
      anonymousIdleMs: 500,
      connectionInitWaitMs: 500,
      maxSubscriptionsPerSocket: 3,
      maxSubscriptionsPerUser: 5,
      pingIntervalMs: 300,
    });
  });
  afterAll(() => live?.server.close());

  const wsUrl = () => live.server.url.replace(/^http/, "ws");
  const rawSocket = (options: { autoPong?: boolean } = {}) => {
    const socket = new WebSocket(wsUrl(), "graphql-transport-ws", options);
    const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
    socket.on("error", () => {});
    return { socket, closed, opened: new Promise((resolve) => socket.once("open", resolve)) };
  };

  it("closes a socket that sends a message over the body limit (1009), and the server keeps answering", async () => {
    const { socket, closed, opened } = rawSocket();
    await opened;
    socket.send(JSON.stringify({ type: "connection_init", payload: { padding: "x".repeat(2 * 1024 * 1024) } }));
    expect(await closed).toBe(1009);
    expect((await live.server.request(ViewerName, {})).data).toEqual({ viewer: null });
  });

  it("closes a socket without a token once it has been idle a while (4401), and keeps one with a token", async () => {
    const { token } = await signUpWriter(live.server);
    const storyId = await createStory(live.server, token);
    const signedIn = wsClient(live.server.url, token);
    const viaSignedIn = subscribeWs(signedIn, StoryEventsFeed, { storyId });
    const anonymous = rawSocket();
    try {
      await anonymous.opened;
      anonymous.socket.send(JSON.stringify({ type: "connection_init" }));
      const started = Date.now();
      expect(await anonymous.closed).toBe(4401);
      expect(Date.now() - started).toBeLessThan(2_000);
      await viaSignedIn.received.until((r) => r.data.length > 0);
      await sleep(700);
      expect(signedIn.closeCodes).toEqual([]);
      expect(viaSignedIn.received.ended).toBe(false);
    } finally {
      viaSignedIn.stop();
      await signedIn.dispose();
    }
  });

  it("refuses a subscription on a socket without a token", async () => {
    const anonymous = wsClient(live.server.url, null);
    const refused = subscribeWs(anonymous, StoryEventsFeed, { storyId: "U3Rvcnk6MQ" });
    await refused.received.until((r) => r.ended);
    expect(codesOf(refused.received)).toEqual(["UNAUTHENTICATED"]);
    await anonymous.dispose();
  });

  it("closes a socket that sends nothing within the connection_init wait (4408)", async () => {
    const { closed } = rawSocket();
    expect(await closed).toBe(4408);
  });

  it("drops a client that stops answering pings (a half-open connection)", async () => {
    const { token } = await signUpWriter(live.server);
    const { socket, closed, opened } = rawSocket({ autoPong: false });
    await opened;
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
    const started = Date.now();
    expect(await closed).toBe(1006); // terminated: no close frame
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("answers RATE_LIMITED past the subscriptions of one socket, and of one user over sockets and SSE", async () => {
    const { token } = await signUpWriter(live.server);
    const storyId = await createStory(live.server, token);
    const first = wsClient(live.server.url, token);
    const second = wsClient(live.server.url, token);
    const open: Subscription<{ storyEvents: { seq: number } }>[] = [];
    try {
      for (let i = 0; i < 3; i++) open.push(subscribeWs(first, StoryEventsFeed, { storyId }));
      await Promise.all(open.map(firstEvent));
      const overSocket = subscribeWs(first, StoryEventsFeed, { storyId });
      await overSocket.received.until((r) => r.ended);
      expect(overSocket.received.results.flatMap((r) => r.errors ?? [])).toEqual([
        expect.objectContaining({ message: "at most 3 subscriptions per connection", extensions: expect.objectContaining({ code: "RATE_LIMITED" }) }),
      ]);

      open.push(subscribeWs(second, StoryEventsFeed, { storyId }), subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token));
      await Promise.all(open.map(firstEvent));
      const overUser = [subscribeWs(second, StoryEventsFeed, { storyId }), subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token)];
      for (const refused of overUser) {
        await refused.received.until((r) => r.ended);
        expect(refused.received.results.flatMap((r) => r.errors ?? [])).toEqual([
          expect.objectContaining({ message: "at most 5 open subscriptions per user", extensions: expect.objectContaining({ code: "RATE_LIMITED" }) }),
        ]);
      }
      expect(live.app.live.size).toBe(5);

      // a place freed is a place taken
      open.pop()!.stop();
      await eventually(() => live.app.live.size === 4, 1_000, "one left");
      const again = subscribeSse(live.server.url, StoryEventsFeed, { storyId }, token);
      open.push(again);
      await firstEvent(again);
    } finally {
      for (const subscription of open) subscription.stop();
      await first.dispose();
      await second.dispose();
    }
  });
});

describe("SIGTERM", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  // a process starting its embedded database takes a while on a busy machine
  it("ends open WebSocket and SSE subscriptions and exits 0 within 10 s", { timeout: 180_000 }, async () => {
    const server = await startServerProcess({ ...databaseEnv(database), JWT_SECRET: TEST_TOKEN_SECRET });
    try {
      // the fixtures only ask a server to answer queries
      const client = { query: (document, variables, token) => queryOver(server.url, document, variables, token) } as Pick<TestServer, "query"> as TestServer;
      const { token } = await signUpWriter(client);
      const storyId = await createStory(client, token);
      const ws = wsClient(server.url, token);
      const viaWs = subscribeWs(ws, StoryEventsFeed, { storyId });
      const viaSse = subscribeSse(server.url, StoryEventsFeed, { storyId }, token);
      // a process just started on a busy machine may take a while to serve its first subscription
      await Promise.all([viaWs, viaSse].map((s) => s.received.until((r) => r.data.length > 0, 60_000))).catch((error: unknown) => {
        throw new Error(`${String(error)}\nserver output:\n${server.output()}`);
      });

      const started = Date.now();
      const code = await server.stop("SIGTERM");
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      await Promise.all([viaWs, viaSse].map((s) => s.received.until((r) => r.ended, 2_000)));
      expect(server.output()).toContain("stopped");
    } finally {
      await server.stop("SIGKILL");
    }
  });
});
