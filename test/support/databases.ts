// Test databases: a fresh embedded PGlite folder, or a fresh database on the PostgreSQL
// named by TEST_POSTGRES_URL when TEST_DATABASE=postgres. Each is dropped after use.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";

export const backend: "pglite" | "postgres" = process.env.TEST_DATABASE === "postgres" ? "postgres" : "pglite";

export type TestDatabase = { databaseUrl: string | undefined; dataDir: string; drop(): Promise<void> };

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-test-"));
  const removeDir = () => fs.rm(dataDir, { recursive: true, force: true });
  if (backend === "pglite") return { databaseUrl: undefined, dataDir, drop: removeDir };

  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (!adminUrl) throw new Error("TEST_DATABASE=postgres needs TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test");
  const name = `story_spark_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
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
