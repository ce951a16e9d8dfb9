// `rebuild` under readers and writers: it builds new read tables beside the live ones, catches
// up and swaps them in with a short lock. Nobody waits on it for long, nobody gets an error,
// no acknowledged write is lost, the schema afterwards is the migrations' own, and `verify`
// is clean.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/database/connect.ts";
import { Prisma } from "../src/generated/prisma/client.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { idOf } from "../src/graphql/globalIds.ts";
import { backend } from "./support/databases.ts";
import { CreateStory, DeleteStory, LabeledVersions, LabelVersion, StoryState, Undo, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import type { TestServer } from "./support/server.ts";

const MODULES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

/** What the read tables are, as the catalogue says: columns, indexes, constraints, security. */
async function readTablesSchema(db: Database) {
  return db.prisma.$queryRaw<{ fact: string }[]>`
    WITH t AS (SELECT c.oid, c.relname FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                  AND c.relname IN ('stories', 'story_modules', 'story_versions'))
    SELECT format('column %s.%s %s %s default %s', t.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END, pg_get_expr(d.adbin, d.adrelid)) AS fact
      FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM t JOIN pg_index i ON i.indrelid = t.oid
    UNION ALL
    SELECT format('constraint %s.%s %s', t.relname, c.conname, pg_get_constraintdef(c.oid)) FROM t JOIN pg_constraint c ON c.conrelid = t.oid
    UNION ALL
    SELECT format('security %s rls=%s force=%s acl=%s', t.relname, c.relrowsecurity, c.relforcerowsecurity, c.relacl)
      FROM t JOIN pg_class c ON c.oid = t.oid
    UNION ALL
    SELECT format('policy %s.%s %s %s %s %s', p.tablename, p.policyname, p.permissive, p.roles, p.cmd, p.qual)
      FROM pg_policies p JOIN t ON t.relname = p.tablename
    UNION ALL
    SELECT format('table %s', c.relname) FROM pg_class c
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname LIKE '%rebuild%'
    ORDER BY fact`;
}

describe("rebuild", () => {
  it("leaves the read tables' schema exactly as the migrations made it, and the rows as they were", async () => {
    const storyId = await createStory(server, token, "Schema");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "a keeper" } } }, token);
    const before = await readTablesSchema(server.db);
    const rowsBefore = await server.query(StoryState, { id: storyId }, token);

    const result = await rebuildReadTables(server.db);

    expect(result.streams).toBeGreaterThanOrEqual(1);
    expect(await readTablesSchema(server.db)).toEqual(before);
    expect(await server.query(StoryState, { id: storyId }, token)).toEqual(rowsBefore);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it.runIf(backend === "postgres")("carries a role's privileges and a policy over to the new tables", async () => {
    const role = `rebuild_reader_${Date.now()}`;
    await server.db.prisma.$executeRaw(Prisma.raw(`CREATE ROLE ${role}`));
    await server.db.prisma.$executeRaw(Prisma.raw(`GRANT SELECT, UPDATE ON story_modules TO ${role} WITH GRANT OPTION`));
    await server.db.prisma.$executeRaw(Prisma.raw(`CREATE POLICY own_modules ON story_modules FOR SELECT TO ${role} USING (module_order < 3)`));
    try {
      const before = await readTablesSchema(server.db);
      expect(before.some((f) => f.fact.startsWith("policy story_modules.own_modules PERMISSIVE"))).toBe(true);
      await rebuildReadTables(server.db);
      expect(await readTablesSchema(server.db)).toEqual(before);
    } finally {
      await server.db.prisma.$executeRaw(Prisma.raw("DROP POLICY own_modules ON story_modules"));
      await server.db.prisma.$executeRaw(Prisma.raw(`REVOKE ALL ON story_modules FROM ${role} CASCADE`));
      await server.db.prisma.$executeRaw(Prisma.raw(`DROP ROLE ${role}`));
    }
  });

  it("while readers read and writers write: nobody gets an error, no acknowledged write is lost, verify is clean", async () => {
    const stories = await Promise.all([0, 1, 2, 3].map((i) => createStory(server, token, `Busy ${i}`)));
    // enough history that a rebuild takes a while
    for (let round = 0; round < 10; round++) {
      await Promise.all(stories.map((storyId, i) => server.query(WriteModule, { input: { storyId, module: MODULES[(round + i) % 5]!, output: { note: `seed ${round}` } } }, token)));
    }
    let running = true;
    const failures: unknown[] = [];
    const acknowledged = new Map<string, number[]>(stories.map((id) => [id, []]));
    let reads = 0;

    const writer = async (storyId: string, n: number) => {
      for (let i = 0; running; i++) {
        const response =
          i % 5 === 4
            ? await server.request(Undo, { input: { storyId } }, token)
            : await server.request(WriteModule, { input: { storyId, module: MODULES[(n + i) % 5]!, output: { note: `w${n}.${i}` } } }, token);
        if (response.errors?.length) {
          // two writers share each story: NOTHING_TO_UNDO can't happen here (every story has writes), conflicts can't either (no expectedRevision)
          failures.push(response.errors);
          continue;
        }
        const data = response.data as { writeModule?: { event: { seq: number } }; undo?: { event: { seq: number } } };
        acknowledged.get(storyId)!.push((data.writeModule ?? data.undo)!.event.seq);
      }
    };
    const reader = async (n: number) => {
      while (running) {
        const response = await server.request(StoryState, { id: stories[n % stories.length]! }, token);
        if (response.errors?.length || !response.data?.story) failures.push(response.errors ?? "no story");
        reads++;
      }
    };
    // a story created and one deleted while the rebuild runs
    const lifecycle = async () => {
      const doomed = await createStory(server, token, "Doomed");
      await new Promise((resolve) => setTimeout(resolve, 50));
      const created = await server.request(CreateStory, { input: { title: "Born during the rebuild" } }, token);
      if (created.errors?.length) failures.push(created.errors);
      const deleted = await server.request(DeleteStory, { input: { id: doomed } }, token);
      if (deleted.errors?.length) failures.push(deleted.errors);
    };

    const load = [...stories.flatMap((id, i) => [writer(id, i), writer(id, i + 4)]), reader(0), reader(1), reader(2)];
    const rebuilds = [];
    for (let i = 0; i < 3; i++) {
      const [result] = await Promise.all([rebuildReadTables(server.db), lifecycle()]);
      rebuilds.push(result);
    }
    running = false;
    await Promise.all(load);

    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(rebuilds).toHaveLength(3);
    expect(await verifyReadTables(server.db)).toEqual([]);
    // every acknowledged write is in the log once, and the log has nothing else after the seeding
    for (const storyId of stories) {
      const seqs = acknowledged.get(storyId)!;
      expect(new Set(seqs).size).toBe(seqs.length);
      const events = await server.db.prisma.storyEvent.findMany({ where: { storyId: idOf("Story", storyId) }, orderBy: { seq: "asc" }, select: { seq: true } });
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.length).toBe(1 + 10 + seqs.length);
    }
  });

  it("catches a story up twice: first from its whole log, then by only the events appended since, and misses none", async () => {
    const storyId = await createStory(server, token, "Caught up");
    const write = (n: number) => server.query(WriteModule, { input: { storyId, module: MODULES[n % 5]!, output: { note: `write ${n}` } } }, token);
    for (let n = 0; n < 6; n++) await write(n);

    const result = await rebuildReadTables(server.db, () => {}, {
      during: {
        // written while the new tables were built: the first catch-up folds the whole story
        built: async () => {
          await write(6);
          await write(7);
        },
        // written before the swap: under its lock, only these events are folded and applied
        swapping: async (attempt) => {
          if (attempt > 1) return;
          await write(8);
          await server.query(LabelVersion, { input: { storyId, number: 2, label: "Kept" } }, token);
          await server.query(Undo, { input: { storyId } }, token);
          await write(9);
        },
      },
    });

    expect(result.refolded).toBe(1);
    expect(result.caughtUp).toBeGreaterThanOrEqual(2);
    expect(await verifyReadTables(server.db)).toEqual([]);
    const { story } = await server.query(StoryState, { id: storyId }, token);
    expect(story?.revision).toBe(1 + 10 + 2);
    expect(story?.modules.find((m) => m.name === "WORLD_SEED")?.output).toEqual({ note: "write 6" });
    expect(story?.modules.find((m) => m.name === "WORDSMITH_LAB")?.output).toEqual({ note: "write 9" });
    expect(story?.modules.find((m) => m.name === "PLOT_SKELETON")?.output).toEqual({ note: "write 3" }); // write 8 undone
    const labeled = await server.query(LabeledVersions, { id: storyId, labeled: true }, token);
    expect(labeled.story?.versions.edges.map((e) => e.node)).toEqual([{ number: 2, label: "Kept" }]);
  });

  it("gives way to a reader that holds the tables, and swaps once it has gone", async () => {
    await createStory(server, token, "Held");
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // a long transaction that has read the stories table keeps the swap's lock from being granted
    const holder = server.db.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT count(*) FROM stories`;
        await held;
      },
      { timeout: 60_000 },
    );
    if (backend === "pglite") {
      // the embedded database runs one transaction at a time: the rebuild simply waits its turn
      setTimeout(release, 300);
      const result = await rebuildReadTables(server.db, () => {}, { lockTimeoutMs: 50 });
      await holder;
      expect(result.swapRetries).toBe(0);
    } else {
      const rebuilding = rebuildReadTables(server.db, () => {}, { lockTimeoutMs: 50 });
      // let the swap try, and give way, a few times
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      release();
      await holder;
      const result = await rebuilding;
      expect(result.swapRetries).toBeGreaterThan(0);
    }
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  // on the embedded database one transaction runs at a time: no reader can hold the lock while the swap waits
  it.runIf(backend === "postgres")("gives up after its attempts, leaving the live tables as they were and no new tables behind", async () => {
    const before = await readTablesSchema(server.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holder = server.db.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT count(*) FROM story_versions`;
        await held;
      },
      { timeout: 60_000 },
    );
    await expect(rebuildReadTables(server.db, () => {}, { lockTimeoutMs: 20, swapAttempts: 3 })).rejects.toThrow(/could not take the read tables' lock in 3 attempts; the live tables are unchanged/);
    release();
    await holder;
    expect(await readTablesSchema(server.db)).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("one at a time: a second rebuild is refused with a clear message, in this process and from another connection", async () => {
    let building!: () => void;
    const leaseHeld = new Promise<void>((resolve) => (building = resolve));
    // it reports progress only once it holds the lease
    const first = rebuildReadTables(server.db, () => building());
    await expect(rebuildReadTables(server.db)).rejects.toThrow(/another rebuild of the read tables is running/);
    if (backend === "postgres") {
      // another process (the CLI, on the direct URL) would open its own connections: the database itself keeps it out
      // (once the first holds its lease: through a pooler its first connection may come later than the other's)
      await leaseHeld;
      const other = await openDatabase({ databaseUrl: server.database.directUrl, dataDir: server.database.dataDir, migrate: false });
      try {
        await expect(rebuildReadTables(other)).rejects.toThrow(/another rebuild of the read tables is running/);
      } finally {
        await other.close();
      }
    }
    await first;
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});
