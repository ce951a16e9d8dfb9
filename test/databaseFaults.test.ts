// PostgreSQL connections that die under the server (failover, pooler idle kill, restart —
// here pg_terminate_backend): the process survives, the request answers a retryable
// SERVICE_UNAVAILABLE, nothing half-done is committed, and the pool replaces the connection.
// The embedded database has no connections to kill.
import net from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StoryEvents, StoryEventsFeed, WriteModule } from "./support/documents.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { graphql } from "./generated/gql.ts";

const ModuleUpdatesAfter = graphql(`
  subscription ModuleUpdatesAfter($storyId: ID!, $after: Int) {
    moduleUpdated(storyId: $storyId, after: $after) { module { name } event { seq } }
  }
`);
import { backend, createTestDatabase } from "./support/databases.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { waitForLockedBackend } from "./support/lockWaits.ts";
import { idOf } from "../src/graphql/globalIds.ts";
import { verifyReadTables } from "../src/projection/verify.ts";

describe.skipIf(backend === "pglite")("database connections that die", () => {
  let server: TestServer;
  let admin: pg.Client;
  let token: string;
  const logLines: string[] = [];
  let startedAt = 0;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    startedAt = Date.now();
    server = await startTestServer(undefined, { logLines });
    admin = new pg.Client({ connectionString: server.database.directUrl });
    await admin.connect();
    ({ token } = await signUpWriter(server));
  });
  afterAll(async () => {
    await admin?.end();
    await server?.close();
  });
  // vitest fails a run on an uncaught exception too; this names it in the test that caused it
  beforeEach(() => {
    uncaught.length = 0;
    process.on("uncaughtException", onUncaught);
  });
  afterEach(() => {
    process.off("uncaughtException", onUncaught);
  });

  /** Ends every connection the server has to its database. */
  const terminateServerConnections = () =>
    admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");

  const eventsOf = async (storyId: string) => (await server.query(StoryEvents, { id: storyId, first: 100 }, token)).story!.events;

  it("a request whose connection dies answers SERVICE_UNAVAILABLE, safe to retry: none of it was committed, and the retry applies it once", async () => {
    const storyId = await createStory(server, token);
    const input = { storyId, module: "IDEA_SPARK" as const, output: { logline: "written once" }, idempotencyKey: "dies-mid-request" };

    // given a write waiting for the story's lock, which the test holds
    await admin.query("BEGIN");
    let failed: GraphQLResponse<unknown>;
    try {
      await admin.query("SELECT 1 FROM stories WHERE id = $1 FOR UPDATE", [idOf("Story", storyId)]);
      const answer = server.request(WriteModule, { input }, token);
      const waiting = await waitForLockedBackend(admin, "the story's lock");
      // when its connection is killed
      await admin.query("SELECT pg_terminate_backend($1)", [waiting]);
      failed = await answer;
    } finally {
      await admin.query("ROLLBACK");
    }

    // then it answers a coded, retryable error, not an internal one
    expect(errorCodes(failed)).toEqual(["SERVICE_UNAVAILABLE"]);
    expect(failed.errors![0]!.message).toMatch(/safe to retry/);
    expect(failed.data ?? null).toBeNull();
    // nothing of it was committed, and the server answers on new connections
    expect((await eventsOf(storyId)).map((e) => e.type)).toEqual(["StoryCreated"]);
    // the retry with the same key is carried out, once
    const retried = await server.query(WriteModule, { input }, token);
    expect(retried.writeModule.replayed).toBe(false);
    expect(retried.writeModule.event.seq).toBe(2);
    const replayed = await server.query(WriteModule, { input }, token);
    expect(replayed.writeModule.replayed).toBe(true);
    expect((await eventsOf(storyId)).map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten"]);
    expect(uncaught).toEqual([]);
  });

  it("writers under 20 rounds of killed connections: the process survives, every acknowledged write is in the log exactly once, the pool recovers", async () => {
    const stories = await Promise.all([1, 2, 3, 4].map((n) => createStory(server, token, `Story ${n}`)));
    const acknowledged: { storyId: string; key: string; eventId: string; replayed: boolean }[] = [];
    const unexpected: GraphQLResponse<unknown>[] = [];
    let retries = 0;
    let killing = true;

    // writes until acknowledged, sending the same idempotency key again after SERVICE_UNAVAILABLE
    const writeUntilAcknowledged = async (storyId: string, key: string, n: number) => {
      const input = { storyId, module: "WORLD_SEED" as const, output: { setting: `world ${key}`, n }, idempotencyKey: key };
      for (let attempt = 0; attempt < 100; attempt++) {
        const answer = await server.request(WriteModule, { input }, token);
        if (answer.data?.writeModule) {
          const { event, replayed } = answer.data.writeModule;
          acknowledged.push({ storyId: idOf("Story", storyId), key, eventId: idOf("StoryEvent", event.id), replayed });
          return;
        }
        if (errorCodes(answer).join() !== "SERVICE_UNAVAILABLE") {
          unexpected.push(answer);
          return;
        }
        retries++;
      }
      throw new Error(`${key} was never acknowledged`);
    };
    // 8 writers, two per story; each keeps writing while the connections are being killed
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      const storyId = stories[writer % stories.length]!;
      for (let n = 0; killing || n < 3; n++) await writeUntilAcknowledged(storyId, `writer-${writer}-${n}`, n);
    });
    try {
      for (let round = 0; round < 20; round++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await terminateServerConnections();
      }
    } finally {
      killing = false;
      await Promise.all(writers);
    }

    expect(unexpected).toEqual([]);
    expect(uncaught).toEqual([]);
    expect(retries).toBeGreaterThan(0); // the faults did hit requests
    // every acknowledged write is in the log exactly once, as the event it was acknowledged with
    const { rows } = await admin.query<{ story_id: string; idempotency_key: string | null; id: string; seq: number }>(
      "SELECT story_id, idempotency_key, id, seq FROM story_events WHERE story_id = ANY($1::uuid[]) ORDER BY story_id, seq",
      [stories.map((id) => idOf("Story", id))],
    );
    const written = rows.filter((row) => row.idempotency_key !== null);
    const firstAcknowledgements = new Map(acknowledged.map((a) => [a.key, a]));
    expect(firstAcknowledgements.size).toBe(acknowledged.length); // each key acknowledged once
    expect(new Set(written.map((row) => row.idempotency_key)).size).toBe(written.length);
    expect(written.map((row) => [row.idempotency_key, row.story_id, row.id]).sort()).toEqual(
      acknowledged.map((a) => [a.key, a.storyId, a.eventId]).sort(),
    );
    // no gap in any story's log
    for (const storyId of stories) {
      const seqs = rows.filter((row) => row.story_id === idOf("Story", storyId)).map((row) => row.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    expect(await verifyReadTables(server.db)).toEqual([]);

    // the pool has recovered: the next request succeeds at once
    const after = await server.request(WriteModule, { input: { storyId: stories[0]!, module: "IDEA_SPARK", output: { logline: "after" } } }, token);
    expect(after.errors).toBeUndefined();
    // the breaks were logged as warnings, once per burst; no request failed with an unexpected error
    const entries = logLines.map((line) => JSON.parse(line) as { level: string; msg: unknown });
    const breaks = entries.filter((entry) => String(entry.msg).startsWith("a database connection broke"));
    expect(breaks.length).toBeGreaterThanOrEqual(1);
    expect(breaks.length).toBeLessThanOrEqual(Math.ceil((Date.now() - startedAt) / 10_000));
    expect(breaks.every((entry) => entry.level === "warn")).toBe(true);
    expect(entries.filter((entry) => entry.msg === "unexpected error")).toEqual([]);
  }, 60_000);

  it("subscribers of storyEvents and moduleUpdated end with every change exactly once, without errors, while connections are killed", async () => {
    const storyId = await createStory(server, token);
    const ws = wsClient(server.url, token);
    const events = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
    const updates = subscribeWs(ws, ModuleUpdatesAfter, { storyId, after: 1 });
    const modules = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await new Promise((resolve) => setTimeout(resolve, 120));
        await terminateServerConnections();
      }
    })();
    const written: { seq: number; module: string }[] = [];
    try {
      for (let n = 0; n < 30; n++) {
        const module = modules[n % modules.length]!;
        const input = { storyId, module, output: { note: `change ${n}` }, idempotencyKey: `subscribed-${n}` };
        for (;;) {
          const response = await server.request(WriteModule, { input }, token);
          if (!response.errors) {
            written.push({ seq: response.data!.writeModule.event.seq, module });
            break;
          }
          expect(errorCodes(response)).toEqual(["SERVICE_UNAVAILABLE"]);
        }
      }
    } finally {
      killing = false;
      await killer;
    }
    try {
      const last = written.at(-1)!.seq;
      await events.received.until((r) => r.data.some((d) => d.storyEvents.seq === last), 20_000);
      await updates.received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === last), 20_000);
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more, and nothing twice, comes after
      expect(events.received.results.filter((r) => r.errors)).toEqual([]);
      expect(events.received.data.map((d) => d.storyEvents.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      expect(updates.received.results.filter((r) => r.errors)).toEqual([]);
      expect(updates.received.data.map((d) => [d.moduleUpdated.event.seq, d.moduleUpdated.module.name])).toEqual(
        written.map((w) => [w.seq, w.module]),
      );
      expect(uncaught).toEqual([]);
    } finally {
      events.stop();
      updates.stop();
      await ws.dispose();
    }
  }, 90_000);
});

