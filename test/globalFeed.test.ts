// `story-spark events --all`: every story's events in commit order, never skipping one
// that commits after a later position was already visible.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WriteModule } from "./support/documents.ts";
import { backend } from "./support/databases.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { databaseEnv, startCli } from "./support/processes.ts";
import { START, parseCheckpoint, readAllAfter, type GlobalCheckpoint } from "../src/eventstore/globalFeed.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

/**
 * An event is readable once no older transaction is running. Transaction ids are the whole
 * cluster's: a test file running beside this one may hold the horizon back for a moment.
 */
async function untilEveryEventIsReadable(): Promise<void> {
  const db = server.db.prisma;
  const newest = await db.$queryRaw<{ last: string | null }[]>`SELECT max(transaction_id::text::bigint)::text AS last FROM story_events`;
  const last = newest[0]?.last ?? null;
  if (last === null) return;
  for (let waited = 0; ; waited += 50) {
    const rows = await db.$queryRaw<{ horizon: string }[]>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon`;
    if (BigInt(rows[0]!.horizon) > BigInt(last)) return;
    if (waited > 60_000) throw new Error(`a transaction older than ${last} is still running after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type FeedLine = { checkpoint: string; position: string; storyId: string; seq: number; type: string };
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as FeedLine);

describe("events --all", () => {
  it("prints every event of every story with a checkpoint, and --after resumes after it", async () => {
    const { token } = await signUpWriter(server);
    const first = await createStory(server, token, "First");
    const second = await createStory(server, token, "Second");
    await server.query(WriteModule, { input: { storyId: first, module: "IDEA_SPARK", output: { logline: "a" } } }, token);
    await server.query(WriteModule, { input: { storyId: second, module: "IDEA_SPARK", output: { logline: "b" } } }, token);
    await untilEveryEventIsReadable();
    await server.stop(); // the embedded database is one process's
    try {
      const all = startCli(["events", "--all"], databaseEnv(server.database));
      expect(await all.exited()).toBe(0);
      const events = parse(all.lines);
      expect(events.map((e) => [e.type, e.seq])).toEqual([
        ["StoryCreated", 1],
        ["StoryCreated", 1],
        ["ModuleWritten", 2],
        ["ModuleWritten", 2],
      ]);
      const resumed = startCli(["events", "--all", "--after", events[1]!.checkpoint], databaseEnv(server.database));
      expect(await resumed.exited()).toBe(0);
      expect(parse(resumed.lines).map((e) => e.checkpoint)).toEqual(events.slice(2).map((e) => e.checkpoint));
    } finally {
      server = await startTestServer(server.database);
    }
  });

  // The transaction id is numeric and must sort so: as text, '1000' < '999', and past the first
  // page every event of the shorter ids was skipped. A fresh embedded database starts below
  // 1,000, so there the log crosses a digit; PostgreSQL's ids are whatever the cluster is at.
  it("reads a log whose transaction ids gain a digit, page by page, every event once in (transaction, position) order", async () => {
    const db = server.db.prisma;
    const currentTransaction = async () => BigInt((await db.$queryRaw<{ id: string }[]>`SELECT pg_current_xact_id()::text AS id`)[0]!.id);
    const start = await currentTransaction();
    if (backend === "pglite") expect(start).toBeLessThan(1_000n);
    // burn ids up to ~800, so that about half of the log is below 1,000
    for (let id = start; id < 800n; id++) await currentTransaction();

    // 400 transactions of 3 events each, over 8 streams: more than one page of the CLI's 1,000
    const streams = Array.from({ length: 8 }, () => randomUUID());
    for (let i = 0; i < 400; i++) {
      const storyId = streams[i % 8]!;
      const base = Math.floor(i / 8) * 3;
      await db.$executeRaw`
        INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, created_at, active_version_number)
        SELECT gen_random_uuid(), ${storyId}::uuid, ${base}::int + g, 'StoryDetailsChanged', 1, '{"title":"raw"}', now(), 1
          FROM generate_series(1, 3) AS g`;
    }
    const table = (await db.$queryRaw<{ story_id: string; seq: number; transaction: string; position: bigint }[]>`
      SELECT story_id, seq, transaction_id::text AS transaction, position FROM story_events`)
      .map((row) => ({ storyId: row.story_id, seq: row.seq, transactionId: BigInt(row.transaction), position: BigInt(row.position) }))
      .sort((a, b) => compare(a, b));
    const expected = table.map((row) => `${row.transactionId}:${row.position}`);
    expect(table.length).toBeGreaterThan(1_200);
    if (backend === "pglite") {
      expect(table.at(0)!.transactionId).toBeLessThan(1_000n);
      expect(table.at(-1)!.transactionId).toBeGreaterThan(1_100n);
    }

    await untilEveryEventIsReadable();

    // pages of 100, each resuming after the last checkpoint of the one before
    const paged: string[] = [];
    const checkpoints: GlobalCheckpoint[] = [];
    for (let after = START; ; ) {
      const page = await readAllAfter(db, after, 100);
      if (page.length === 0) break;
      paged.push(...page.map((e) => e.checkpoint));
      after = parseCheckpoint(page.at(-1)!.checkpoint)!;
      checkpoints.push(after);
    }
    expect(paged).toEqual(expected);
    expect(checkpoints.length).toBe(Math.ceil(expected.length / 100));

    // any event's checkpoint resumes exactly at the next one
    for (let i = 0; i < expected.length - 1; i += 37) {
      const next = await readAllAfter(db, parseCheckpoint(expected[i]!)!, 2);
      expect(next.map((e) => e.checkpoint)).toEqual(expected.slice(i + 1, i + 3));
    }
    expect(await readAllAfter(db, parseCheckpoint(expected.at(-1)!)!, 100)).toEqual([]);

    await server.stop(); // the embedded database is one process's
    try {
      const all = startCli(["events", "--all"], databaseEnv(server.database));
      expect(await all.exited()).toBe(0);
      const events = parse(all.lines);
      expect(events.map((e) => e.checkpoint)).toEqual(expected);
      expect(events.map((e) => [e.storyId, e.seq])).toEqual(table.map((row) => [row.storyId, row.seq]));
      // resuming after the CLI's first page of 1,000
      const resumed = startCli(["events", "--all", "--after", events[999]!.checkpoint], databaseEnv(server.database));
      expect(await resumed.exited()).toBe(0);
      expect(parse(resumed.lines).map((e) => e.checkpoint)).toEqual(expected.slice(1_000));
    } finally {
      server = await startTestServer(server.database);
    }
  });

  // Two concurrent transactions need two connections: PostgreSQL only (PGlite has one).
  it.runIf(backend === "postgres")(
    "--follow reads two transactions that took positions in one order and committed in the other, skipping neither",
    async () => {
      const follower = startCli(["events", "--all", "--follow"], databaseEnv(server.database));
      const early = new pg.Client({ connectionString: server.database.databaseUrl });
      const late = new pg.Client({ connectionString: server.database.databaseUrl });
      await early.connect();
      await late.connect();
      const insert = (client: pg.Client, storyId: string) =>
        client.query(
          `INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, created_at, active_version_number)
           VALUES ($1, $2, 1, 'StoryDetailsChanged', 1, '{"title":"raw"}', now(), 1) RETURNING position`,
          [randomUUID(), storyId],
        );
      try {
        // the follower is polling once it has printed an event committed now
        const marker = randomUUID();
        await insert(early, marker);
        await follower.until(() => parse(follower.lines).some((e) => e.storyId === marker));
        const storyA = randomUUID();
        const storyB = randomUUID();
        await early.query("BEGIN");
        const positionA = BigInt((await insert(early, storyA)).rows[0].position);
        await late.query("BEGIN");
        const positionB = BigInt((await insert(late, storyB)).rows[0].position);
        expect(positionA < positionB).toBe(true);
        await late.query("COMMIT"); // B is committed first, with the later position

        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const seen = () => parse(follower.lines).filter((e) => e.storyId === storyA || e.storyId === storyB);
        expect(seen()).toEqual([]); // B waits: A's transaction, older, may still commit before it

        await early.query("COMMIT");
        await follower.until(() => seen().length === 2);
        expect(seen().map((e) => e.storyId)).toEqual([storyA, storyB]);
        expect(seen().map((e) => BigInt(e.position))).toEqual([positionA, positionB]);
      } finally {
        await early.end();
        await late.end();
        expect(await follower.stop()).toBe(0);
      }
    },
  );
});

function compare(a: GlobalCheckpoint, b: GlobalCheckpoint): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  return a.position < b.position ? -1 : a.position > b.position ? 1 : 0;
}
