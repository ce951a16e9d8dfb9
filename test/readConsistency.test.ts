// One answer, one revision (issue 9, item 6): a query's fields are read by many statements, and
// with writers committing meanwhile they must still all come from one snapshot of the database:
// a story's modules always equal its active version's snapshot, over HTTP and WebSocket alike.
import { isDeepStrictEqual } from "node:util";
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { Client } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODULES } from "../src/domain/catalogue.ts";
import { idOf } from "../src/graphql/globalIds.ts";
import { graphql } from "./generated/gql.ts";
import { RestoreVersion, Undo, WriteModule } from "./support/documents.ts";
import { backend } from "./support/databases.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

const ConsistentStory = graphql(`
  query ConsistentStory($id: ID!) {
    story(id: $id) { revision activeVersion { number snapshot } modules { name output } }
  }
`);

const StoryWithMissingRevision = graphql(`
  query StoryWithMissingRevision($id: ID!) {
    story(id: $id) { revision at(revision: 100000) { revision } modules { name } }
  }
`);

const NodeById = graphql(`
  query NodeById($id: ID!) { node(id: $id) { id } }
`);

const READS = 2_400;
const HTTP_READERS = 6;
const WS_READERS = 2;
const WRITERS = 4;

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server, "reader"));
});
afterAll(() => server?.close());

type Answer = GraphQLResponse<{
  story: { revision: number; activeVersion: { number: number; snapshot: unknown }; modules: { name: string; output: unknown }[] } | null;
}>;

/** Whether the answer's modules are exactly its active version's snapshot. */
function modulesMatchVersion(answer: Answer): boolean {
  const story = answer.data!.story!;
  const snapshot = story.activeVersion.snapshot as Record<string, unknown>;
  return MODULES.every((definition) => {
    const module = story.modules.find((m) => m.name === definition.name);
    return module !== undefined && isDeepStrictEqual(module.output, snapshot[definition.snapshotKey]);
  });
}

/** One query over a graphql-ws connection: its single result. */
function queryOverWs<T, V>(client: Client, document: TypedDocumentNode<T, V>, variables: V): Promise<GraphQLResponse<T>> {
  return new Promise((resolve, reject) => {
    let result: GraphQLResponse<T> = {};
    client.subscribe<T>(
      { query: print(document), variables: variables as Record<string, unknown> },
      { next: (next) => (result = next as GraphQLResponse<T>), error: reject, complete: () => resolve(result) },
    );
  });
}

