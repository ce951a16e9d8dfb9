// Starting while the database is away: the HTTP listener is up at once (/health answers, /readiness
// says what the server waits for), and the database is tried again with back-off until it answers
// and its migrations are applied. A database that refuses for good (wrong password, no such
// database, a migration that fails) stops the server with one line instead.
import type { Database } from "../database/connect.ts";

/** Seconds between tries: quick at first (a database starting beside us), then every 30 s. */
const BACKOFF_SECONDS = [1, 2, 4, 8, 15, 30];

/** What the server still waits for before it serves GraphQL; null once it does. */
export class Startup {
  private waiting: string | null = "starting";

  waitingFor(): string | null {
    return this.waiting;
  }

  wait(reason: string): void {
    this.waiting = reason;
  }

  done(): void {
    this.waiting = null;
  }
}

/** Ready from the start: what a server built around an open, migrated database (the tests') has. */
export function startedAlready(): Startup {
  const startup = new Startup();
  startup.done();
  return startup;
}

/** The database can't be used and retrying won't help: the server stops with this one line. */
export class DatabaseRefusedError extends Error {
  override name = "DatabaseRefusedError";
}

export type DatabaseStartOptions = {
  startup: Startup;
  /** apply pending migrations (MIGRATE_ON_START); else wait until someone else has */
  migrate: boolean;
  /** what the log calls it: "PostgreSQL at host:port", "the embedded database" */
  database: string;
  log: (line: string) => void;
  warn: (line: string) => void;
  /** the server is stopping: give up waiting */
  signal: AbortSignal;
};

/** Resolves once the database answers and is migrated; rejects with DatabaseRefusedError, or when stopped. */
export async function startDatabase(db: Database, options: DatabaseStartOptions): Promise<void> {
  const { startup, database } = options;
  for (let attempt = 0; ; attempt++) {
    const delay = BACKOFF_SECONDS[Math.min(attempt, BACKOFF_SECONDS.length - 1)]!;
    try {
      startup.wait("connecting to the database");
      await answerOf(db);
      if (options.migrate) {
        startup.wait("applying migrations");
        await db.migrate(options.log);
        return;
      }
      const pending = await db.pendingMigrations();
      if (pending.length === 0) return;
      const reason = `${pending.length} migration(s) not applied (MIGRATE_ON_START=false: run npm run db:migrate)`;
      startup.wait(reason);
      if (attempt === 0 || delay === BACKOFF_SECONDS.at(-1)) options.warn(`waiting: ${reason}; checking again in ${delay} s`);
    } catch (error) {
      if (options.signal.aborted) throw error;
      if (!isUnreachable(error)) throw new DatabaseRefusedError(`${database} can't be used: ${describeDatabaseError(error)}`, { cause: error });
      const reason = `database unreachable (${describeDatabaseError(error)})`;
      startup.wait(`${reason}; next try in ${delay} s`);
      options.warn(`${database} unreachable (${describeDatabaseError(error)}); retrying in ${delay} s`);
    }
    await sleep(delay * 1000, options.signal);
  }
}

/** `SELECT 1` straight on the driver, whose errors say plainly what is wrong (Prisma's wrap them). */
export function answerOf(db: Database): Promise<unknown> {
  return db.driver.kind === "postgres" ? db.driver.pool.query("SELECT 1") : db.driver.pglite.query("SELECT 1");
}

/** Errors that say the database can't be reached now, but may be soon. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE"]);
/** SQLSTATEs of a database starting, stopping, overloaded, or a connection that broke. */
const TRANSIENT_STATES = /^(08...|57P0[1-3]|53300)$/;
const NO_ANSWER = /timeout exceeded when trying to connect|Connection terminated due to connection timeout|Connection terminated unexpectedly|Query read timeout/;

function isUnreachable(error: unknown): boolean {
  return someCause(error, (e) => {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (NETWORK_CODES.has(code) || TRANSIENT_STATES.test(code))) return true;
    return e instanceof Error && NO_ANSWER.test(e.message);
  });
}

/** The short reason: an errno code, a SQLSTATE with its message, or "no answer within 5 s". */
export function describeDatabaseError(error: unknown): string {
  let found: string | null = null;
  someCause(error, (e) => {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) found = code;
    else if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && e instanceof Error) found = `${e.message} (${code})`;
    else if (e instanceof Error && /timeout/i.test(e.message)) found = "no answer in time";
    return found !== null;
  });
  return found ?? (error instanceof Error ? error.message.split("\n")[0]! : String(error));
}

/** Whether the error, its causes or (for several addresses tried) its errors satisfy the test. */
function someCause(error: unknown, test: (error: object) => boolean, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 5) return false;
  if (test(error)) return true;
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.some((e) => someCause(e, test, depth + 1))) return true;
  return someCause(cause, test, depth + 1);
}

/** host:port of a PostgreSQL URL, never its credentials. */
export function databaseAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}`;
  } catch {
    return "(DATABASE_URL)";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}
