// `npm start`: checks the configuration, listens (/health, /readiness, /metrics), waits for the database
// (applying migrations), then serves /graphql; stops cleanly on SIGTERM/SIGINT.
import { once } from "node:events";
import { ConfigError, readConfig, type Config } from "../config.ts";
import { openDatabase } from "../database/connect.ts";
import { createTokenService } from "../auth/tokens.ts";
import { createSupabaseAuth } from "../auth/authentication.ts";
import { createAuthThrottle } from "../auth/throttle.ts";
import { createLiveMessaging } from "../live/pubsub.ts";
import { createPresenceStore } from "../live/presence.ts";
import { GenerationService } from "../ai/generations.ts";
import { createApp } from "./app.ts";
import { startTrashSweep, type TrashSweep } from "./trashSweep.ts";
import { createLogger, type Logger } from "./logger.ts";
import { DatabaseRefusedError, Startup, databaseAddress, startDatabase } from "./startup.ts";

/** The longest a clean stop may take before the process leaves anyway. */
const STOP_DEADLINE_MS = 9_000;
/** Stray failures are logged at most this often; the ones in between are counted. */
const STRAY_LOG_MS = 10_000;

/**
 * A library's rejection nobody handled, or an error thrown from a timer or an event handler,
 * must not take every request and subscription of this instance down with it: the writes
 * themselves are transactions, so whatever failed left nothing half-done. Logged, not fatal.
 */
function surviveStrayFailures(logger: Logger): void {
  let lastLogged = 0;
  let unlogged = 0;
  const log = (kind: string) => (error: unknown) => {
    const now = Date.now();
    if (now - lastLogged < STRAY_LOG_MS) {
      unlogged++;
      return;
    }
    const skipped = unlogged ? ` (${unlogged} more since the last one)` : "";
    lastLogged = now;
    unlogged = 0;
    logger.error(`${kind}, kept running${skipped}:`, error);
  };
  process.on("unhandledRejection", log("unhandled rejection"));
  process.on("uncaughtException", log("uncaught exception"));
}

