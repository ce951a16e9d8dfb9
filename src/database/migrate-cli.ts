// Database migrations from the command line, without the Prisma CLI's native engine.
//
//   tsx src/database/migrate-cli.ts deploy         apply pending migrations
//   tsx src/database/migrate-cli.ts create <name>  write a new migration from prisma/schema.prisma
//
// deploy uses PostgreSQL when DATABASE_URL is set, otherwise the PGlite
// database in $DATA_DIR/pglite (DATA_DIR defaults to ./.data).

import fs from "node:fs/promises";
import path from "node:path";

import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";

import { applyPendingMigrations, createMigration } from "./migrations.ts";

const USAGE = "usage: migrate-cli.ts deploy | migrate-cli.ts create <name>";

async function deploy(): Promise<void> {
  const log = (line: string) => console.log(line);
  const started = performance.now();
  const databaseUrl = process.env["DATABASE_URL"];
  let applied: string[];
  let target: string;
  if (databaseUrl) {
    target = `PostgreSQL ${redactUrl(databaseUrl)}`;
    ({ applied } = await applyPendingMigrations(new PrismaPg({ connectionString: databaseUrl }), { log }));
  } else {
    const dataDir = path.resolve(process.env["DATA_DIR"] || "./.data");
    const pgliteDir = path.join(dataDir, "pglite");
    target = `PGlite ${pgliteDir}`;
    await fs.mkdir(dataDir, { recursive: true });
    // TODO(lock): take the shared lock on this PGlite folder (a running server must not have it open).
    const client = new PGlite(pgliteDir);
    try {
      ({ applied } = await applyPendingMigrations(new PrismaPGlite(client), { log }));
    } finally {
      await client.close();
    }
  }
  const ms = Math.round(performance.now() - started);
  console.log(
    applied.length === 0
      ? `Database is up to date (${target}, ${ms} ms).`
      : `Applied ${applied.length} migration(s) to ${target} in ${ms} ms: ${applied.join(", ")}`,
  );
}

async function create(name: string | undefined): Promise<void> {
  if (!name) throw new UsageError(`missing migration name; ${USAGE}`);
  await createMigration(name);
}

class UsageError extends Error {}

/** postgresql://user:secret@host/db -> postgresql://user:***@host/db */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable DATABASE_URL)";
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "deploy":
      return deploy();
    case "create":
      return create(rest.join(" ").trim() || undefined);
    default:
      throw new UsageError(command ? `unknown command ${JSON.stringify(command)}; ${USAGE}` : USAGE);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(error.message);
    process.exitCode = 2;
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`Migration failed: ${message}`);
  if (process.env["DEBUG"] && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
});
