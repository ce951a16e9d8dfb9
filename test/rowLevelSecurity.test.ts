// Supabase's Data API serves every table and function of `public` to anyone holding the
// project's public anon key, as the roles `anon` and `authenticated`. Given a database
// prepared as Supabase prepares one (the roles, and their grants on public), the server's
// migrations leave those roles nothing to read, write or call, while the server, owner of
// the tables, works as before.
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { applyPendingMigrations } from "../src/database/migrations.ts";
import { Prisma } from "../src/generated/prisma/client.ts";
import { backend, createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { SetMetadata, StoryState, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const API_ROLES = ["anon", "authenticated"] as const;
/**
 * On PostgreSQL the server runs as this role, owner of its database and of every table,
 * like Supabase's `postgres`: not a superuser, so RLS would apply to it but for ownership.
 * (This one has not even Supabase's BYPASSRLS.) Roles belong to the whole cluster: created
 * when missing, never dropped, as other test processes may be using them.
 */
const OWNER_ROLE = "story_spark_rls_owner";
const TIMEOUT = { timeout: 120_000 };

/** The tables and the functions of ours in public, from the catalogue. */
const TABLES_SQL = `
  SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
         (SELECT quote_ident(a.attname) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = 1) AS first_column
    FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
   ORDER BY c.relname`;
const FUNCTIONS_SQL = `
  SELECT p.oid::regprocedure::text AS signature, p.proconfig AS config,
         EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) acl
                  WHERE acl.grantee = 0 AND acl.privilege_type = 'EXECUTE') AS public_executes
    FROM pg_proc p
   WHERE p.pronamespace = 'public'::regnamespace
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
   ORDER BY 1`;

type TableRow = { name: string; rls: boolean; forced: boolean; first_column: string };
type FunctionRow = { signature: string; config: string[] | null; public_executes: boolean };

/** What Supabase has done to a project's database before any migration of ours runs. */
function supabaseGrants(migrator: string): string[] {
  const roles = API_ROLES.join(", ");
  return [
    `GRANT USAGE ON SCHEMA public TO ${roles}`,
    `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${roles}`,
    `GRANT ALL ON ALL ROUTINES IN SCHEMA public TO ${roles}`,
    `GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${roles}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${migrator} IN SCHEMA public GRANT ALL ON TABLES TO ${roles}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${migrator} IN SCHEMA public GRANT ALL ON FUNCTIONS TO ${roles}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${migrator} IN SCHEMA public GRANT ALL ON SEQUENCES TO ${roles}`,
  ];
}

type Query = (sql: string) => Promise<unknown>;

/** CREATE ROLE unless it exists; a concurrent test process may create it first. */
async function ensureRole(query: Query, role: string): Promise<void> {
  try {
    await query(`CREATE ROLE ${role} NOLOGIN`);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // 42710: duplicate_object; 23505: the race lost inside pg_authid's unique index
    if (code !== "42710" && code !== "23505") throw error;
  }
}

/** A fresh database with Supabase's roles and grants, ready for the server to migrate. */
async function createSupabaseLikeDatabase(): Promise<TestDatabase> {
  if (backend === "pglite") {
    const database = await createTestDatabase();
    const db = await PGlite.create(path.join(database.dataDir, "pglite"));
    try {
      for (const role of API_ROLES) await ensureRole((sql) => db.query(sql), role);
      for (const sql of supabaseGrants("postgres")) await db.query(sql);
    } finally {
      await db.close();
    }
    return database;
  }

  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (!adminUrl) throw new Error("TEST_DATABASE=postgres needs TEST_POSTGRES_URL");
  const name = `story_spark_rls_${randomBytes(6).toString("hex")}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await withClient(adminUrl, async (admin) => {
    for (const role of [...API_ROLES, OWNER_ROLE]) await ensureRole((sql) => admin.query(sql), role);
    await admin.query(`CREATE DATABASE ${name} OWNER ${OWNER_ROLE}`);
  });
  await withClient(url.toString(), async (client) => {
    for (const sql of supabaseGrants(OWNER_ROLE)) await client.query(sql);
  });
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-test-"));
  // The server logs in as the test cluster's user and acts as OWNER_ROLE from the start: a startup
  // parameter, which a pooler doesn't pass on, so this database is reached directly in every pass.
  url.searchParams.set("options", `-c role=${OWNER_ROLE}`);
  return {
    databaseUrl: url.toString(),
    directUrl: url.toString(),
    dataDir,
    async drop() {
      await withClient(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** What one statement did: the rows it returned, or the SQLSTATE and message it failed with. */
type Outcome = { rows: unknown[] } | { error: string; message: string };

let server: TestServer;

/**
 * Runs `statement` on the server's own connection in a transaction that is always rolled
 * back: first `setup` as the server's role, then the rest as `role`.
 */
async function attempt(role: string | null, statement: string, setup: string[] = []): Promise<Outcome> {
  let outcome: Outcome | undefined;
  const rollback = new Error("rollback");
  try {
    await server.db.prisma.$transaction(async (tx) => {
      // the statements are this file's own constant texts
      for (const sql of setup) await tx.$executeRaw(Prisma.raw(sql));
      if (role !== null) await tx.$queryRaw`SELECT set_config('role', ${role}, true)`; // SET LOCAL ROLE
      try {
        outcome = { rows: await tx.$queryRaw<unknown[]>(Prisma.raw(statement)) };
      } catch (error) {
        outcome = { error: sqlState(error), message: error instanceof Error ? error.message : String(error) };
      }
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  }
  if (outcome === undefined) throw new Error(`no outcome for ${statement}`);
  return outcome;
}

/** The SQLSTATE of a failed raw query, as Prisma's driver adapters report it. */
function sqlState(error: unknown): string {
  const meta = (error as { meta?: { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown } } } }).meta;
  const code = meta?.driverAdapterError?.cause?.originalCode ?? meta?.code;
  if (typeof code !== "string") throw error;
  return code;
}

/** Reads as the server's role. */
async function ownerRows<T>(sql: string): Promise<T[]> {
  return server.db.prisma.$queryRaw<T[]>(Prisma.raw(sql));
}

const PERMISSION_DENIED = { error: "42501", message: expect.stringContaining("permission denied") };
const RLS_VIOLATION = { error: "42501", message: expect.stringContaining("violates row-level security policy") };

describe("Supabase's anon and authenticated roles", TIMEOUT, () => {
  let database: TestDatabase;
  let tables: TableRow[];
  let writer: { token: string };
  let storyId: string;
  let storyUuid: string;

  beforeAll(async () => {
    database = await createSupabaseLikeDatabase();
    server = await startTestServer(database);
    writer = await signUpWriter(server);
    storyId = await createStory(server, writer.token);
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "A keeper sees a ship that is not there." } } }, writer.token);
    await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone", value: "eerie" } }, writer.token);
    tables = await ownerRows<TableRow>(TABLES_SQL);
    const [story] = await ownerRows<{ id: string }>("SELECT id::text FROM stories");
    storyUuid = story!.id;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("face tables that hold rows, which the server reads as their owner", async () => {
    const [self] = await ownerRows<{ role: string; superuser: boolean; owns: boolean }>(`
      SELECT current_user AS role, r.rolsuper AS superuser, pg_has_role(c.relowner, 'USAGE') AS owns
        FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'public.users'::regclass`);
    // PGlite has one user, a superuser; on PostgreSQL the server is what Supabase's postgres is
    expect(self).toEqual(backend === "postgres" ? { role: OWNER_ROLE, superuser: false, owns: true } : { role: "postgres", superuser: true, owns: true });
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["_prisma_migrations", "users", "stories", "story_events"]));
    for (const table of ["users", "stories", "story_events", "story_versions", "story_modules", "metadata"]) {
      const [row] = await ownerRows<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      expect(row?.n, table).toBeGreaterThan(0);
    }
  });

  it("can read no table: permission denied", async () => {
    for (const role of API_ROLES) {
      for (const table of tables) {
        expect(await attempt(role, `SELECT count(*)::int AS n FROM ${table.name}`), `${role} ${table.name}`).toEqual(PERMISSION_DENIED);
      }
    }
  });

  it("can write no table: INSERT, UPDATE, DELETE and TRUNCATE are denied", async () => {
    for (const role of API_ROLES) {
      for (const { name, first_column: column } of tables) {
        for (const statement of [
          `INSERT INTO ${name} DEFAULT VALUES RETURNING 1`,
          `UPDATE ${name} SET ${column} = ${column} RETURNING 1`,
          `DELETE FROM ${name} RETURNING 1`,
          `TRUNCATE ${name} CASCADE`,
        ]) {
          expect(await attempt(role, statement), `${role}: ${statement}`).toEqual(PERMISSION_DENIED);
        }
      }
    }
    const [users] = await ownerRows<{ n: number }>("SELECT count(*)::int AS n FROM users");
    expect(users?.n).toBe(1);
  });

  it("hold no privilege on any table, sequence or function of public", async () => {
    for (const role of API_ROLES) {
      const granted = await ownerRows<{ kind: string; name: string }>(`
        SELECT 'table' AS kind, c.relname AS name FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
           AND has_table_privilege('${role}', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        UNION ALL
        SELECT 'sequence', c.relname FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
           -- has_sequence_privilege fails on any other relation, and may be evaluated first
           AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('${role}', c.oid, 'USAGE, SELECT, UPDATE') END
        UNION ALL
        SELECT 'function', p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege('${role}', p.oid, 'EXECUTE')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`);
      expect(granted, role).toEqual([]);
    }
  });

  it("cannot call story_command_state, which the server calls as its owner", async () => {
    const call = `SELECT story_command_state('${storyUuid}'::uuid, '{}'::int[], NULL, false) AS state`;
    for (const role of API_ROLES) expect(await attempt(role, call), role).toEqual(PERMISSION_DENIED);
    expect(await attempt(null, call)).toEqual({ rows: [{ state: expect.objectContaining({ title: "The Lighthouse Keeper" }) }] });
  });

  it("see no row and can change none even with Supabase's grants given back: RLS has no policy for them", async () => {
    const regrant = [
      `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${API_ROLES.join(", ")}`,
      `GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${API_ROLES.join(", ")}`,
    ];
    for (const role of API_ROLES) {
      for (const { name, first_column: column } of tables) {
        expect(await attempt(role, `SELECT count(*)::int AS n FROM ${name}`, regrant), `${role} reads ${name}`).toEqual({ rows: [{ n: 0 }] });
        expect(await attempt(role, `UPDATE ${name} SET ${column} = ${column} RETURNING 1`, regrant), `${role} updates ${name}`).toEqual({ rows: [] });
        expect(await attempt(role, `DELETE FROM ${name} RETURNING 1`, regrant), `${role} deletes ${name}`).toEqual({ rows: [] });
        // checked before the table's own constraints (NOT NULL and the like)
        expect(await attempt(role, `INSERT INTO ${name} DEFAULT VALUES RETURNING 1`, regrant), `${role} inserts into ${name}`).toEqual(RLS_VIOLATION);
      }
    }
  });

  it("get nothing on a table, sequence or function the server's role creates later", async () => {
    const create = [
      "CREATE TABLE public.rls_probe (id int)",
      "CREATE SEQUENCE public.rls_probe_seq",
      "CREATE FUNCTION public.rls_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ];
    for (const role of API_ROLES) {
      const privileges = `
        SELECT has_table_privilege('${role}', 'public.rls_probe', 'SELECT') AS "table",
               has_sequence_privilege('${role}', 'public.rls_probe_seq', 'USAGE') AS "sequence",
               has_function_privilege('${role}', 'public.rls_probe()', 'EXECUTE') AS "function"`;
      expect(await attempt(null, privileges, create), role).toEqual({ rows: [{ table: false, sequence: false, function: false }] });
      expect(await attempt(role, "SELECT public.rls_probe()", create), role).toEqual(PERMISSION_DENIED);
    }
  });

  it("leave the server working after a restart: it migrates and serves as before", async () => {
    await server.stop();
    server = await startTestServer(database);
    const { story } = await server.query(StoryState, { id: storyId }, writer.token);
    expect(story?.title).toBe("The Lighthouse Keeper");
    expect(story?.modules.map((m) => m.name)).toContain("IDEA_SPARK");
  });
});

// A migration that adds a table or a function must close it too: these tests say so.
describe("Row Level Security on every table of public", TIMEOUT, () => {
  let plain: TestServer;
  beforeAll(async () => {
    plain = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await plain?.close();
  });

  it("is enabled on each table, and never forced on the owner", async () => {
    const tables = await plain.db.prisma.$queryRaw<TableRow[]>(Prisma.raw(TABLES_SQL));
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["_prisma_migrations", "users", "stories"]));
    for (const { name, rls, forced } of tables) expect({ name, rls, forced }).toEqual({ name, rls: true, forced: false });
  });

  it("leaves no function of ours executable by PUBLIC, nor with a search_path its caller chooses", async () => {
    const functions = await plain.db.prisma.$queryRaw<FunctionRow[]>(Prisma.raw(FUNCTIONS_SQL));
    expect(functions.map((f) => f.signature)).toContain("story_command_state(uuid,integer[],text,boolean)");
    for (const { signature, config, public_executes } of functions) {
      expect({ signature, public_executes }).toEqual({ signature, public_executes: false });
      expect(config ?? [], signature).toContainEqual(expect.stringMatching(/^search_path=/));
    }
  });

  it("applies on a database without Supabase's roles", async () => {
    const db = new PGlite(); // in memory; a PostgreSQL cluster may have the roles from another test
    try {
      expect((await db.query("SELECT 1 FROM pg_roles WHERE rolname IN ('anon', 'authenticated')")).rows).toEqual([]);
      const { applied } = await applyPendingMigrations(new PrismaPGlite(db));
      expect(applied).toContainEqual(expect.stringMatching(/_row_level_security$/));
      const { rows } = await db.query<TableRow>(TABLES_SQL);
      expect(rows.filter((t) => !t.rls)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
