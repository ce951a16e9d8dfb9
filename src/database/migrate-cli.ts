// Database migrations from the command line, without the Prisma CLI's native engine.
//
//   npm run db:migrate                apply pending migrations
//   npm run db:migration -- <name>     write a new migration from prisma/schema.prisma
//
// deploy uses PostgreSQL when DATABASE_URL is set (through DIRECT_URL when that is set too: the
// migration lock is a session's, which a transaction-mode pooler can't hold), otherwise the PGlite
// database in $DATA_DIR/pglite (DATA_DIR defaults to ./.data). It is the release step of a
// deployment that starts its servers with MIGRATE_ON_START=false.

import path from "node:path";

import { ConfigError, readConfig } from "../config.ts";
import { openDatabase } from "./connect.ts";
import { DatabaseConfigError } from "./connectionConfig.ts";
import { DataDirInUseError } from "./dataDirLock.ts";
import { createMigration } from "./migrations.ts";

const USAGE = "usage: migrate-cli.ts deploy | migrate-cli.ts create <name>";

async function deploy(): Promise<void> {
  const config = readConfig();
  const started = performance.now();
  const target = config.directUrl ? `PostgreSQL ${redactUrl(config.directUrl)}` : `PGlite ${path.join(config.dataDir, "pglite")}`;
  const applied: string[] = [];
  // openDatabase applies what is pending, and holds the embedded database's lock while it does
  const db = await openDatabase({
    databaseUrl: config.directUrl,
    sslCa: config.databaseSslCa,
    dataDir: config.dataDir,
    purpose: "story-spark db:migrate",
    log: (line) => {
      console.log(line);
      applied.push(line);
    },
  });
  await db.close();
  const ms = Math.round(performance.now() - started);
  console.log(applied.length === 0 ? `Database is up to date (${target}, ${ms} ms).` : `Migrated ${target} in ${ms} ms.`);
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
    return "(an unparsable URL)";
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
  if (error instanceof DataDirInUseError || error instanceof ConfigError || error instanceof DatabaseConfigError) {
    console.error(error.message);
    process.exitCode = 1;
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`Migration failed: ${message}`);
  if (process.env["DEBUG"] && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
});
