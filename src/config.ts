// The server's configuration: every environment variable it reads, in one zod schema, checked
// once at boot (README "Operating" lists them all). A bad value is one line naming the variable,
// what is wrong with it and an example; the server stops before it opens or writes anything.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { readAuthSettings, type AuthMode, type AuthSettings } from "./auth/authMode.ts";
import { DEFAULT_DOCUMENT_LIMITS, type DocumentLimits } from "./graphql/documentLimits.ts";
import { DEFAULT_MAX_BODY_BYTES, readTrustedDocuments, type ServerPolicy } from "./server/policy.ts";
import { DEFAULT_LIVE_LIMITS, type LiveLimits } from "./live/limits.ts";
import { DEFAULT_PRESENCE_LIMITS, type PresenceLimits } from "./live/presence.ts";
import { DEFAULT_AUTH_LIMITS, type AuthLimits } from "./auth/limits.ts";
import { DEFAULT_PRICES, type AiConfig, type Price } from "./ai/config.ts";
import { MODULES, type ModuleName } from "./domain/catalogue.ts";
import type { LogLevel } from "./server/logger.ts";
import { DEFAULT_TRASH_DAYS, DEFAULT_TRASH_SWEEP_MS } from "./server/trashSweep.ts";

export type Config = {
  /** NODE_ENV=production */
  production: boolean;
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL; absent → embedded PGlite in dataDir */
  databaseUrl: string | undefined;
  /** PostgreSQL without a pooler in between, for migrations (DIRECT_URL, else DATABASE_URL) */
  directUrl: string | undefined;
  /** apply pending migrations at start (else readiness waits for them to be applied) */
  migrateOnStart: boolean;
  /** the PEM text of the CA that signs the database's certificate (DATABASE_SSL_CA: the PEM itself or a file holding it) */
  databaseSslCa: string | undefined;
  /** HS256 secret; absent → generated once and kept in dataDir */
  jwtSecret: string | undefined;
  tokenTtl: string;
  /** who signs the tokens the server accepts: its own accounts, Supabase Auth, or both */
  authMode: AuthMode;
  supabaseUrl: string | undefined;
  supabaseJwtSecret: string | undefined;
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
  /** how presence ends and what it may hold (src/live/presence.ts) */
  presence: PresenceLimits;
  /** throttling of sign-up and sign-in, password hashes at once (src/auth/limits.ts) */
  authLimits: AuthLimits;
  /** AI generation: provider, models, limits, prices (src/ai/config.ts) */
  ai: AiConfig;
  /** one JSON object per line, or readable text */
  logFormat: "json" | "text";
  logLevel: LogLevel;
  /** /metrics wants `Authorization: Bearer <this>`; unset → open in development, off in production */
  metricsToken: string | undefined;
  /** OpenTelemetry traces go to this OTLP/HTTP collector; unset → no tracing code is even loaded */
  otelEndpoint: string | undefined;
  otelServiceName: string;
  /** how long a deleted story stays in the trash before it is erased for good (0: at the next sweep) */
  trashDays: number;
  /** how often the server empties the trash of stories deleted more than trashDays ago */
  trashSweepMs: number;
};

/** One line per bad variable: `NAME: what is wrong, got "value" (for example NAME=example)`. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join("\n"));
    this.problems = problems;
  }
}

// ------------------------------------------------------------------ kinds of values

/** What the README and the error lines say about a variable. */
type About = { example: string; secret?: true };
const about = z.registry<About>();

function documented<T extends z.ZodType>(schema: T, meta: About): T {
  about.add(schema, meta);
  return schema;
}

