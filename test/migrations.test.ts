// Migrations through the WebAssembly schema engine: applied to a fresh PGlite and
// (when TEST_POSTGRES_URL is set) to a fresh PostgreSQL database, recorded in
// _prisma_migrations the way `prisma migrate deploy` records them.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  applyPendingMigrations,
  createMigration,
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_SCHEMA_PATH,
  MigrationError,
  type SqlMigrationAwareDriverAdapterFactory,
} from "../src/database/migrations.ts";

const TABLES = [
  "ai_cost_tracking",
  "ai_generations",
  "collaborators", // a story's members (issue 13)
  "error_logs",
  "metadata",
  "module_usage_logs",
  "permissions", // the roles members hold
  "revoked_tokens",
  "stories",
  "story_branches", // where each branch was made from (issue 14)
  "story_comment_events",
  "story_comments",
  "story_contents",
  "story_events",
  "story_invitations",
  "story_modules",
  "story_version_snapshots", // a view: every version whole
  "story_versions",
  "users",
];
const TIMEOUT = { timeout: 60_000 };

type Row = Record<string, unknown>;
type Query = (sql: string) => Promise<Row[]>;

/** The migrations on disk, by name, with Prisma's checksum: sha256 hex of migration.sql. */
async function migrationsOnDisk(dir = DEFAULT_MIGRATIONS_DIR): Promise<{ name: string; checksum: string }[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const migrations = [];
  for (const entry of entries.filter((e) => e.isDirectory())) {
    const sql = await fs.readFile(path.join(dir, entry.name, "migration.sql"));
    migrations.push({ name: entry.name, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return migrations.sort((a, b) => a.name.localeCompare(b.name));
}

async function copyMigrations(): Promise<string> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-migrations-"));
  const dir = path.join(tmp, "migrations");
  await fs.cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function listTree(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).map(String).sort();
}

/** The checks every backend must pass; `fresh` opens a new empty database. */
function migrationContract(fresh: () => Promise<{ factory: SqlMigrationAwareDriverAdapterFactory; query: Query }>) {
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let query: Query;

  beforeAll(async () => {
    ({ factory, query } = await fresh());
  }, 60_000);

  it("applies every migration to a fresh database and records it like prisma migrate deploy", async () => {
    const expected = await migrationsOnDisk();
    expect(expected.length).toBeGreaterThan(0);

    const { applied } = await applyPendingMigrations(factory);
    expect(applied).toEqual(expected.map((m) => m.name));

    const tables = await query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(tables.map((t) => t["table_name"])).toEqual(["_prisma_migrations", ...TABLES]);

    const rows = await query(
      `SELECT migration_name, checksum, finished_at, rolled_back_at, logs, applied_steps_count
         FROM _prisma_migrations ORDER BY started_at, migration_name`,
    );
    expect(rows.map((r) => r["migration_name"])).toEqual(expected.map((m) => m.name));
    for (const [i, row] of rows.entries()) {
      expect(row["checksum"]).toBe(expected[i]?.checksum);
      expect(row["finished_at"]).not.toBeNull();
      expect(row["rolled_back_at"]).toBeNull();
      expect(row["logs"]).toBeNull();
      expect(row["applied_steps_count"]).toBe(1);
    }
  });

  it("applies nothing the second time", async () => {
    const before = await query("SELECT id FROM _prisma_migrations ORDER BY id");
    const lines: string[] = [];
    const { applied } = await applyPendingMigrations(factory, { log: (line) => lines.push(line) });
    expect(applied).toEqual([]);
    expect(lines).toEqual([]);
    expect(await query("SELECT id FROM _prisma_migrations ORDER BY id")).toEqual(before);
  });

  it("refuses a failing migration without applying half of it, and records the failure", async () => {
    const dir = await copyMigrations();
    try {
      const name = "99990101000000_broken";
      await fs.mkdir(path.join(dir, name));
      await fs.writeFile(
        path.join(dir, name, "migration.sql"),
        'CREATE TABLE "half_applied" ("id" INTEGER);\nSELECT no_such_function();\n',
      );
      const failure = await applyPendingMigrations(factory, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as Error).message).toContain(`Migration ${name} failed`);
      expect((failure as Error).message).toContain("no_such_function");

      const tables = await query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_applied'");
      expect(tables).toEqual([]);
      const [row] = await query(`SELECT finished_at, logs FROM _prisma_migrations WHERE migration_name = '${name}'`);
      expect(row?.["finished_at"]).toBeNull();
      expect(String(row?.["logs"])).toContain("no_such_function");

      // Like prisma migrate deploy: a failed migration blocks later deploys (P3009).
      const again = await applyPendingMigrations(factory, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(MigrationError);
      expect((again as MigrationError).code).toBe("P3009");
    } finally {
      await fs.rm(path.dirname(dir), { recursive: true, force: true });
    }
  });
}

describe("migrations on PGlite", TIMEOUT, () => {
  let client: PGlite | undefined;
  afterAll(async () => {
    await client?.close();
  });
  migrationContract(async () => {
    client = new PGlite();
    const db = client;
    return {
      factory: new PrismaPGlite(db),
      query: async (sql) => (await db.query<Row>(sql)).rows,
    };
  });
});

const postgresUrl = process.env["TEST_POSTGRES_URL"];

describe.runIf(Boolean(postgresUrl))("migrations on PostgreSQL (TEST_POSTGRES_URL)", TIMEOUT, () => {
  const name = `story_spark_mig_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  let client: pg.Client | undefined;

  afterAll(async () => {
    await client?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  migrationContract(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(postgresUrl ?? "");
    url.pathname = `/${name}`;
    const db = new pg.Client({ connectionString: url.toString() });
    client = db;
    await db.connect();
    return {
      factory: new PrismaPg({ connectionString: url.toString() }),
      query: async (sql) => (await db.query<Row>(sql)).rows,
    };
  });
});

describe("createMigration", TIMEOUT, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await copyMigrations();
  });
  afterAll(async () => {
    await fs.rm(path.dirname(dir), { recursive: true, force: true });
  });

  it("creates nothing when prisma/schema.prisma has not changed since the last migration", async () => {
    const realBefore = await listTree(DEFAULT_MIGRATIONS_DIR);
    const copyBefore = await listTree(dir);
    const lines: string[] = [];
    const created = await createMigration("nothing", { migrationsDir: dir, log: (line) => lines.push(line) });
    expect(created).toBeNull();
    expect(lines).toEqual([expect.stringContaining("No schema change")]);
    expect(await listTree(dir)).toEqual(copyBefore);
    expect(await listTree(DEFAULT_MIGRATIONS_DIR)).toEqual(realBefore);
  });

  it("writes the SQL of a schema change as a new migration that then applies", async () => {
    const schemaPath = path.join(path.dirname(dir), "schema.prisma");
    const schema = await fs.readFile(DEFAULT_SCHEMA_PATH, "utf8");
    await fs.writeFile(schemaPath, `${schema}\nmodel Probe {\n  id Int @id\n  note String?\n  @@map("probes")\n}\n`);

    const created = await createMigration("add probes", { migrationsDir: dir, schemaPath, log: () => {} });
    expect(created).not.toBeNull();
    expect(path.basename(created ?? "")).toMatch(/^\d{14}_add_probes$/);
    const sql = await fs.readFile(path.join(created ?? "", "migration.sql"), "utf8");
    expect(sql).toContain('CREATE TABLE "probes"');
    expect(sql).not.toContain('"users"');
    expect(await fs.readFile(path.join(dir, "migration_lock.toml"), "utf8")).toContain('provider = "postgresql"');

    const client = new PGlite();
    try {
      const { applied } = await applyPendingMigrations(new PrismaPGlite(client), { migrationsDir: dir });
      expect(applied.at(-1)).toBe(path.basename(created ?? ""));
      expect((await client.query("SELECT count(*)::int AS n FROM probes")).rows).toEqual([{ n: 0 }]);
      // and the schema now matches the migrations again
      expect(await createMigration("again", { migrationsDir: dir, schemaPath, log: () => {} })).toBeNull();
    } finally {
      await client.close();
    }
  });
});
