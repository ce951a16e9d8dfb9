// How a PostgreSQL URL becomes a `pg` connection: TLS verified against DATABASE_SSL_CA when it is
// given, and a refusal to migrate through a pooler that can't hold the migration lock.
import type pg from "pg";
import pgConnectionString from "pg-connection-string";

/** A database setting that can't work as given; one line, naming the variable to change. */
export class DatabaseConfigError extends Error {
  override name = "DatabaseConfigError";
  readonly code: "SSL_CA_WITHOUT_VERIFICATION" | "MIGRATIONS_THROUGH_TRANSACTION_POOLER";
  constructor(code: DatabaseConfigError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * What `new pg.Pool` needs for `url`. Without a CA the URL is passed on as it is, and `pg` reads its
 * `sslmode`: `require` (and `prefer`, `verify-ca`) is treated as `verify-full` by pg 8, unless the
 * URL also has `uselibpqcompat=true`; `no-verify` encrypts without checking the certificate.
 *
 * With a CA, `pg` would let the URL's `sslmode` replace any `ssl` option given beside it, so the
 * URL is parsed here (by the parser `pg` uses) and its TLS options completed with the CA: the
 * connection is encrypted and the server's certificate must chain to the CA and name the host
 * (`verify-full`), whether the URL says `sslmode=require`, `verify-full` or nothing.
 */
export function connectionConfig(url: string, sslCa: string | undefined): pg.PoolConfig {
  if (sslCa === undefined) return { connectionString: url };
  const parsed = pgConnectionString.parseIntoClientConfig(url);
  const ssl = parsed.ssl;
  if (ssl === false || (typeof ssl === "object" && ssl.rejectUnauthorized === false)) {
    throw new DatabaseConfigError(
      "SSL_CA_WITHOUT_VERIFICATION",
      "DATABASE_SSL_CA is set but the database URL's sslmode turns TLS or its verification off (disable, prefer, no-verify, or require with uselibpqcompat): use sslmode=verify-full, or leave sslmode out",
    );
  }
  return { ...parsed, ssl: { ...(typeof ssl === "object" ? ssl : {}), ca: sslCa } };
}

/**
 * Migrations hold a session advisory lock (the schema engine's) from one statement to the next: a
 * transaction-mode pooler hands each statement to whichever server connection is free, so the lock
 * would be taken on one and left behind on another. Supabase's transaction pooler (port 6543) is
 * recognised by its address; other poolers can't be told from a URL (README: DIRECT_URL).
 */
export function assertMigratable(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return; // pg reports an unparsable URL itself
  }
  if (parsed.hostname.endsWith(".pooler.supabase.com") && parsed.port === "6543") {
    throw new DatabaseConfigError(
      "MIGRATIONS_THROUGH_TRANSACTION_POOLER",
      "migrations can't run through Supabase's transaction pooler (port 6543): set DIRECT_URL to the direct connection or the session pooler (port 5432)",
    );
  }
}
