// PostgreSQL connections that break (failover, restart, pooler idle kill, pg_terminate_backend):
// reported once per burst, and recognised when they fail a request, so that the client gets
// a retryable SERVICE_UNAVAILABLE instead of an internal error.
import pg from "pg";
import { DriverAdapterError, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory, type Transaction } from "@prisma/driver-adapter-utils";

/** How long after a broken connection is reported further breaks are only counted. */
const BURST_MS = 10_000;

/**
 * A listener for the pool's and its clients' 'error' events. A failover or restart breaks
 * every connection at once: the first break of a burst is reported, with how many the
 * previous burst had after its first.
 */
export function reportConnectionErrors(warn: (message: string, error: unknown) => void, now: () => number = Date.now): (error: Error) => void {
  let burstStartedAt = -Infinity;
  let unreported = 0;
  return (error) => {
    if (now() - burstStartedAt < BURST_MS) {
      unreported++;
      return;
    }
    const earlier = unreported > 0 ? ` (${unreported} more in the previous burst)` : "";
    burstStartedAt = now();
    unreported = 0;
    warn(`a database connection broke; the pool opens a new one when needed${earlier}:`, describe(error));
  };
}

function describe(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? `${code} ${error.message}` : error.message;
}

/** The pool's clients whose connection broke, and the errors that broke them. */
export type BrokenConnections = { readonly clients: WeakSet<object>; readonly errors: WeakSet<object> };

export function brokenConnections(): BrokenConnections {
  return { clients: new WeakSet(), errors: new WeakSet() };
}

/**
 * node-postgres fails the statements of a broken connection with plain errors that carry
 * no code ("Connection terminated unexpectedly" — the very error the client emits — and,
 * for later statements of a transaction, a fresh "not queryable" error), which the adapter
 * passes on as they are. This wrapper turns them into the adapter's own ConnectionClosed
 * error, recognised by identity: the error the client emitted, or any error of a
 * transaction whose client broke.
 */
