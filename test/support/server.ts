// A real Story Spark server on a free port over a test database, and a GraphQL client for it.
import type { AddressInfo } from "node:net";
import { print, type DocumentNode } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { openDatabase, type Database } from "../../src/database/connect.ts";
import { createTokenService } from "../../src/auth/tokens.ts";
import { createSupabaseAuth } from "../../src/auth/authentication.ts";
import type { AuthMode } from "../../src/auth/authMode.ts";
import type { KeySetTimings } from "../../src/auth/supabaseTokens.ts";
import { createAuthThrottle, type AuthThrottleOptions } from "../../src/auth/throttle.ts";
import { createApp } from "../../src/server/app.ts";
import { developmentPolicy, type ServerPolicy } from "../../src/server/policy.ts";
import { createLogger } from "../../src/server/logger.ts";
import { createLiveMessaging, type LiveMessaging } from "../../src/live/pubsub.ts";
import type { LiveLimits } from "../../src/live/limits.ts";
import { createPresenceStore, type PresenceLimits } from "../../src/live/presence.ts";
import { GenerationService } from "../../src/ai/generations.ts";
import type { AiConfig } from "../../src/ai/config.ts";
import { readAiConfig } from "../../src/config.ts";
import { createTestDatabase, type TestDatabase } from "./databases.ts";

export type GraphQLResponse<T> = {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
};

export type TestServer = {
  url: string;
  db: Database;
  database: TestDatabase;
  request<T, V>(document: TypedDocumentNode<T, V>, variables: V, token?: string | null): Promise<GraphQLResponse<T>>;
  /** like request, but fails on any error and returns data */
  query<T, V>(document: TypedDocumentNode<T, V>, variables: V, token?: string | null): Promise<T>;
  /** stops the server and closes the database, keeping its data */
  stop(): Promise<void>;
  /** stops and drops the database */
  close(): Promise<void>;
  /** the application, for what only its parts can tell (open subscriptions) */
  app: ReturnType<typeof createApp>;
  /** the live messaging, for its listener count */
  messaging: LiveMessaging;
};

/** The secret the test servers sign tokens with; a test may issue its own tokens with it. */
export const TEST_TOKEN_SECRET = "test-secret-test-secret-test-secret";

const quietLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

export type TestServerOptions = {
  ai?: Partial<AiConfig>;
  /** overrides of the development policy (limits, production mode …) */
  policy?: Partial<ServerPolicy>;
  /** receives every log line the server writes, as JSON */
  logLines?: string[];
  /** sign-in throttling: lower limits, a Redis to share counts through (in memory, default limits otherwise) */
  auth?: AuthThrottleOptions;
  /** caps, re-checks and timeouts of live subscriptions (defaults otherwise) */
  live?: Partial<LiveLimits>;
  /** presence's heartbeat, expiry and caps (defaults otherwise); kept in the same Redis as live messages */
  presence?: Partial<PresenceLimits>;
  /** the Redis live messages go through (TEST_REDIS_URL otherwise; in process when neither) */
  redisUrl?: string;
  /** PostgreSQL: how long a statement may go unanswered (off otherwise, as for the CLI) */
  databaseQueryTimeoutMs?: number;
  /** accept this Supabase project's access tokens (AUTH_MODE `both` unless `authMode` says otherwise) */
  supabase?: { url: string; jwtSecret?: string; authMode?: AuthMode; keySet?: Partial<KeySetTimings> };
  /** /metrics wants this bearer token (open otherwise, as in development) */
  metricsToken?: string;
};

export async function startTestServer(existing?: TestDatabase, options: TestServerOptions = {}): Promise<TestServer> {
  const database = existing ?? (await createTestDatabase());
  const loggedErrors: unknown[] = [];
  const logger = options.logLines
    ? createLogger({ format: "json", level: "debug", write: (line) => options.logLines!.push(line) })
    : { ...quietLogger, error: (...args: unknown[]) => { loggedErrors.push(args); if (process.env.DEBUG_ERRORS) console.error(...args); } };
  const db = await openDatabase({
    databaseUrl: database.databaseUrl,
    directUrl: database.directUrl,
    dataDir: database.dataDir,
    purpose: "test server",
    ...(options.databaseQueryTimeoutMs ? { queryTimeoutMs: options.databaseQueryTimeoutMs } : {}),
    warn: (message, error) => logger.warn(message, error),
  });
  const tokens = createTokenService({ secret: TEST_TOKEN_SECRET, dataDir: database.dataDir, ttl: "1h" });
  const redisUrl = options.redisUrl ?? process.env.TEST_REDIS_URL;
  const live = createLiveMessaging(redisUrl, (message, error) => logger.warn(message, error));
  const throttle = createAuthThrottle(options.auth);
  const presenceStore = createPresenceStore(redisUrl, { limits: options.presence, onError: (message, error) => logger.debug(message, error) });
  const ai = new GenerationService(db, live.pubsub, { ...readAiConfig({}), ...options.ai });
  const supabase = options.supabase
    ? createSupabaseAuth({ ...options.supabase, log: (message, error) => logger.warn(message, error) })
    : undefined;
  const app = createApp({
    db,
    tokens,
    authMode: options.supabase?.authMode,
    supabase,
    throttle,
    pubsub: live.pubsub,
    ai,
    logger,
    policy: developmentPolicy(options.policy),
    live: options.live,
    presence: { store: presenceStore, limits: options.presence },
    redisPing: redisUrl ? (timeoutMs) => live.ping(timeoutMs) : undefined,
    metrics: { token: options.metricsToken },
  });
  const { server } = app;
  // The tests' fetch shares this process, and its event loop, with the server (and with PGlite).
  // undici's clock for idle connections advances only when its timer gets to run, so after work
  // that holds the loop for seconds it may reuse a connection the server's (real) 5 s keep-alive
  // timeout is closing at that moment: "fetch failed: other side closed". A real client has its
  // own loop; here the server keeps idle connections longer than any test holds the loop.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;

  const request = async <T, V>(document: TypedDocumentNode<T, V>, variables: V, token?: string | null) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables }),
    }).catch((error: unknown) => {
      // fetch says only "fetch failed": the failure says why (its cause), and which request it was
      throw new Error(`${describeFailure(error)} (${operationName(document)})`, { cause: error });
    });
    return (await response.json()) as GraphQLResponse<T>;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await app.close();
    await ai.close();
    await live.close();
    await presenceStore.close();
    await throttle.close();
    await db.close();
  };
  return {
    url,
    db,
    database,
    app,
    messaging: live,
    request,
    async query(document, variables, token) {
      const result = await request(document, variables, token);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data!;
    },
    stop,
    async close() {
      await stop();
      await database.drop();
    },
  };
}

/** The error codes of a response, in order. */
export function errorCodes(response: GraphQLResponse<unknown>): unknown[] {
  return (response.errors ?? []).map((e) => e.extensions?.code);
}

/** A failed fetch with its causes: "fetch failed: other side closed (UND_ERR_SOCKET)". */
function describeFailure(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(typeof code === "string" ? `${e.message} (${code})` : e.message);
  }
  return parts.join(": ") || String(error);
}

function operationName(document: DocumentNode): string {
  const operation = document.definitions.find((d) => d.kind === "OperationDefinition");
  return operation && "name" in operation && operation.name ? operation.name.value : "an anonymous operation";
}
