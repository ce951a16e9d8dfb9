// The server's configuration, read once from the environment (README lists every variable).
import fs from "node:fs";
import path from "node:path";
import { readServerPolicy, type ServerPolicy } from "./server/policy.ts";
import { readLiveLimits, type LiveLimits } from "./live/limits.ts";
import { readAuthLimits, type AuthLimits } from "./auth/limits.ts";

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL; absent → embedded PGlite in dataDir */
  databaseUrl: string | undefined;
  /** PostgreSQL for migrations and the CLI: a direct (or session-pooled) connection; databaseUrl when unset */
  directUrl: string | undefined;
  /** apply pending migrations on start; off: refuse to start while any is pending */
  migrateOnStart: boolean;
  /** PEM certificates the PostgreSQL server's certificate must chain to (src/database/connectionConfig.ts) */
  databaseSslCa: string | undefined;
  /** HS256 secret; absent → generated once and kept in dataDir */
  jwtSecret: string | undefined;
  tokenTtl: string;
  /** pg pool size per process */
  databasePoolSize: number;
  /** how long a statement may go unanswered before its connection is given up as dead */
  databaseQueryTimeoutMs: number;
  /** Redis for live messages across instances; absent → in-process */
  redisUrl: string | undefined;
  /** what the HTTP and WebSocket server lets through (src/server/policy.ts) */
  policy: ServerPolicy;
  /** open subscriptions and WebSockets: caps, re-checks, timeouts (src/live/limits.ts) */
  live: LiveLimits;
  /** throttling of sign-up and sign-in, password hashes at once (src/auth/limits.ts) */
  authLimits: AuthLimits;
  /** one JSON object per line, or readable text */
  logFormat: "json" | "text";
};

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intFrom(env, "PORT", 4000),
    host: env.HOST || "localhost",
    dataDir: path.resolve(env.DATA_DIR || ".data"),
    databaseUrl: env.DATABASE_URL || undefined,
    directUrl: directUrlFrom(env),
    migrateOnStart: booleanFrom(env, "MIGRATE_ON_START", true),
    databaseSslCa: sslCaFrom(env),
    jwtSecret: env.JWT_SECRET || undefined,
    tokenTtl: env.TOKEN_TTL || "30d",
    databasePoolSize: intFrom(env, "DATABASE_POOL_SIZE", 20),
    databaseQueryTimeoutMs: intFrom(env, "DATABASE_QUERY_TIMEOUT_MS", 15_000),
    redisUrl: env.REDIS_URL || undefined,
    policy: readServerPolicy(env, (name, fallback) => intFrom(env, name, fallback)),
    live: readLiveLimits((name, fallback) => intFrom(env, name, fallback)),
    authLimits: readAuthLimits((name, fallback) => intFrom(env, name, fallback)),
    logFormat: logFormatFrom(env),
  };
}

function logFormatFrom(env: NodeJS.ProcessEnv): "json" | "text" {
  const raw = env.LOG_FORMAT || (env.NODE_ENV === "production" ? "json" : "text");
  if (raw !== "json" && raw !== "text") throw new Error(`LOG_FORMAT must be "json" or "text", got "${raw}"`);
  return raw;
}

function directUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.DIRECT_URL) return env.DATABASE_URL || undefined;
  // without DATABASE_URL the server would use the embedded database and the CLI another one
  if (!env.DATABASE_URL) throw new Error("DIRECT_URL is set but DATABASE_URL is not: set both (or neither, for the embedded database)");
  return env.DIRECT_URL;
}

/** DATABASE_SSL_CA: the certificates themselves (PEM), or the path of a file holding them. */
function sslCaFrom(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.DATABASE_SSL_CA?.trim();
  if (!raw) return undefined;
  // inline; a platform that can't hold newlines in a variable may have them written as \n
  if (raw.startsWith("-----BEGIN")) return raw.includes("\n") ? raw : raw.replaceAll("\\n", "\n");
  let pem: string;
  try {
    pem = fs.readFileSync(raw, "utf8");
  } catch (error) {
    throw new Error(`DATABASE_SSL_CA: cannot read ${raw}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`DATABASE_SSL_CA: ${raw} holds no PEM certificate`);
  return pem;
}

function booleanFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return value;
}