/**
 * A TCP relay to PostgreSQL that can stop answering, as a database behind a failover or a
 * dropped route does: connections stay open, and nothing comes back.
 */
async function silenceableRelay(target: URL) {
  const sockets = new Set<net.Socket>();
  let silent = false;
  const relay = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (silent) return; // accepted, never answered
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("data", (chunk) => !silent && upstream.write(chunk));
    upstream.on("data", (chunk) => !silent && client.write(chunk));
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String((relay.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    silence: () => void (silent = true),
    answer: () => void (silent = false),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

describe.skipIf(backend === "pglite")("a database that stops answering", () => {
  it("requests answer SERVICE_UNAVAILABLE within the timeouts instead of hanging, and the server recovers when it answers again", async () => {
    const database = await createTestDatabase();
    const relay = await silenceableRelay(new URL(database.databaseUrl!));
    const logLines: string[] = [];
    const server = await startTestServer({ ...database, databaseUrl: relay.url }, { logLines, databaseQueryTimeoutMs: 1_500 });
    try {
      const { token } = await signUpWriter(server);
      const storyId = await createStory(server, token);
      relay.silence();

      // on a connection the pool already holds: the statement timeout gives it up
      const started = Date.now();
      const writes = await Promise.all(
        ["IDEA_SPARK", "WORLD_SEED"].map((module, i) =>
          server.request(WriteModule, { input: { storyId, module: module as "IDEA_SPARK", output: { note: `silent ${i}` }, idempotencyKey: `silent-${i}` } }, token),
        ),
      );
      const elapsed = Date.now() - started;
      expect(writes.map(errorCodes)).toEqual([["SERVICE_UNAVAILABLE"], ["SERVICE_UNAVAILABLE"]]);
      // the statement timeout (1.5 s) or the connect timeout (5 s), not the minutes TCP would wait
      expect(elapsed).toBeLessThan(12_000);

      relay.answer();
      // the retries, with the same keys, are applied once each
      const retried = await Promise.all(
        ["IDEA_SPARK", "WORLD_SEED"].map((module, i) =>
          server.request(WriteModule, { input: { storyId, module: module as "IDEA_SPARK", output: { note: `silent ${i}` }, idempotencyKey: `silent-${i}` } }, token),
        ),
      );
      expect(retried.map((r) => r.errors)).toEqual([undefined, undefined]);
      const events = (await server.query(StoryEvents, { id: storyId, first: 100 }, token)).story!.events;
      expect(events.map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten", "ModuleWritten"]);
      const entries = logLines.map((line) => JSON.parse(line) as { level: string; msg: unknown });
      expect(entries.some((e) => e.level === "warn" && String(e.msg).startsWith("a database connection broke"))).toBe(true);
      expect(entries.filter((e) => e.msg === "unexpected error")).toEqual([]);
    } finally {
      await server.stop();
      await relay.close();
      await database.drop();
    }
  }, 60_000);
});
