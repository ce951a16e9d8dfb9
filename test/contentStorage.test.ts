// Storage proportional to the change: module content is stored once per story, field by field,
// under a hash the server and PostgreSQL compute alike; versions and ModuleWritten events keep the
// hashes; story_version_snapshots shows every version whole; an existing database migrates.
import fs from "node:fs/promises";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/database/connect.ts";
import { applyPendingMigrations, DEFAULT_MIGRATIONS_DIR } from "../src/database/migrations.ts";
import { contentHash } from "../src/domain/content.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { decide, evolve, initialState, type StoryCommand, type StoryState } from "../src/domain/story.ts";
import { recordEvents } from "../src/eventstore/eventStore.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { moduleRows, storyRow } from "../src/projection/storyRows.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { StoryState as StoryStateQuery, WriteModule } from "./support/documents.ts";
import { backend, createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import type { TestServer } from "./support/server.ts";

const TIMEOUT = { timeout: 120_000 };

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AWKWARD_STRINGS = ["", "plain", 'quote " and \\ back', "line\nbreak\ttab\r", "\u0001\u001f\u007f", "é ü 漢字 😀", "\u2028\u2029", "a/b"];
const AWKWARD_NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1.5e-7, -3.25e-12, 123456789012345680000, 2 ** 53, 5e-324, 1.7976931348623157e308, 42.5];

function randomJson(next: () => number, depth: number): unknown {
  const roll = next();
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  if (depth > 3 || roll < 0.35) return roll < 0.15 ? pick(AWKWARD_STRINGS) : roll < 0.3 ? pick(AWKWARD_NUMBERS) : pick([true, false, null]);
  if (roll < 0.6) return Array.from({ length: Math.floor(next() * 4) }, () => randomJson(next, depth + 1));
  const keys = ["a", "bb", "B", "é", "key", "z9", "aa", "漢", "10", "2", pick(AWKWARD_STRINGS)];
  return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [pick(keys), randomJson(next, depth + 1)]));
}

describe("content hashes", TIMEOUT, () => {
  let server: TestServer;
  beforeAll(async () => ({ server } = await startServerWithWriter()));
  afterAll(() => server?.close());

  it("the server's equal PostgreSQL's for 300 random JSON values", async () => {
    const next = random(20261206);
    const values = Array.from({ length: 300 }, () => randomJson(next, 0));
    const rows = await server.db.prisma.$queryRaw<{ hash: string }[]>`
      SELECT story_content_hash(value) AS hash FROM jsonb_array_elements(${JSON.stringify(values)}::jsonb) WITH ORDINALITY AS t(value, n) ORDER BY n`;
    expect(rows.map((row) => row.hash)).toEqual(values.map(contentHash));
  });
});

