// Test databases: a fresh embedded PGlite folder, or a fresh database on the PostgreSQL
// named by TEST_POSTGRES_URL when TEST_DATABASE=postgres. Each is dropped after use.
// With TEST_POSTGRES_POOLED_URL (a transaction-mode PgBouncer in front of that PostgreSQL, .ci/run)
// the application's connections go through the pooler, as DATABASE_URL on Supabase's port 6543
// would, while migrations, the CLI and the tests' own admin connections use the direct URL.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";

export const backend: "pglite" | "postgres" = process.env.TEST_DATABASE === "postgres" ? "postgres" : "pglite";

export type TestDatabase = {
  /** the application's (DATABASE_URL): through the pooler when there is one */
  databaseUrl: string | undefined;
  /** migrations', the CLI's and the tests' own (DIRECT_URL): never through the pooler */
  directUrl: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
};

/** The URL of database `name` on the server of `url`. */
function urlOf(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-test-"));
  const removeDir = () => fs.rm(dataDir, { recursive: true, force: true });
  if (backend === "pglite") return { databaseUrl: undefined, directUrl: undefined, dataDir, drop: removeDir };

  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (!adminUrl) throw new Error("TEST_DATABASE=postgres needs TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test");
  const name = `story_spark_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const pooledUrl = process.env.TEST_POSTGRES_POOLED_URL;
  return {
    databaseUrl: urlOf(pooledUrl || adminUrl, name),
    directUrl: urlOf(adminUrl, name),
    dataDir,
    async drop() {
      await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await removeDir();
    },
  };
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
