// Opens the database: PostgreSQL through @prisma/adapter-pg when a URL is given,
// else embedded PGlite in the data folder. One code path, the same migrations.
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";
import { brokenConnections, recogniseBrokenConnections, reportConnectionErrors } from "./connectionErrors.ts";
import { assertMigratable, connectionConfig } from "./connectionConfig.ts";
import { lockDataDir } from "./dataDirLock.ts";
import { applyPendingMigrations, pendingMigrations } from "./migrations.ts";
import { countStatements, type StatementCounter } from "./statementCounter.ts";

export type Database = {
  readonly kind: "postgres" | "pglite";
  readonly prisma: PrismaClient;
  /** SQL statements sent so far (tests and benchmarks read it) */
  readonly statements: StatementCounter;
  /** the driver beneath Prisma, for bulk work Prisma cannot express (COPY): rebuild's */
  readonly driver: DatabaseDriver;
  /** applies the pending migrations (on a connection of their own); the names applied */
  migrate(log?: (line: string) => void): Promise<string[]>;
  /** the migrations of prisma/migrations the database has not applied, read without changing anything */
  pendingMigrations(): Promise<string[]>;
  close(): Promise<void>;
};

export type DatabaseDriver = { readonly kind: "postgres"; readonly pool: pg.Pool } | { readonly kind: "pglite"; readonly pglite: PGlite };

export type DatabaseOptions = {
  /** PostgreSQL for the pool; a transaction-mode pooler will do (nothing here keeps session state) */
  databaseUrl?: string | undefined;
  /** PostgreSQL for migrations, which hold a session lock: not through a transaction-mode pooler; databaseUrl when omitted */
  directUrl?: string | undefined;
  /** PEM certificates the PostgreSQL server's certificate must chain to (src/database/connectionConfig.ts) */
  sslCa?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /**
   * Pending migrations: apply them before use (true, the default), leave them (false), or refuse
   * a database that has any ("require": DatabaseNotMigratedError, and nothing is applied).
   */
  migrate?: boolean | "require";
  /** who holds the embedded database, shown to a second process */
  purpose?: string;
  log?: (line: string) => void;
  /** a PostgreSQL connection broke (the pool replaces it); called at most once per burst */
  warn?: (message: string, error: unknown) => void;
  /**
   * PostgreSQL: the longest a statement may go without an answer before its connection is
   * given up as dead (a database behind a failover or a dropped route answers nothing, and
   * TCP would wait for minutes). Off when omitted: the CLI's long statements are not cut.
   */
  queryTimeoutMs?: number;
};

/** The longest opening a PostgreSQL connection may take before the request answers SERVICE_UNAVAILABLE. */
const CONNECT_TIMEOUT_MS = 5_000;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const statements: StatementCounter = { count: 0 };
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void>;
  let kind: Database["kind"];
  let driver: DatabaseDriver;
  let migrationDriver = (): { factory: SqlMigrationAwareDriverAdapterFactory; end(): Promise<void> } => ({ factory, end: async () => {} });

  if (options.databaseUrl) {
    kind = "postgres";
    // Our own pool, so that every connection has an error listener from its first moment:
    // a connection killed while checked out (failover, pooler idle kill, restart) emits
    // 'error', and without a listener that event would end the process. Its request fails
    // (SERVICE_UNAVAILABLE, see src/graphql/errors.ts) and pg-pool drops the dead client.
    const pool = new pg.Pool({
      ...connectionConfig(options.databaseUrl, options.sslCa),
      max: options.poolSize ?? 20,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    });
    const report = reportConnectionErrors(options.warn ?? (() => {}));
    const broken = brokenConnections();
    // pg-pool passes on an idle client's error too: each error is reported once
    const noteBreak = (error: Error) => {
      if (broken.errors.has(error)) return;
      broken.errors.add(error);
      report(error);
    };
    pool.on("error", noteBreak); // an idle client broke; pg-pool drops it
    pool.on("connect", (client) =>
      client.on("error", (error) => {
        broken.clients.add(client); // a client in use broke; pg-pool drops it when it is released
        noteBreak(error);
      }),
    );
    // a statement that failed on a broken client (BEGIN included) is released with its error
    pool.on("release", (error: unknown, client) => {
      if (error instanceof Error && broken.clients.has(client)) broken.errors.add(error);
    });
    factory = recogniseBrokenConnections(new PrismaPg(pool), broken, noteBreak);
    driver = { kind, pool };
    closeDriver = () => pool.end();
    const url = options.directUrl || options.databaseUrl;
    const sslCa = options.sslCa;
    // migrations may run long: they get their own connection, without the statement timeout,
    // to the direct URL, since the engine's lock is a session's
    migrationDriver = () => {
      assertMigratable(url);
      const migrationPool = new pg.Pool({ ...connectionConfig(url, sslCa), max: 1, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      migrationPool.on("error", noteBreak);
      migrationPool.on("connect", (client) => client.on("error", noteBreak));
      return { factory: new PrismaPg(migrationPool), end: () => migrationPool.end() };
    };
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
    driver = { kind, pglite };
    closeDriver = async () => {
      try {
        await pglite.close();
      } finally {
        unlock();
      }
    };
  }

  const migrate = async (log = options.log) => {
    const migrations = migrationDriver();
    try {
      return (await applyPendingMigrations(migrations.factory, log ? { log } : {})).applied;
    } finally {
      await migrations.end();
    }
  };
  if (options.migrate === true || options.migrate === undefined) {
    try {
      await migrate();
    } catch (error) {
      await closeDriver();
      throw error;
    }
  }

  const prisma = new PrismaClient({ adapter: countStatements(factory, statements) });
  if (options.migrate === "require") {
    try {
      const pending = await pendingMigrations(() => appliedMigrations(prisma));
      if (pending.length > 0) throw new DatabaseNotMigratedError(pending);
    } catch (error) {
      await prisma.$disconnect();
      await closeDriver();
      throw error;
    }
  }
  return {
    kind,
    prisma,
    statements,
    driver,
    migrate,
    pendingMigrations: () => pendingMigrations(() => appliedMigrations(prisma)),
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}

/** A database some migrations of prisma/migrations have not been applied to, opened with `migrate: "require"`. */
export class DatabaseNotMigratedError extends Error {
  override name = "DatabaseNotMigratedError";
  readonly code = "DATABASE_NOT_MIGRATED";
  readonly pending: readonly string[];
  constructor(pending: readonly string[]) {
    super(`the database is not migrated (${pending.length} migration(s) to apply, ${pending.at(-1)} the last): run npm run db:migrate first`);
    this.pending = pending;
  }
}

/** The migrations the database records as applied; null when it has no `_prisma_migrations` (nothing applied). */
async function appliedMigrations(prisma: PrismaClient): Promise<string[] | null> {
  const [table] = await prisma.$queryRaw<{ exists: boolean }[]>`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists`;
  if (!table?.exists) return null;
  const rows = await prisma.$queryRaw<{ migration_name: string }[]>`
    SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  return rows.map((row) => row.migration_name);
}