describe("a one-field edit of a long module", TIMEOUT, () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => ({ server, token } = await startServerWithWriter()));
  afterAll(() => server?.close());

  it("stores that field, not the module, and every version still reads whole", async () => {
    const id = await createStory(server, token, "Fifty kilobytes");
    const storyId = decodeGlobalId(id)!.id;
    const next = random(7);
    const prose = Array.from({ length: 9_000 }, () => "salt tide lamp keeper storm".split(" ")[Math.floor(next() * 5)]).join(" ");
    const outputs = Array.from({ length: 21 }, (_, i) => ({ prose, style: "close third", notes: `revision ${i}` }));
    for (const output of outputs) {
      const written = await server.query(WriteModule, { input: { storyId: id, module: "WORDSMITH_LAB", output } }, token);
      expect(written.writeModule.version.number).toBeGreaterThan(1);
    }

    const [contents] = await server.db.prisma.$queryRaw<{ rows: number; bytes: number }[]>`
      SELECT count(*)::int AS rows, sum(octet_length(value::text))::int AS bytes FROM story_contents WHERE story_id = ${storyId}::uuid`;
    // the prose once, the style once, each of the 21 notes
    expect(contents!.rows).toBe(23);
    expect(contents!.bytes).toBeLessThan(prose.length + 1_000);
    const [largest] = await server.db.prisma.$queryRaw<{ version: number; event: number }[]>`
      SELECT (SELECT max(octet_length(output_refs::text) + octet_length(input_refs::text)) FROM story_versions WHERE story_id = ${storyId}::uuid)::int AS version,
             (SELECT max(octet_length(payload::text)) FROM story_events WHERE story_id = ${storyId}::uuid)::int AS event`;
    expect(largest!.version).toBeLessThan(1_000);
    expect(largest!.event).toBeLessThan(1_000);

    const { story } = await server.query(StoryStateQuery, { id }, token);
    const newestFirst = story!.versions.edges.map((edge) => edge.node);
    expect(newestFirst.map((v) => v.number)).toEqual(Array.from({ length: 22 }, (_, i) => 22 - i));
    for (const [i, version] of newestFirst.entries()) {
      expect(version.snapshot).toEqual({ idea_spark: null, world_seed: null, character_forge: null, plot_skeleton: null, wordsmith_lab: outputs[20 - i] ?? null });
    }
    const [view] = await server.db.prisma.$queryRaw<{ full_snapshot: unknown }[]>`
      SELECT full_snapshot FROM story_version_snapshots WHERE story_id = ${storyId}::uuid AND version_number = 22`;
    expect(view!.full_snapshot).toMatchObject({ wordsmith_lab: outputs[20] });
    expect(story!.modules.find((m) => m.name === "WORDSMITH_LAB")?.output).toEqual(outputs[20]);
  });
});

/** The migration this storage came with, and the ones before it. */
const CONTENT_MIGRATION = "20261206010000_content_by_reference";

