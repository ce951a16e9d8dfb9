// Opens the database: PostgreSQL through @prisma/adapter-pg when a URL is given,
// else embedded PGlite in the data folder. One code path, the same migrations.
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";
import { lockDataDir } from "./dataDirLock.ts";
import { applyPendingMigrations } from "./migrations.ts";
import { countStatements, type StatementCounter } from "./statementCounter.ts";

export type Database = {
  readonly kind: "postgres" | "pglite";
  readonly prisma: PrismaClient;
  /** SQL statements sent so far (tests and benchmarks read it) */
  readonly statements: StatementCounter;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** apply pending migrations before use (default true) */
  migrate?: boolean;
  /** who holds the embedded database, shown to a second process */
  purpose?: string;
  log?: (line: string) => void;
};

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const statements: StatementCounter = { count: 0 };
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void>;
  let kind: Database["kind"];

  if (options.databaseUrl) {
    kind = "postgres";
    factory = new PrismaPg({ connectionString: options.databaseUrl, max: options.poolSize ?? 20 });
    closeDriver = async () => {};
  } else {
    kind = "pglite";
    const dir = path.join(options.dataDir, "pglite");
    const unlock = lockDataDir(options.dataDir, options.purpose ?? "story-spark");
    let pglite: PGlite;
    try {
      pglite = await PGlite.create(dir);
    } catch (error) {
      unlock();
      throw error;
    }
    factory = new PrismaPGlite(pglite);
    closeDriver = async () => {
      try {
        await pglite.close();
      } finally {
        unlock();
      }
    };
  }

  if (options.migrate !== false) {
    try {
      await applyPendingMigrations(factory, options.log ? { log: options.log } : {});
    } catch (error) {
      await closeDriver();
      throw error;
    }
  }

  const prisma = new PrismaClient({ adapter: countStatements(factory, statements) });
  return {
    kind,
    prisma,
    statements,
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}