describe("one answer, one revision", () => {
  it(`${READS.toLocaleString("en-US")} reads of a story while ${WRITERS} writers write, undo and restore it: none mixes two revisions`, async () => {
    const storyId = await createStory(server, token, "Read while written");
    let reading = true;
    const writes = { done: 0, modulesWritten: 0, refused: [] as unknown[] };
    let newestVersion = 1;

    // given writers changing the story's modules and its active version as fast as they can
    const writer = async (n: number) => {
      for (let i = 0; reading; i++) {
        const step = i % 4;
        const answer =
          step === 0 || step === 1
            ? await server.request(
                WriteModule,
                { input: { storyId, module: step === 0 ? "IDEA_SPARK" : "WORLD_SEED", output: step === 0 ? { logline: `writer ${n}, ${i}` } : { setting: `world ${n}, ${i}` } } },
                token,
              )
            : step === 2
              ? await server.request(Undo, { input: { storyId } }, token)
              : await server.request(RestoreVersion, { input: { storyId, number: 1 + ((n * 7 + i) % newestVersion) } }, token);
        if (answer.errors) writes.refused.push(...errorCodes(answer));
        else writes.done++;
        const version = (answer.data as { writeModule?: { version: { number: number } } } | null | undefined)?.writeModule?.version.number;
        if (version !== undefined) {
          writes.modulesWritten++;
          newestVersion = Math.max(newestVersion, version);
        }
      }
    };

    // when readers, over HTTP and over WebSocket, read its revision, active version and modules in one query each
    const answers: Answer[] = [];
    const sockets = Array.from({ length: WS_READERS }, () => wsClient(server.url, token));
    const readers = [
      ...Array.from({ length: HTTP_READERS }, async () => {
        while (answers.length < READS) answers.push(await server.request(ConsistentStory, { id: storyId }, token));
      }),
      ...sockets.map(async (socket) => {
        while (answers.length < READS) answers.push(await queryOverWs(socket, ConsistentStory, { id: storyId }));
      }),
    ];
    const writing = Array.from({ length: WRITERS }, (_, n) => writer(n));
    try {
      await Promise.all(readers);
    } finally {
      reading = false;
      await Promise.all(writing);
      for (const socket of sockets) await socket.dispose();
    }

    // then every answer is whole, and in every one the modules are the active version's
    expect(answers.filter((answer) => answer.errors !== undefined || !answer.data?.story)).toEqual([]);
    const mixed = answers.filter((answer) => !modulesMatchVersion(answer));
    expect({ mixed: mixed.length, first: mixed[0] ?? null }).toEqual({ mixed: 0, first: null });
    // and the writers did change the story under the readers: the answers saw many revisions
    expect(writes.done).toBeGreaterThan(20);
    expect(new Set(writes.refused)).toEqual(new Set(writes.refused.length > 0 ? ["NOTHING_TO_UNDO"] : []));
    expect(new Set(answers.map((answer) => answer.data!.story!.revision)).size).toBeGreaterThan(10);
    // every module written was counted in the usage log (written beside the answer, never through a reader's snapshot)
    const logged = () => server.db.prisma.moduleUsageLog.count({ where: { storyId: idOf("Story", storyId), outcome: "written" } });
    for (let wait = 0; wait < 100 && (await logged()) < writes.modulesWritten; wait++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await logged()).toBe(writes.modulesWritten);
  });

  it("errors keep their codes", async () => {
    const storyId = await createStory(server, token, "Errors in a snapshot");
    const missing = await server.request(StoryWithMissingRevision, { id: storyId }, token);
    expect(errorCodes(missing)).toEqual(["NOT_FOUND"]);
    expect(missing.errors![0]!.path).toEqual(["story", "at"]);
    expect(missing.data).toEqual({ story: null }); // `at` is not nullable: the story goes with it, as before

    const stranger = await server.request(ConsistentStory, { id: storyId }, null);
    expect(errorCodes(stranger)).toEqual(["UNAUTHENTICATED"]);

    const malformed = await server.request(ConsistentStory, { id: storyId }, "not a token");
    expect(errorCodes(malformed)).toEqual(["UNAUTHENTICATED"]);

    // and the next query, in a transaction of its own, reads normally
    const { story } = await server.query(ConsistentStory, { id: storyId }, token);
    expect(story!.revision).toBe(1);
  });

  it("a query that waits 5 s for the database answers SERVICE_UNAVAILABLE, safe to retry, and the next one is served", async () => {
    const storyId = await createStory(server, token, "Busy database");
    // given every connection of the pool (the embedded database: its one turn) held by long transactions
    const holders = backend === "postgres" ? 20 : 1;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding = 0;
    const held = Array.from({ length: holders }, () =>
      server.db.prisma.$transaction(
        async (tx) => {
          await tx.$queryRaw`SELECT 1`;
          holding++;
          await released;
        },
        { maxWait: 5_000, timeout: 30_000 },
      ),
    );
    try {
      while (holding < holders) await new Promise((resolve) => setTimeout(resolve, 20));
      // when a query comes that needs no token check (that would wait too), only its transaction
      const started = Date.now();
      const busy = await server.request(NodeById, { id: storyId }, null);
      // then it gives up after the wait, with the retryable code
      expect(errorCodes(busy)).toEqual(["SERVICE_UNAVAILABLE"]);
      expect(busy.errors![0]!.message).toMatch(/safe to retry/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_500);
    } finally {
      release();
      await Promise.all(held);
    }
    const { story } = await server.query(ConsistentStory, { id: storyId }, token);
    expect(story!.revision).toBe(1);
  });

  it.skipIf(backend === "pglite")("readers whose connections are killed answer whole or SERVICE_UNAVAILABLE, never mixed, and the pool recovers", async () => {
    const storyId = await createStory(server, token, "Read while connections die");
    const admin = new pg.Client({ connectionString: server.database.directUrl });
    await admin.connect();
    const answers: Answer[] = [];
    let reading = true;
    try {
      const readers = Array.from({ length: 4 }, async () => {
        while (reading) answers.push(await server.request(ConsistentStory, { id: storyId }, token));
      });
      const writing = (async () => {
        for (let i = 0; reading; i++) {
          await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: `line ${i}` } } }, token);
        }
      })();
      for (let round = 0; round < 10; round++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
      }
      reading = false;
      await Promise.all([...readers, writing]);
    } finally {
      reading = false;
      await admin.end();
    }
    const failed = answers.filter((answer) => answer.errors !== undefined);
    expect(failed.length).toBeGreaterThan(0); // the kills did hit readers
    expect(new Set(failed.map((answer) => errorCodes(answer).join()))).toEqual(new Set(failed.length > 0 ? ["SERVICE_UNAVAILABLE"] : []));
    const whole = answers.filter((answer) => answer.errors === undefined);
    expect(whole.length).toBeGreaterThan(0);
    expect(whole.filter((answer) => !modulesMatchVersion(answer))).toEqual([]);
    const { story } = await server.query(ConsistentStory, { id: storyId }, token);
    expect(modulesMatchVersion({ data: { story } })).toBe(true);
  });
});