async function main() {
  const config = readConfigOrExit();
  const logger = createLogger({ format: config.logFormat, level: config.logLevel });
  surviveStrayFailures(logger);
  // loaded only when asked for: without OTEL_EXPORTER_OTLP_ENDPOINT no OpenTelemetry code runs
  const tracing = config.otelEndpoint
    ? await (await import("./tracing.ts")).startTracing({ endpoint: config.otelEndpoint, serviceName: config.otelServiceName, logger })
    : null;
  // PostgreSQL's pool connects on first use: nothing is tried yet (PGlite opens here, in the process)
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    directUrl: config.directUrl,
    sslCa: config.databaseSslCa,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    migrate: false,
    purpose: "story-spark server",
    log: (line) => logger.info(line),
    warn: (message, error) => logger.warn(message, error),
  });
  const tokens = createTokenService({ secret: config.jwtSecret, dataDir: config.dataDir, ttl: config.tokenTtl });
  // readConfig has made sure a mode other than local has its project
  const supabase =
    config.authMode !== "local" && config.supabaseUrl
      ? createSupabaseAuth({ url: config.supabaseUrl, jwtSecret: config.supabaseJwtSecret, log: (message, error) => logger.warn(message, error) })
      : undefined;
  const throttle = createAuthThrottle({
    limits: config.authLimits,
    redisUrl: config.redisUrl,
    // the live messages' connection says it once for both (src/live/pubsub.ts)
    onStoreError: (error) => logger.debug("sign-in throttling counts in memory until Redis is back:", error instanceof Error ? error.message : error),
  });
  const live = createLiveMessaging(config.redisUrl, (message, error) => logger.warn(message, error));
  const ai = new GenerationService(db, live.pubsub, config.ai);
  // the live messages' connection says Redis is away once for all (src/live/pubsub.ts)
  const presenceStore = createPresenceStore(config.redisUrl, { limits: config.presence, onError: (message, error) => logger.debug(message, error) });
  const startup = new Startup();
  const app = createApp({
    db,
    tokens,
    authMode: config.authMode,
    supabase,
    throttle,
    pubsub: live.pubsub,
    ai,
    policy: config.policy,
    live: config.live,
    presence: { store: presenceStore, limits: config.presence },
    logger,
    startup,
    redisPing: config.redisUrl ? (timeoutMs) => live.ping(timeoutMs) : undefined,
    metrics: { token: config.metricsToken, processMetrics: true },
    trashDays: config.trashDays,
    tracing,
  });
  const { server } = app;

  const stopped = new AbortController();
  let stopping = false;
  let trashSweep: TrashSweep | null = null;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    stopped.abort(new Error(`${signal} while starting`));
    logger.info(`${signal}: ending subscriptions, finishing requests in flight, then stopping`);
    // an orchestrator kills after 10 s (Kubernetes' default grace is 30, Docker's 10): leave before that, saying so
    setTimeout(() => {
      logger.error(`still stopping after ${STOP_DEADLINE_MS / 1000} s: exiting now`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    await app.close(); // ends subscriptions, stops accepting; in-flight requests finish
    await trashSweep?.stop();
    await ai.close();
    await live.close();
    await presenceStore.close();
    await throttle.close();
    await db.close();
    await tracing?.shutdown().catch((error: unknown) => logger.warn("OpenTelemetry: the last spans were not sent:", error));
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  // listening before the database answers: /health says the process is alive, /readiness what it waits for
  server.listen(config.port, config.host);
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  logger.info(`Story Spark listening at ${url}/graphql (${url}/health, ${url}/readiness, ${url}/metrics${metricsNote(config)})`);

  try {
    await startDatabase(db, {
      startup,
      migrate: config.migrateOnStart,
      database: config.databaseUrl ? `PostgreSQL at ${databaseAddress(config.databaseUrl)}` : "the embedded database",
      log: (line) => logger.info(line),
      warn: (line) => logger.warn(line),
      signal: stopped.signal,
    });
  } catch (error) {
    if (stopping) return; // the stop in progress exits
    logger.error(error instanceof DatabaseRefusedError ? error.message : "the database could not be prepared:", error instanceof DatabaseRefusedError ? undefined : error);
    process.exit(1);
  }
  startup.done();
  trashSweep = startTrashSweep({
    services: { db, pubsub: live.pubsub },
    days: config.trashDays,
    intervalMs: config.trashSweepMs,
    log: { info: (message) => logger.info(message), warn: (message, error) => logger.warn(message, error) },
  });
  const redisAnswers = config.redisUrl ? await live.ping(1_000).then(() => true, () => false) : false;
  const where = [
    db.kind === "pglite" ? `embedded database in ${config.dataDir}` : `PostgreSQL at ${databaseAddress(config.databaseUrl!)}`,
    config.redisUrl ? (redisAnswers ? "live updates through Redis" : "live updates through Redis once it answers (in this instance until then)") : null,
    supabase ? `${config.authMode === "both" ? "our accounts and " : ""}Supabase Auth at ${supabase.url}` : null,
    config.ai.apiKey ? `AI: ${config.ai.defaultModel}${config.ai.baseURL ? ` at ${config.ai.baseURL}` : ""}` : "AI generation off (no OPENAI_API_KEY)",
  ]
    .filter(Boolean)
    .join(", ");
  logger.info(`Story Spark ready at ${url}/graphql (${where})`);
}

/** A bad variable is one line on stderr each, and exit code 1, before anything is opened or written. */
function readConfigOrExit(): Config {
  try {
    return readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
}

function metricsNote(config: Config): string {
  if (config.metricsToken) return ": bearer token METRICS_TOKEN";
  return config.production ? ": off in production without METRICS_TOKEN" : "";
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