const whole = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((raw) => ["true", "false", "1", "0"].includes(raw), "must be true or false")
  .transform((raw) => raw === "true" || raw === "1");

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be ${values.slice(0, -1).join(", ")} or ${values.at(-1)}` });

const text = z.string().trim().min(1, "must not be empty");

/** A URL with one of these schemes and a host. */
const urlOf = (schemes: readonly string[]) =>
  z.string().trim().transform((raw, ctx) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      ctx.addIssue({ code: "custom", message: "is not a URL" });
      return z.NEVER;
    }
    const scheme = url.protocol.slice(0, -1);
    if (!schemes.includes(scheme)) {
      ctx.addIssue({ code: "custom", message: `must start with ${schemes.map((s) => `${s}://`).join(" or ")}` });
      return z.NEVER;
    }
    if (!url.hostname) {
      ctx.addIssue({ code: "custom", message: "names no host" });
      return z.NEVER;
    }
    return raw;
  });

const postgresUrl = urlOf(["postgresql", "postgres"]);
const httpUrl = urlOf(["https", "http"]);

/** Durations as jose reads them for a token's expiry ("30d", "12h", "90 minutes"), and only positive ones. */
const JOSE_DURATION = /^(\+)? ?(\d+|\d+\.\d+) ?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)(?: from now)?$/i;
const JOSE_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_557_600 };
const duration = z
  .string()
  .trim()
  .refine((raw) => JOSE_DURATION.test(raw), "must be a duration such as 30d, 12h or 90m")
  .refine((raw) => {
    const [, , amount = "0", unit = "s"] = JOSE_DURATION.exec(raw) ?? [];
    return Math.round(Number(amount) * JOSE_UNIT_SECONDS[unit[0]!.toLowerCase()]!) >= 60;
  }, "must be at least a minute");

/** A browser origin: scheme, host and port, no path. */
const origins = z
  .string()
  .transform((raw) => raw.split(",").map((o) => o.trim()).filter(Boolean))
  .refine((list) => list.every((o) => /^https?:\/\/[^/\s]+$/.test(o)), "must list origins (scheme://host[:port], no path), separated by commas");

/** PEM text itself, or the path of a file that holds it. */
const pem = z.string().transform((raw, ctx) => {
  // inline; a platform that can't hold newlines in a variable may have them written as \n
  if (raw.includes("-----BEGIN ")) return raw.includes("\n") ? raw.trim() : raw.trim().replaceAll("\\n", "\n");
  let content: string;
  try {
    content = fs.readFileSync(raw, "utf8");
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `is neither PEM text nor a readable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
    return z.NEVER;
  }
  if (!content.includes("-----BEGIN CERTIFICATE-----")) {
    ctx.addIssue({ code: "custom", message: "names a file that holds no PEM certificate" });
    return z.NEVER;
  }
  return content;
});

const trustedDocuments = z.string().transform((file, ctx) => {
  try {
    return readTrustedDocuments(file);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^TRUSTED_DOCUMENTS: /, "") });
    return z.NEVER;
  }
});

const price = z.object({ input: z.number().min(0), output: z.number().min(0) });
const prices = z.string().transform((raw, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `is not JSON (${(error as Error).message})` });
    return z.NEVER;
  }
  const checked = z.record(z.string().min(1), price).safeParse(parsed);
  if (!checked.success) {
    const model = checked.error.issues[0]?.path[0];
    ctx.addIssue({
      code: "custom",
      message: model === undefined
        ? "must be a JSON object of model → {input, output}"
        : `"${String(model)}" needs {"input": USD per 1M tokens, "output": USD per 1M tokens}, numbers of 0 or more`,
    });
    return z.NEVER;
  }
  return checked.data as Record<string, Price>;
});

const modelList = z
  .string()
  .transform((raw) => raw.split(",").map((m) => m.trim()).filter((m) => m !== ""))
  .refine((models) => models.length > 0, "must list model names separated by commas");

// ------------------------------------------------------------------ the variables

const moduleModelVariables = Object.fromEntries(
  MODULES.map((m) => [`AI_MODEL_${m.name}`, documented(text.optional(), { example: "gpt-4.1" })]),
) as Record<`AI_MODEL_${ModuleName}`, z.ZodOptional<z.ZodString>>;

const secret = <T extends z.ZodType>(schema: T, example: string) => documented(schema, { example, secret: true });
const count = (min: number, fallback: number) => documented(whole(min).default(fallback), { example: String(fallback) });
const A = DEFAULT_AUTH_LIMITS;
const L = DEFAULT_LIVE_LIMITS;
const D = DEFAULT_DOCUMENT_LIMITS;

