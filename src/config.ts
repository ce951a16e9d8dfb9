// The server's configuration, read once from the environment (README lists every variable).
import path from "node:path";
import { readServerPolicy, type ServerPolicy } from "./server/policy.ts";
import { readLiveLimits, type LiveLimits } from "./live/limits.ts";
import { readAuthLimits, type AuthLimits } from "./auth/limits.ts";
import { readAuthSettings, type AuthMode } from "./auth/authMode.ts";

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL; absent → embedded PGlite in dataDir */
  databaseUrl: string | undefined;
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
  /** who signs users in: our own accounts, Supabase Auth, or both (src/auth/authMode.ts) */
  authMode: AuthMode;
  /** the Supabase project whose access tokens are accepted; absent → none */
  supabaseUrl: string | undefined;
  /** the project's legacy HS256 JWT secret; absent → its JWKS only */
  supabaseJwtSecret: string | undefined;
};

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intFrom(env, "PORT", 4000),
    host: env.HOST || "localhost",
    dataDir: path.resolve(env.DATA_DIR || ".data"),
    databaseUrl: env.DATABASE_URL || undefined,
    jwtSecret: env.JWT_SECRET || undefined,
    tokenTtl: env.TOKEN_TTL || "30d",
    databasePoolSize: intFrom(env, "DATABASE_POOL_SIZE", 20),
    databaseQueryTimeoutMs: intFrom(env, "DATABASE_QUERY_TIMEOUT_MS", 15_000),
    redisUrl: env.REDIS_URL || undefined,
    policy: readServerPolicy(env, (name, fallback) => intFrom(env, name, fallback)),
    live: readLiveLimits((name, fallback) => intFrom(env, name, fallback)),
    authLimits: readAuthLimits((name, fallback) => intFrom(env, name, fallback)),
    logFormat: logFormatFrom(env),
    ...readAuthSettings(env),
  };
}

function logFormatFrom(env: NodeJS.ProcessEnv): "json" | "text" {
  const raw = env.LOG_FORMAT || (env.NODE_ENV === "production" ? "json" : "text");
  if (raw !== "json" && raw !== "text") throw new Error(`LOG_FORMAT must be "json" or "text", got "${raw}"`);
  return raw;
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return value;
}
