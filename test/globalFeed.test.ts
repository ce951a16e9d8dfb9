// `story-spark events --all`: every story's events in commit order, never skipping one
// that commits after a later position was already visible.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WriteModule } from "./support/documents.ts";
import { backend } from "./support/databases.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { databaseEnv, startCli } from "./support/processes.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

type FeedLine = { checkpoint: string; position: string; storyId: string; seq: number; type: string };
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as FeedLine);

describe("events --all", () => {
  it("prints every event of every story with a checkpoint, and --after resumes after it", async () => {
    const { token } = await signUpWriter(server);
    const first = await createStory(server, token, "First");
    const second = await createStory(server, token, "Second");
    await server.query(WriteModule, { input: { storyId: first, module: "IDEA_SPARK", output: { logline: "a" } } }, token);
    await server.query(WriteModule, { input: { storyId: second, module: "IDEA_SPARK", output: { logline: "b" } } }, token);
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