/** Every variable the server reads. Unset and empty are the same: the default. */
export const environment = z.object({
  NODE_ENV: documented(oneOf(["development", "production", "test"]).optional(), { example: "production" }),
  PORT: documented(whole(0, 65_535).default(4000), { example: "4000" }),
  HOST: documented(text.default("localhost"), { example: "0.0.0.0" }),
  DATA_DIR: documented(text.default(".data"), { example: "/var/lib/story-spark" }),
  LOG_FORMAT: documented(oneOf(["json", "text"]).optional(), { example: "json" }),
  LOG_LEVEL: documented(oneOf(["debug", "info", "warn", "error"]).default("info"), { example: "info" }),

  DATABASE_URL: documented(postgresUrl.optional(), { example: "postgresql://postgres@127.0.0.1:5432/story_spark" }),
  DIRECT_URL: documented(postgresUrl.optional(), { example: "postgresql://postgres@db.example.supabase.co:5432/postgres" }),
  DATABASE_POOL_SIZE: count(1, 20),
  DATABASE_QUERY_TIMEOUT_MS: count(0, 15_000),
  DATABASE_SSL_CA: documented(pem.optional(), { example: "/etc/ssl/certs/supabase-ca.pem" }),
  MIGRATE_ON_START: documented(flag.default(true), { example: "false" }),
  REDIS_URL: documented(urlOf(["redis", "rediss"]).optional(), { example: "redis://127.0.0.1:6379" }),

  JWT_SECRET: secret(z.string().min(32, "must be at least 32 characters (HS256 wants a 256-bit key)").optional(), "a-random-string-of-32-characters-or-more"),
  TOKEN_TTL: documented(duration.default("30d"), { example: "30d" }),
  AUTH_MODE: documented(oneOf(["local", "supabase", "both"]).optional(), { example: "both" }),
  SUPABASE_URL: documented(httpUrl.optional(), { example: "https://abcdefgh.supabase.co" }),
  SUPABASE_JWT_SECRET: secret(z.string().min(32, "must be at least 32 characters").optional(), "the JWT secret of the Supabase project's API settings"),
  AUTH_RATE_LIMIT_WINDOW_SECONDS: count(1, A.windowSeconds),
  AUTH_RATE_LIMIT_SIGNINS_PER_ADDRESS: count(0, A.signInsPerAddress),
  AUTH_RATE_LIMIT_SIGNUPS_PER_ADDRESS: count(0, A.signUpsPerAddress),
  AUTH_RATE_LIMIT_PER_EMAIL: count(0, A.attemptsPerEmail),
  AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS: count(0, A.failuresPerAddress),
  AUTH_RATE_LIMIT_FAILURE_WINDOW_SECONDS: count(1, A.failureWindowSeconds),
  AUTH_RATE_LIMIT_LOCKOUT_AFTER: count(0, A.lockoutAfter),
  AUTH_RATE_LIMIT_LOCKOUT_SECONDS: count(1, A.lockoutSeconds),
  AUTH_RATE_LIMIT_LOCKOUT_MAX_SECONDS: count(1, A.lockoutMaxSeconds),
  AUTH_RATE_LIMIT_LOCKOUT_RESET_SECONDS: count(1, A.lockoutResetSeconds),
  AUTH_HASH_CONCURRENCY: count(1, A.hashConcurrency),
  AUTH_HASH_QUEUE: count(0, A.hashQueue),

  GRAPHIQL: documented(flag.optional(), { example: "true" }),
  CORS_ORIGINS: documented(origins.optional(), { example: "https://app.example.com,https://admin.example.com" }),
  APQ: documented(flag.optional(), { example: "false" }),
  TRUSTED_DOCUMENTS: documented(trustedDocuments.optional(), { example: "./persisted-documents.json" }),
  MAX_BODY_BYTES: count(1, DEFAULT_MAX_BODY_BYTES),
  // the names the refusals quote (DOCUMENT_LIMIT_SETTINGS)
  MAX_QUERY_TOKENS: count(1, D.maxTokens),
  MAX_QUERY_DEPTH: count(1, D.maxDepth),
  MAX_QUERY_ALIASES: count(1, D.maxAliases),
  MAX_QUERY_DIRECTIVES: count(1, D.maxDirectives),
  MAX_QUERY_COST: count(1, D.maxCost),

  MAX_SUBSCRIPTIONS_PER_SOCKET: count(0, L.maxSubscriptionsPerSocket),
  MAX_SUBSCRIPTIONS_PER_USER: count(0, L.maxSubscriptionsPerUser),
  SUBSCRIPTION_RECHECK_MS: count(0, L.viewerRecheckMs),
  WS_CONNECTION_INIT_TIMEOUT_MS: count(0, L.connectionInitWaitMs),
  WS_ANONYMOUS_IDLE_MS: count(0, L.anonymousIdleMs),
  WS_PING_INTERVAL_MS: count(0, L.pingIntervalMs),
  CATCHUP_CONCURRENCY: count(0, L.catchUpConcurrency),
  PRESENCE_HEARTBEAT_MS: count(100, DEFAULT_PRESENCE_LIMITS.heartbeatMs),
  PRESENCE_TTL_MS: count(1_000, DEFAULT_PRESENCE_LIMITS.ttlMs),

  TRASH_DAYS: documented(whole(0, 36_500).default(DEFAULT_TRASH_DAYS), { example: String(DEFAULT_TRASH_DAYS) }),
  TRASH_SWEEP_MS: count(1_000, DEFAULT_TRASH_SWEEP_MS),

  METRICS_TOKEN: secret(z.string().min(16, "must be at least 16 characters").optional(), "a-long-random-scrape-token"),
  OTEL_EXPORTER_OTLP_ENDPOINT: documented(httpUrl.optional(), { example: "http://127.0.0.1:4318" }),
  OTEL_SERVICE_NAME: documented(text.default("story-spark"), { example: "story-spark" }),

  OPENAI_API_KEY: secret(text.optional(), "sk-…"),
  OPENAI_BASE_URL: documented(httpUrl.optional(), { example: "http://localhost:11434/v1" }),
  AI_MODEL: documented(text.default("gpt-4o-mini"), { example: "gpt-4.1-mini" }),
  ...moduleModelVariables,
  AI_MODELS: documented(modelList.optional(), { example: "gpt-4o-mini,gpt-4.1" }),
  AI_TIMEOUT_MS: count(1, 120_000),
  AI_MAX_RETRIES: count(0, 2),
  AI_MAX_CONCURRENT_PER_USER: count(1, 2),
  AI_DAILY_TOKEN_BUDGET: count(1, 500_000),
  AI_PRICES: documented(prices.optional(), { example: '{"my-model": {"input": 0.5, "output": 1.5}}' }),
  AI_RESPONSE_FORMAT: documented(oneOf(["json_schema", "json_object"]).default("json_schema"), { example: "json_object" }),
});