describe("a database from before content by reference", TIMEOUT, () => {
  let database: TestDatabase;
  let storyId: string;
  let state: StoryState;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it("migrates: versions read as before, verify finds nothing, rebuild and new writes work", async () => {
    // the migrations before it (it and every later one left out: a later one may redefine what it defines)
    const earlier = path.join(database.dataDir, "migrations");
    await fs.cp(DEFAULT_MIGRATIONS_DIR, earlier, { recursive: true });
    for (const name of await fs.readdir(earlier)) {
      if (/^\d{14}_/.test(name) && name >= CONTENT_MIGRATION) await fs.rm(path.join(earlier, name), { recursive: true });
    }
    const sql = await connect(database);
    try {
      await applyPendingMigrations(sql.factory, { migrationsDir: earlier });
      ({ storyId, state } = await writeOldStory(sql.query));
    } finally {
      await sql.close();
    }

    const db = await openDatabase({ databaseUrl: database.databaseUrl, directUrl: database.directUrl, dataDir: database.dataDir });
    try {
      const versions = await db.prisma.$queryRaw<{ version_number: number; full_snapshot: unknown; inputs: unknown }[]>`
        SELECT version_number, full_snapshot, inputs FROM story_version_snapshots WHERE story_id = ${storyId}::uuid ORDER BY version_number`;
      expect(versions).toEqual([...state.versions].map((v) => ({ version_number: v.number, full_snapshot: v.outputs, inputs: v.inputs })));
      expect(await verifyReadTables(db)).toEqual([]);
      await rebuildReadTables(db);
      expect(await verifyReadTables(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

/** A story written as servers before this storage wrote it: whole snapshots, whole outputs in events. */
async function writeOldStory(query: (text: string, values: unknown[]) => Promise<unknown>) {
  const userId = randomUUID();
  const storyId = randomUUID();
  const moduleIds = { idea_spark: randomUUID(), world_seed: randomUUID(), character_forge: randomUUID(), plot_skeleton: randomUUID(), wordsmith_lab: randomUUID() };
  const commands: StoryCommand[] = [
    { type: "CreateStory", ownerId: userId, title: "Old", logline: null, genre: null, versionId: randomUUID(), moduleIds },
    { type: "WriteModule", module: "IDEA_SPARK", inputText: "a keeper", output: { logline: "A keeper keeps a light." }, versionId: randomUUID() },
    { type: "WriteModule", module: "WORLD_SEED", output: { setting: "An island", keeperNotes: [1.5e-7, "é"] }, versionId: randomUUID() },
    { type: "Undo", actorId: userId, versionId: randomUUID() },
    { type: "WriteModule", module: "IDEA_SPARK", output: { logline: "A keeper leaves." }, versionId: randomUUID() },
    { type: "RestoreVersion", number: 3, versionId: randomUUID() },
  ];
  let state = initialState(storyId);
  const events: unknown[] = [];
  for (const command of commands) {
    for (const event of recordEvents(storyId, decide(command, state), { currentRevision: state.revision, actorId: userId })) {
      state = evolve(state, event);
      events.push({ ...event, activeVersionNumber: state.activeVersionNumber });
    }
  }
  const versions = [...state.versions].map((v) => ({
    id: v.id,
    storyId,
    versionNumber: v.number,
    fullSnapshot: v.outputs,
    inputs: v.inputs,
    parentVersionId: v.parentNumber === null ? null : state.versions.get(v.parentNumber)!.id,
    eventSeq: v.eventSeq,
    createdAt: v.createdAt,
  }));
  await query(`INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'old@example.com', 'old', '-')`, [userId]);
  await query(
    `INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number)
     SELECT x.id, x."storyId", x.seq, x.type, x."schemaVersion", x.payload, x."actorId", x."createdAt", x."activeVersionNumber"
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "storyId" uuid, seq int, type text, "schemaVersion" int, payload jsonb, "actorId" uuid, "createdAt" timestamptz, "activeVersionNumber" int)`,
    [JSON.stringify(events)],
  );
  const story = storyRow(state);
  await query(
    `INSERT INTO stories (id, user_id, title, logline, genre, created_at, updated_at, is_complete, active_version_id, active_version_number, revision, latest_version_number, redo_version_numbers)
     SELECT x.id, x."userId", x.title, x.logline, x.genre, x."createdAt", x."updatedAt", x."isComplete", x."activeVersionId", x."activeVersionNumber", x.revision, x."latestVersionNumber", x."redoVersionNumbers"
       FROM jsonb_to_record($1::jsonb) AS x(id uuid, "userId" uuid, title text, logline text, genre text, "createdAt" timestamptz, "updatedAt" timestamptz, "isComplete" boolean, "activeVersionId" uuid, "activeVersionNumber" int, revision int, "latestVersionNumber" int, "redoVersionNumbers" int[])`,
    [JSON.stringify(story)],
  );
  await query(
    `INSERT INTO story_modules (id, story_id, module_name, input_text, output_text, module_order, created_at, updated_at)
     SELECT x.id, x."storyId", x."moduleName", x."inputText", x."outputText", x."moduleOrder", x."createdAt", x."updatedAt"
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "storyId" uuid, "moduleName" text, "inputText" text, "outputText" jsonb, "moduleOrder" int, "createdAt" timestamptz, "updatedAt" timestamptz)`,
    [JSON.stringify(moduleRows(state))],
  );
  await query(
    `INSERT INTO story_versions (id, story_id, version_number, full_snapshot, inputs, parent_version_id, event_seq, created_at)
     SELECT x.id, x."storyId", x."versionNumber", x."fullSnapshot", x.inputs, x."parentVersionId", x."eventSeq", x."createdAt"
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "storyId" uuid, "versionNumber" int, "fullSnapshot" jsonb, inputs jsonb, "parentVersionId" uuid, "eventSeq" int, "createdAt" timestamptz)`,
    [JSON.stringify(versions)],
  );
  return { storyId, state };
}

/** The test database, opened directly: what the migrations and the old rows go through. */
async function connect(database: TestDatabase) {
  if (backend === "postgres") {
    const client = new pg.Client({ connectionString: database.directUrl });
    await client.connect();
    return {
      factory: new PrismaPg({ connectionString: database.directUrl }),
      query: (text: string, values: unknown[]) => client.query(text, values),
      close: () => client.end(),
    };
  }
  const client = new PGlite(path.join(database.dataDir, "pglite"));
  return {
    factory: new PrismaPGlite(client),
    query: (text: string, values: unknown[]) => client.query(text, values),
    close: () => client.close(),
  };
}
