// Presence: who is in a story and on which module, ending when their connection ends — closed,
// vanished without a word, an SSE stream dropped, an instance killed — across instances through
// Redis, with Redis going away mid-way, and refused to strangers and to floods.
import net from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { print } from "graphql";
import { graphql } from "./generated/gql.ts";
import { DeleteStory, SignIn, SignUp } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Received, type Subscription } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { backend, createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { databaseEnv, freePort, startServerProcess, type ServerProcess } from "./support/processes.ts";
import { throwawayRedis, type ThrowawayRedis } from "./support/redis.ts";
import { encodeGlobalId } from "../src/domain/globalIds.ts";

const SetPresence = graphql(`
  mutation SetPresence($input: SetPresenceInput!) {
    setPresence(input: $input) {
      expiresAt
      presence { members { user { username } module connections } }
    }
  }
`);

const ClearPresence = graphql(`
  mutation ClearPresence($input: ClearPresenceInput!) {
    clearPresence(input: $input) { presence { members { module } } }
  }
`);

const StoryPresenceFeed = graphql(`
  subscription StoryPresenceFeed($storyId: ID!) {
    storyPresence(storyId: $storyId) {
      story { id title }
      upToDate
      members { user { id username } module since lastSeenAt connections }
    }
  }
`);

type PresenceMessage = { storyPresence: { upToDate: boolean; story: { id: string }; members: { user: { username: string }; module: string | null; connections: number }[] } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The latest list a subscriber was sent. */
const latest = (received: Received<PresenceMessage>) => received.data.at(-1)?.storyPresence;
/** Waits until the latest list shows these modules (null: on none), one per present user. */
const showing = (subscription: Subscription<PresenceMessage>, modules: (string | null)[], timeoutMs = 5_000) =>
  subscription.received.until((r) => {
    const list = latest(r);
    return list !== undefined && list.upToDate && JSON.stringify(list.members.map((m) => m.module)) === JSON.stringify(modules);
  }, timeoutMs);
const codesOf = (received: Received<unknown>) => received.results.flatMap((r) => (r.errors ?? []).map((e) => e.extensions?.code));

/** A second token of the same user: another device. */
async function anotherDevice(server: TestServer, email: string): Promise<string> {
  const { signIn } = await server.query(SignIn, { input: { email, password: "correct horse battery" } });
  return signIn.token;
}

async function signUp(server: TestServer, name: string) {
  const email = `${name}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, email };
}

type Tab = ReturnType<typeof wsClient> & { watching: Subscription<PresenceMessage> };

/** A tab of a client app: one WebSocket, watching the story's presence on it, and saying where it is over it. */
async function openTab(url: string, token: string, storyId: string): Promise<Tab> {
  const client = wsClient(url, token);
  // (graphql-ws clients are lazy: the socket stays open while an operation runs on it)
  const watching = subscribeWs(client, StoryPresenceFeed, { storyId });
  await watching.received.until((r) => r.data.length > 0);
  return Object.assign(client, { watching });
}

async function setOverSocket(tab: Tab, storyId: string, module: string | null) {
  const answer = subscribeWs(tab, SetPresence, { input: { storyId, module: module as never } });
  await answer.received.until((r) => r.ended);
  return answer.received.results[0]!;
}

/**
 * A TCP proxy whose client can vanish: its side is destroyed while the side facing the server stays
 * open and silent, as when a laptop's lid closes or a network drops — no close frame, no FIN.
 */
async function vanishingProxy(serverUrl: string) {
  const target = new URL(serverUrl);
  const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  const listener = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) socket.on("error", () => {});
    client.pipe(upstream).pipe(client);
    pairs.push({ client, upstream });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => listener.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    vanish() {
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        client.unpipe(upstream);
        upstream.pause(); // the server's pings are never read, never answered
        client.destroy();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

describe("presence in one instance", () => {
  let server: TestServer;
  let token: string;
  let email: string;
  beforeAll(async () => {
    server = await startTestServer(undefined, { presence: { heartbeatMs: 300 } });
    ({ token, email } = await signUp(server, "ada"));
  });
  afterAll(() => server?.close());

  it("shows a setPresence to storyPresence subscribers at once, and a module change after it", async () => {
    const storyId = await createStory(server, token);
    const watcher = wsClient(server.url, token);
    const watching = subscribeWs(watcher, StoryPresenceFeed, { storyId });
    try {
      // the whole list comes at subscribe time: nobody yet
      await watching.received.until((r) => r.data.length > 0);
      expect(latest(watching.received)).toMatchObject({ story: { id: storyId }, upToDate: true, members: [] });

      const before = Date.now();
      const { setPresence } = await server.query(SetPresence, { input: { storyId, module: "IDEA_SPARK" } }, token);
      expect(setPresence.presence.members).toEqual([{ user: { username: "ada" }, module: "IDEA_SPARK", connections: 1 }]);
      // over HTTP it runs out unless renewed (or held by an open subscription of the same token: this one)
      expect(Date.parse(setPresence.expiresAt!)).toBeGreaterThanOrEqual(before + 29_000);
      await showing(watching, ["IDEA_SPARK"]);

      await server.query(SetPresence, { input: { storyId, module: "WORLD_SEED" } }, token);
      await showing(watching, ["WORLD_SEED"]);
      await server.query(SetPresence, { input: { storyId, module: null } }, token);
      await showing(watching, [null]);

      await server.query(ClearPresence, { input: { storyId } }, token);
      await showing(watching, []);
    } finally {
      watching.stop();
      await watcher.dispose();
    }
  });

  it("counts a user once however many tabs, with the module of the latest; a closed WebSocket's presence ends within a second", async () => {
    const storyId = await createStory(server, token);
    const watching = subscribeSse(server.url, StoryPresenceFeed, { storyId }, await anotherDevice(server, email));
    const firstTab = await openTab(server.url, token, storyId);
    const secondTab = await openTab(server.url, token, storyId);
    try {
      expect((await setOverSocket(firstTab, storyId, "CHARACTER_FORGE")).errors).toBeUndefined();
      await showing(watching, ["CHARACTER_FORGE"]);
      const answer = await setOverSocket(secondTab, storyId, "PLOT_SKELETON");
      expect(answer.data).toMatchObject({ setPresence: { expiresAt: null } }); // the socket's: as long as it lives
      await watching.received.until((r) => latest(r)?.members[0]?.connections === 2);
      expect(latest(watching.received)!.members).toMatchObject([{ module: "PLOT_SKELETON", connections: 2 }]);

      await secondTab.dispose(); // a tab closes: its socket closes with a close frame
      await watching.received.until((r) => latest(r)?.members[0]?.connections === 1, 1_000);
      const closed = Date.now();
      await firstTab.dispose();
      await showing(watching, [], 1_000);
      expect(Date.now() - closed).toBeLessThan(1_000);
    } finally {
      watching.stop();
      await firstTab.dispose();
      await secondTab.dispose();
    }
  });

  it("ends the presence of a WebSocket client that vanishes without a close frame within a few heartbeats", async () => {
    const storyId = await createStory(server, token);
    const watching = subscribeSse(server.url, StoryPresenceFeed, { storyId }, token);
    const proxy = await vanishingProxy(server.url);
    const tab = await openTab(proxy.url, token, storyId);
    try {
      expect((await setOverSocket(tab, storyId, "WORDSMITH_LAB")).errors).toBeUndefined();
      await showing(watching, ["WORDSMITH_LAB"]);
      // a socket that answers stays, heartbeat after heartbeat (an unrenewed entry runs out after 3 of them)
      await sleep(1_500);
      expect(latest(watching.received)!.members.map((m) => m.module)).toEqual(["WORDSMITH_LAB"]);
      const vanished = Date.now();
      proxy.vanish();
      await showing(watching, [], 3_000);
      // heartbeats of 300 ms: the socket missed one ping and was dropped (graphql-ws's own pings come every 30 s)
      expect(Date.now() - vanished).toBeLessThan(2_500);
    } finally {
      watching.stop();
      await tab.dispose();
      await proxy.close();
    }
  });

  it("ends an HTTP presence as soon as the last SSE storyPresence stream of the same token disconnects", async () => {
    const storyId = await createStory(server, token);
    const otherDevice = await anotherDevice(server, email);
    const watcher = wsClient(server.url, otherDevice);
    const watching = subscribeWs(watcher, StoryPresenceFeed, { storyId });
    const streams = [subscribeSse(server.url, StoryPresenceFeed, { storyId }, token), subscribeSse(server.url, StoryPresenceFeed, { storyId }, token)];
    try {
      await Promise.all(streams.map((s) => s.received.until((r) => r.data.length > 0)));
      await server.query(SetPresence, { input: { storyId, module: "IDEA_SPARK" } }, token);
      await showing(watching, ["IDEA_SPARK"]);
      streams[0]!.stop(); // one tab of two closes: still there
      await sleep(600);
      expect(latest(watching.received)!.members).toHaveLength(1);
      const disconnected = Date.now();
      streams[1]!.stop();
      await showing(watching, [], 2_000); // not the 30 s an HTTP presence lasts alone
      expect(Date.now() - disconnected).toBeLessThan(2_000);
    } finally {
      for (const s of streams) s.stop();
      watching.stop();
      await watcher.dispose();
    }
  });

  it("ends storyPresence with NOT_FOUND when the story is deleted", async () => {
    const storyId = await createStory(server, token);
    const watching = subscribeSse(server.url, StoryPresenceFeed, { storyId }, token);
    await watching.received.until((r) => r.data.length > 0);
    await server.query(DeleteStory, { input: { id: storyId } }, token);
    await watching.received.until((r) => r.ended, 2_000);
    expect(codesOf(watching.received)).toEqual(["NOT_FOUND"]);
  });

  it("answers a stranger exactly what a missing story gets, over HTTP, WebSocket and SSE", async () => {
    const storyId = await createStory(server, token);
    const stranger = await signUpWriter(server, "stranger");
    const answer = async (id: string) => {
      const set = await server.request(SetPresence, { input: { storyId: id, module: "IDEA_SPARK" } }, stranger.token);
      const clear = await server.request(ClearPresence, { input: { storyId: id } }, stranger.token);
      const sse = subscribeSse(server.url, StoryPresenceFeed, { storyId: id }, stranger.token);
      const client = wsClient(server.url, stranger.token);
      const ws = subscribeWs(client, StoryPresenceFeed, { storyId: id });
      await Promise.all([sse, ws].map((s) => s.received.until((r) => r.ended)));
      await client.dispose();
      const shape = (r: GraphQLResponse<unknown>) => ({ data: r.data ?? null, errors: r.errors?.map((e) => ({ message: e.message, code: e.extensions?.code })) });
      return { set: shape(set), clear: shape(clear), sse: sse.received.results.map(shape), ws: ws.received.results.map(shape) };
    };
    const [strangers, missings] = [await answer(storyId), await answer(encodeGlobalId("Story", crypto.randomUUID()))];
    expect(strangers.set.errors?.[0]?.code).toBe("NOT_FOUND");
    expect(strangers.ws[0]!.errors?.[0]?.code).toBe("NOT_FOUND");
    expect(strangers).toEqual(missings);
    // and nothing was stored for the stranger
    expect((await server.query(SetPresence, { input: { storyId, module: null } }, token)).setPresence.presence.members).toEqual([
      { user: { username: "ada" }, module: null, connections: 1 },
    ]);
    // without a token: UNAUTHENTICATED
    expect(errorCodes(await server.request(SetPresence, { input: { storyId, module: null } }, null))).toEqual(["UNAUTHENTICATED"]);
  });
});

describe("what presence may cost", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(undefined, { presence: { heartbeatMs: 300, ttlMs: 1_000, updatesPerMinute: 8, maxConnectionsPerUser: 2, maxStoriesPerSocket: 2 } });
  });
  afterAll(() => server?.close());

  it("refuses a flood of setPresence with RATE_LIMITED and a retryAfter", async () => {
    const { token } = await signUp(server, "flooder");
    const storyId = await createStory(server, token);
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await server.request(SetPresence, { input: { storyId, module: i % 2 ? "IDEA_SPARK" : "WORLD_SEED" } }, token));
    expect(answers.slice(0, 8).flatMap(errorCodes)).toEqual([]);
    expect(answers.slice(8).map(errorCodes)).toEqual([["RATE_LIMITED"], ["RATE_LIMITED"]]);
    expect(answers[8]!.errors![0]!.extensions).toMatchObject({ code: "RATE_LIMITED", limit: "presenceUpdatesPerMinute", retryAfter: expect.any(Number) });
  });

  it("holds at most so many connections of one user in a story: the next is RATE_LIMITED", async () => {
    const { token, email } = await signUp(server, "many-tabs");
    const storyId = await createStory(server, token);
    const tabs = [await openTab(server.url, token, storyId), await openTab(server.url, token, storyId), await openTab(server.url, token, storyId)];
    try {
      expect((await setOverSocket(tabs[0]!, storyId, null)).errors).toBeUndefined();
      expect((await setOverSocket(tabs[1]!, storyId, null)).errors).toBeUndefined();
      const third = await setOverSocket(tabs[2]!, storyId, null);
      expect(third.errors?.[0]).toMatchObject({ extensions: { code: "RATE_LIMITED", limit: "presencePerUser" } });
      // nor over HTTP, on another device
      const refused = await server.request(SetPresence, { input: { storyId, module: null } }, await anotherDevice(server, email));
      expect(errorCodes(refused)).toEqual(["RATE_LIMITED"]);
    } finally {
      for (const tab of tabs) await tab.dispose();
    }
  });

  it("lets one WebSocket be present in so many stories at once: the next is RATE_LIMITED until it leaves one", async () => {
    const { token } = await signUp(server, "roamer");
    const stories = [await createStory(server, token), await createStory(server, token), await createStory(server, token)];
    const tab = await openTab(server.url, token, stories[0]!);
    try {
      expect((await setOverSocket(tab, stories[0]!, null)).errors).toBeUndefined();
      expect((await setOverSocket(tab, stories[1]!, null)).errors).toBeUndefined();
      expect((await setOverSocket(tab, stories[2]!, null)).errors?.[0]).toMatchObject({
        extensions: { code: "RATE_LIMITED", limit: "presenceStoriesPerConnection" },
      });
      const leave = subscribeWs(tab, ClearPresence, { input: { storyId: stories[1]! } });
      await leave.received.until((r) => r.ended);
      expect((await setOverSocket(tab, stories[2]!, "IDEA_SPARK")).errors).toBeUndefined();
    } finally {
      await tab.dispose();
    }
  });

  it("lets an HTTP presence run out after its time, unless an open storyPresence of the same token holds it", async () => {
    const { token, email } = await signUp(server, "http");
    const storyId = await createStory(server, token);
    const watching = subscribeSse(server.url, StoryPresenceFeed, { storyId }, await anotherDevice(server, email));
    try {
      await server.query(SetPresence, { input: { storyId, module: "IDEA_SPARK" } }, token);
      await showing(watching, ["IDEA_SPARK"]);
      await showing(watching, [], 3_000); // 1 s, then the next heartbeat's read

      const holding = subscribeSse(server.url, StoryPresenceFeed, { storyId }, token);
      await holding.received.until((r) => r.data.length > 0);
      await server.query(SetPresence, { input: { storyId, module: "WORLD_SEED" } }, token);
      await showing(watching, ["WORLD_SEED"]);
      await sleep(2_500); // well past its 1 s: held by the open stream
      expect(latest(watching.received)!.members.map((m) => m.module)).toEqual(["WORLD_SEED"]);
      holding.stop();
      await showing(watching, [], 1_500);
    } finally {
      watching.stop();
    }
  });
});

describe("presence through a Redis that goes away", () => {
  let redis: ThrowawayRedis;
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    redis = await throwawayRedis();
    await redis.start();
    server = await startTestServer(undefined, { redisUrl: redis.url, presence: { heartbeatMs: 300 } });
    ({ token } = await signUp(server, "outage"));
  });
  afterAll(async () => {
    await server?.close();
    await redis?.kill();
  });

  it("keeps running while Redis is away, says the list is not up to date, refuses setPresence with SERVICE_UNAVAILABLE, and recovers", async () => {
    const storyId = await createStory(server, token);
    const watching = subscribeSse(server.url, StoryPresenceFeed, { storyId }, token);
    const tab = await openTab(server.url, token, storyId);
    try {
      expect((await setOverSocket(tab, storyId, "PLOT_SKELETON")).errors).toBeUndefined();
      await showing(watching, ["PLOT_SKELETON"]);

      await redis.kill();
      await watching.received.until((r) => latest(r)?.upToDate === false, 5_000);
      expect(latest(watching.received)!.members.map((m) => m.module)).toEqual(["PLOT_SKELETON"]); // the last list known
      expect(errorCodes(await server.request(SetPresence, { input: { storyId, module: null } }, token))).toEqual(["SERVICE_UNAVAILABLE"]);
      // the server answers everything else
      expect((await fetch(server.url.replace("/graphql", "/health"))).ok).toBe(true);

      // back, empty (its data is gone): the socket's presence is asserted again by the next heartbeats
      await redis.start();
      await showing(watching, ["PLOT_SKELETON"], 10_000);
      expect((await server.query(SetPresence, { input: { storyId, module: "WORDSMITH_LAB" } }, token)).setPresence.presence.members).toHaveLength(1);
    } finally {
      watching.stop();
      await tab.dispose();
    }
  });
});

const redisUrl = process.env.TEST_REDIS_URL;

// Needs a database two processes can share, and Redis.
describe.runIf(backend === "postgres" && redisUrl)("presence across two server processes sharing PostgreSQL and Redis", () => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { ...databaseEnv(database), REDIS_URL: redisUrl, JWT_SECRET: "shared-secret-shared-secret-shared", PRESENCE_HEARTBEAT_MS: "300" };
    a = await startServerProcess(env);
    b = await startServerProcess(env);
  });
  afterAll(async () => {
    if (a?.child.signalCode === null) await a.stop(); // (killed by the test otherwise)
    await b?.stop();
    await database?.drop();
  });

  const post = async <T>(url: string, document: Parameters<typeof print>[0], variables: unknown, token?: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const body = (await response.json()) as { data: T; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data;
  };

  it("shows on one instance the presence set on the other, and ends it within seconds when that instance is killed outright", async () => {
    const email = `two-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const { signUp } = await post<{ signUp: { token: string } }>(a.url, SignUp, { input: { email, username: "two", password: "long enough pw" } });
    const token = signUp.token;
    const { createStory } = await post<{ createStory: { story: { id: string } } }>(a.url, graphql(`mutation PresenceStory($input: CreateStoryInput!) { createStory(input: $input) { story { id } } }`), { input: { title: "Shared" } }, token);
    const storyId = createStory.story.id;

    const watcher = wsClient(b.url, token);
    const watching = subscribeWs(watcher, StoryPresenceFeed, { storyId });
    const tab = await openTab(a.url, token, storyId);
    try {
      await watching.received.until((r) => r.data.length > 0);
      expect((await setOverSocket(tab, storyId, "IDEA_SPARK")).errors).toBeUndefined();
      await showing(watching, ["IDEA_SPARK"]);
      expect((await setOverSocket(tab, storyId, "CHARACTER_FORGE")).errors).toBeUndefined();
      await showing(watching, ["CHARACTER_FORGE"]);

      const killed = Date.now();
      const exited = once(a.child, "exit");
      a.child.kill("SIGKILL"); // no goodbye: nobody removes its entries, they run out
      await exited;
      await showing(watching, [], 5_000);
      expect(Date.now() - killed).toBeLessThan(3_000); // 3 heartbeats of 300 ms, and a read
    } finally {
      watching.stop();
      await watcher.dispose();
      await tab.dispose();
    }
  });
});