export type Environment = z.output<typeof environment>;

/** The names of every variable, in the schema's order (the README's table follows it). */
export const VARIABLES = Object.keys(environment.shape);

// ------------------------------------------------------------------ reading

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // unset and empty mean the same: the default
  const given = Object.fromEntries(VARIABLES.flatMap((name) => (env[name] === undefined || env[name] === "" ? [] : [[name, env[name]]])));
  const parsed = environment.safeParse(given);
  if (!parsed.success) throw new ConfigError(problemLines(parsed.error, given));
  const problems = crossChecks(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return configOf(parsed.data);
}

/** The AI part of the configuration (tests build a server's AI settings from a few variables). */
export function readAiConfig(env: NodeJS.ProcessEnv = {}): AiConfig {
  return readConfig(env).ai;
}

function problemLines(error: z.ZodError, given: Record<string, string | undefined>): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const issue of error.issues) {
    const name = String(issue.path[0]);
    if (seen.has(name)) continue; // one line per variable: its first problem
    seen.add(name);
    lines.push(problemLine(name, issue.message, given[name]));
  }
  return lines;
}

function problemLine(name: string, problem: string, raw: string | undefined): string {
  const meta = about.get(environment.shape[name as keyof typeof environment.shape] as z.ZodType);
  const got = raw === undefined || meta?.secret ? "" : `, got "${shown(raw)}"`;
  const example = meta ? ` (for example ${name}=${meta.example})` : "";
  return `${name}: ${problem}${got}${example}`;
}

/** What a line may repeat of a value: no password of a URL, and not a whole certificate. */
function shown(raw: string): string {
  let value = raw;
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = "***";
      value = url.toString();
    }
  } catch {
    // not a URL: as it is
  }
  const oneLine = value.replace(/\r?\n/g, "\\n");
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}…` : oneLine;
}

/** What no single variable can say wrong by itself. */
function crossChecks(env: Environment): string[] {
  const problems: string[] = [];
  // without DATABASE_URL the server would use the embedded database and the CLI another one
  if (env.DIRECT_URL && !env.DATABASE_URL) {
    problems.push(`DIRECT_URL: is set but DATABASE_URL is not: set both, or neither for the embedded database (for example DATABASE_URL=postgresql://postgres@127.0.0.1:5432/story_spark)`);
  }
  try {
    authSettingsOf(env);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  return problems;
}

function authSettingsOf(env: Environment): AuthSettings {
  return readAuthSettings({ AUTH_MODE: env.AUTH_MODE, SUPABASE_URL: env.SUPABASE_URL, SUPABASE_JWT_SECRET: env.SUPABASE_JWT_SECRET });
}