export function recogniseBrokenConnections(
  factory: SqlMigrationAwareDriverAdapterFactory,
  broken: BrokenConnections,
  noteUnanswered: (error: Error) => void,
): SqlMigrationAwareDriverAdapterFactory {
  return new Proxy(factory, {
    get(target, prop, receiver) {
      if (prop === "connect") return async () => guard(await target.connect(), { ...broken, noteUnanswered }, () => false);
      return Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * node-postgres's own errors, without a code, for a database that answers nothing: the pool or
 * the client gave up opening a connection, or a statement got no answer within `query_timeout`.
 */
const UNANSWERED = new Set(["timeout exceeded when trying to connect", "Connection terminated due to connection timeout", "Query read timeout"]);
const isUnanswered = (error: unknown) => error instanceof Error && UNANSWERED.has(error.message);

const GUARDED = new Set<PropertyKey>(["queryRaw", "executeRaw", "executeScript", "createSavepoint", "rollbackToSavepoint", "releaseSavepoint"]);

/**
 * Runs a transaction's statements one after the other, in the order they were asked: its one
 * connection runs one at a time anyway, and node-postgres 9 refuses a query sent while another
 * runs (8 queues it with a deprecation warning). A query's resolvers and loaders read through one
 * transaction at once (../graphql/readSnapshot.ts).
 */
function inTurns(): <R>(run: () => Promise<R>) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (run) => {
    const result = last.then(run, run);
    last = result.catch(() => {});
    return result;
  };
}

function guard<T extends SqlDriverAdapter | Transaction>(
  queryable: T,
  broken: BrokenConnections & { noteUnanswered(error: Error): void },
  clientBroke: () => boolean,
  giveUpClient: () => void = () => {},
  turn: <R>(run: () => Promise<R>) => Promise<R> = (run) => run(),
): T {
  const translate = (error: unknown): unknown =>
    error instanceof DriverAdapterError || !(broken.errors.has(error as object) || isUnanswered(error) || clientBroke())
      ? error
      : new DriverAdapterError({ kind: "ConnectionClosed" });
  return new Proxy(queryable, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "startTransaction") {
        return async (...args: unknown[]) => {
          const transaction = (await value.apply(target, args).catch((error: unknown) => {
            if (isUnanswered(error)) broken.noteUnanswered(error as Error);
            return Promise.reject(translate(error));
          })) as Transaction;
          // the adapter's transaction keeps its pg client in `client` (not part of its typings)
          const client: unknown = Reflect.get(transaction, "client");
          return guard(transaction, broken, () => typeof client === "object" && client !== null && broken.clients.has(client), () => {
            // an unanswered statement leaves the connection busy: give it up, so that the
            // transaction's ROLLBACK fails at once and the pool drops the client
            if (!(client instanceof pg.Client)) return;
            broken.clients.add(client);
            (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
          }, inTurns());
        };
      }
      if (!GUARDED.has(prop)) return value.bind(target);
      return (...args: unknown[]) =>
        turn(() => value.apply(target, args) as Promise<unknown>).catch((error: unknown) => {
          if (isUnanswered(error)) {
            broken.noteUnanswered(error as Error);
            giveUpClient();
          }
          return Promise.reject(translate(error));
        });
    },
  });
}

const CLOSED_KINDS = new Set(["ConnectionClosed", "DatabaseNotReachable", "SocketTimeout", "TooManyConnections"]);
/** Prisma's codes for a database that can't be reached (P1001) or closed the connection (P1017). */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1017"]);

/**
 * Whether an error means the database connection was lost or unavailable, so that the
 * statement did not complete and PostgreSQL rolled back its transaction: SQLSTATE class 08
 * (connection exception), 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now),
 * the adapter's closed-connection kinds, and Prisma's P1001/P1017.
 */
export function isConnectionLost(error: unknown): boolean {
  return someErrorFact(error, ({ code, kind }) => (typeof kind === "string" && CLOSED_KINDS.has(kind)) || (code !== null && (PRISMA_CODES.has(code) || isConnectionSqlState(code))));
}

/** Whether a statement gave up waiting for a lock (SQLSTATE 55P03, lock_timeout). */
export function isLockTimeout(error: unknown): boolean {
  return someErrorFact(error, ({ code }) => code === "55P03");
}

/**
 * Looks for a fact in the error, in Prisma's `meta.driverAdapterError` and in `cause`s: the
 * adapters keep PostgreSQL's SQLSTATE as `originalCode`, Prisma's own errors have `code`.
 */
function someErrorFact(error: unknown, test: (fact: { code: string | null; kind: unknown }) => boolean, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const { code, kind, originalCode, meta, cause } = error as Record<string, unknown>;
  if (typeof code === "string" && test({ code, kind })) return true;
  if (typeof originalCode === "string" && test({ code: originalCode, kind })) return true;
  if (test({ code: null, kind })) return true;
  const adapterError = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>).driverAdapterError : undefined;
  return someErrorFact(adapterError, test, depth + 1) || someErrorFact(cause, test, depth + 1);
}

function isConnectionSqlState(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || code === "57P01" || code === "57P02" || code === "57P03";
}

/** Pauses before each retry of a read whose connection was lost: the pool needs a moment to reconnect. */
const READ_RETRY_DELAYS_MS = [100, 300, 900];

/**
 * The client, with each read retried when its connection was lost (the pool opens a new one):
 * for live subscriptions, whose reads have no client waiting to resend them. A read is safe to
 * repeat; a change sent through this client would be too only if it were idempotent, so use
 * it for reads.
 */
export function retryingLostConnections<T extends object>(client: T): T {
  const retrying =
    (call: () => PromiseLike<unknown>) =>
    async (): Promise<unknown> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await call();
        } catch (error) {
          const delay = READ_RETRY_DELAYS_MS[attempt];
          if (delay === undefined || !isConnectionLost(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    };
  const wrapMethods = <O extends object>(target: O): O =>
    new Proxy(target, {
      get(object, prop) {
        const value: unknown = Reflect.get(object, prop, object);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => retrying(() => (value as (...a: unknown[]) => PromiseLike<unknown>).apply(object, args))();
      },
    });
  return new Proxy(client, {
    get(object, prop) {
      const value: unknown = Reflect.get(object, prop, object);
      // `$queryRaw` and friends; a model (`story`, `storyEvent` …) is an object of read methods
      if (typeof value === "function" && typeof prop === "string" && prop.startsWith("$query")) {
        return (...args: unknown[]) => retrying(() => (value as (...a: unknown[]) => PromiseLike<unknown>).apply(object, args))();
      }
      if (typeof value === "object" && value !== null && typeof prop === "string" && !prop.startsWith("$") && !prop.startsWith("_")) {
        return wrapMethods(value);
      }
      return value;
    },
  });
}
