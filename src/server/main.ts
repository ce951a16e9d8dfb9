// `npm start`: opens the database (applying migrations unless MIGRATE_ON_START=false), serves /graphql, stops cleanly on SIGTERM/SIGINT.
import { once } from "node:events";
import { readConfig } from "../config.ts";
import { DatabaseNotMigratedError, openDatabase } from "../database/connect.ts";
import { createTokenService } from "../auth/tokens.ts";
import { createAuthThrottle } from "../auth/throttle.ts";
import { createLiveMessaging } from "../live/pubsub.ts";
import { GenerationService } from "../ai/generations.ts";
import { readAiConfig } from "../ai/config.ts";
import { createApp } from "./app.ts";
import { createLogger, type Logger } from "./logger.ts";

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
  const config = readConfig();
  const logger = createLogger({ format: config.logFormat });
  surviveStrayFailures(logger);
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    directUrl: config.directUrl,
    sslCa: config.databaseSslCa,
    // off: migrations are a release step (npm run db:migrate); a server never starts on a database behind its code
    migrate: config.migrateOnStart ? true : "require",
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    purpose: "story-spark server",
    log: (line) => logger.info(line),
    warn: (message, error) => logger.warn(message, error),
  });
  const tokens = createTokenService({ secret: config.jwtSecret, dataDir: config.dataDir, ttl: config.tokenTtl });
  const throttle = createAuthThrottle({
    limits: config.authLimits,
    redisUrl: config.redisUrl,
    onStoreError: (error) => logger.warn("sign-in throttling counts in memory until Redis is back:", error instanceof Error ? error.message : error),
  });
  const live = createLiveMessaging(config.redisUrl, (message, error) => logger.warn(message, error));
  const ai = new GenerationService(db, live.pubsub, readAiConfig());
  const app = createApp({ db, tokens, throttle, pubsub: live.pubsub, ai, policy: config.policy, live: config.live, logger });
  const { server } = app;

  server.listen(config.port, config.host);
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const where = [
    db.kind === "pglite" ? `embedded database in ${config.dataDir}` : "PostgreSQL",
    config.redisUrl ? "live updates through Redis" : null,
    ai.config.apiKey ? `AI: ${ai.config.defaultModel}${ai.config.baseURL ? ` at ${ai.config.baseURL}` : ""}` : "AI generation off (no OPENAI_API_KEY)",
  ]
    .filter(Boolean)
    .join(", ");
  logger.info(`Story Spark ready at http://${config.host}:${port}/graphql (${where})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: ending subscriptions, finishing requests in flight, then stopping`);
    // an orchestrator kills after 10 s (Kubernetes' default grace is 30, Docker's 10): leave before that, saying so
    setTimeout(() => {
      logger.error(`still stopping after ${STOP_DEADLINE_MS / 1000} s: exiting now`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    await app.close(); // ends subscriptions, stops accepting; in-flight requests finish
    await ai.close();
    await live.close();
    await throttle.close();
    await db.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error) => {
  if (error instanceof DatabaseNotMigratedError) console.error(`Not starting: ${error.message} (MIGRATE_ON_START=false: the server applies none itself)`);
  else console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