function configOf(env: Environment): Config {
  const production = env.NODE_ENV === "production";
  const documentLimits: DocumentLimits = {
    maxTokens: env.MAX_QUERY_TOKENS,
    maxDepth: env.MAX_QUERY_DEPTH,
    maxAliases: env.MAX_QUERY_ALIASES,
    maxDirectives: env.MAX_QUERY_DIRECTIVES,
    maxCost: env.MAX_QUERY_COST,
  };
  const trustedDocuments = env.TRUSTED_DOCUMENTS ?? null;
  const modelFor: Partial<Record<ModuleName, string>> = {};
  for (const m of MODULES) {
    const model = env[`AI_MODEL_${m.name}`];
    if (model) modelFor[m.name] = model;
  }
  return {
    production,
    port: env.PORT,
    host: env.HOST,
    dataDir: path.resolve(env.DATA_DIR),
    databaseUrl: env.DATABASE_URL,
    directUrl: env.DIRECT_URL ?? env.DATABASE_URL,
    migrateOnStart: env.MIGRATE_ON_START,
    databaseSslCa: env.DATABASE_SSL_CA,
    jwtSecret: env.JWT_SECRET,
    tokenTtl: env.TOKEN_TTL,
    ...authSettingsOf(env),
    databasePoolSize: env.DATABASE_POOL_SIZE,
    databaseQueryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS,
    redisUrl: env.REDIS_URL,
    policy: {
      production,
      graphiql: env.GRAPHIQL ?? !production,
      corsOrigins: env.CORS_ORIGINS ?? (production ? [] : null),
      maxBodyBytes: env.MAX_BODY_BYTES,
      documentLimits,
      trustedDocuments,
      apq: env.APQ ?? trustedDocuments === null,
    },
    live: {
      maxSubscriptionsPerSocket: env.MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxSubscriptionsPerUser: env.MAX_SUBSCRIPTIONS_PER_USER,
      viewerRecheckMs: env.SUBSCRIPTION_RECHECK_MS,
      connectionInitWaitMs: env.WS_CONNECTION_INIT_TIMEOUT_MS,
      anonymousIdleMs: env.WS_ANONYMOUS_IDLE_MS,
      pingIntervalMs: env.WS_PING_INTERVAL_MS,
      catchUpConcurrency: env.CATCHUP_CONCURRENCY,
    },
    presence: { ...DEFAULT_PRESENCE_LIMITS, heartbeatMs: env.PRESENCE_HEARTBEAT_MS, ttlMs: env.PRESENCE_TTL_MS },
    authLimits: {
      windowSeconds: env.AUTH_RATE_LIMIT_WINDOW_SECONDS,
      signInsPerAddress: env.AUTH_RATE_LIMIT_SIGNINS_PER_ADDRESS,
      signUpsPerAddress: env.AUTH_RATE_LIMIT_SIGNUPS_PER_ADDRESS,
      attemptsPerEmail: env.AUTH_RATE_LIMIT_PER_EMAIL,
      failuresPerAddress: env.AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS,
      failureWindowSeconds: env.AUTH_RATE_LIMIT_FAILURE_WINDOW_SECONDS,
      lockoutAfter: env.AUTH_RATE_LIMIT_LOCKOUT_AFTER,
      lockoutSeconds: env.AUTH_RATE_LIMIT_LOCKOUT_SECONDS,
      lockoutMaxSeconds: env.AUTH_RATE_LIMIT_LOCKOUT_MAX_SECONDS,
      lockoutResetSeconds: env.AUTH_RATE_LIMIT_LOCKOUT_RESET_SECONDS,
      hashConcurrency: env.AUTH_HASH_CONCURRENCY,
      hashQueue: env.AUTH_HASH_QUEUE,
    },
    ai: {
      apiKey: env.OPENAI_API_KEY,
      baseURL: env.OPENAI_BASE_URL,
      defaultModel: env.AI_MODEL,
      modelFor,
      timeoutMs: env.AI_TIMEOUT_MS,
      maxRetries: env.AI_MAX_RETRIES,
      maxConcurrentPerUser: env.AI_MAX_CONCURRENT_PER_USER,
      dailyTokenBudgetPerUser: env.AI_DAILY_TOKEN_BUDGET,
      prices: { ...DEFAULT_PRICES, ...env.AI_PRICES },
      models: env.AI_MODELS ?? null,
      responseFormat: env.AI_RESPONSE_FORMAT,
    },
    logFormat: env.LOG_FORMAT ?? (production ? "json" : "text"),
    logLevel: env.LOG_LEVEL,
    metricsToken: env.METRICS_TOKEN,
    otelEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    otelServiceName: env.OTEL_SERVICE_NAME,
    trashDays: env.TRASH_DAYS,
    trashSweepMs: env.TRASH_SWEEP_MS,
  };
}
