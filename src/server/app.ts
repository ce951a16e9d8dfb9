// The application: graphql-yoga on /graphql — GraphiQL, POST and GET, Server-Sent Events —
// and graphql-ws (graphql-transport-ws) on the same port and path, through the same envelop pipeline.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { getOperationAST, type DocumentNode } from "graphql";
import { createYoga, type Plugin } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { AuthMode } from "../auth/authMode.ts";
import type { SupabaseAuth } from "../auth/authentication.ts";
import { createAuthThrottle, type AuthThrottle } from "../auth/throttle.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { GenerationService } from "../ai/generations.ts";
import { createContext, verifyViewer, type AppServices } from "../graphql/context.ts";
import { maskError, useErrorCodes } from "../graphql/errors.ts";
import { useInputHygiene } from "../graphql/inputHygiene.ts";
import { useReadSnapshot } from "../graphql/readSnapshot.ts";
import { schema } from "../graphql/schema/index.ts";
import { clientInfoOf, type InitialContext } from "./clientInfo.ts";
import { serveWebSockets } from "./webSocket.ts";
import { LiveSubscriptions, tokenHolderOf } from "../live/liveSubscriptions.ts";
import { DEFAULT_LIVE_LIMITS, type LiveLimits } from "../live/limits.ts";
import { catchUpLimiter } from "../live/catchUpLimiter.ts";
import { memoryPresenceStore, Presence, type PresenceLimits, type PresenceStore } from "../live/presence.ts";
import { StoryPresenceFeeds } from "../live/storyPresenceFeed.ts";
import { roleInStory } from "../commands/storyAccess.ts";
import { corsOf, developmentPolicy, policyPlugins, type ServerPolicy } from "./policy.ts";
import { applyServerTimeouts, limitRequestBodies } from "./httpLimits.ts";
import { GRAPHIQL_OPTIONS, graphiqlRenderer } from "./graphiqlPage.ts";
import { isStoryExportRequest, serveStoryExport } from "./storyExportRoute.ts";
import { isAccountExportRequest, serveAccountExport } from "./accountExportRoute.ts";
import { createLogger, inRequest, logFields, noteOperationName, requestIdFrom, withRequestId, type Logger, type RequestFacts } from "./logger.ts";
import { createMetrics, METRICS_ENDPOINT } from "./metrics.ts";
import { createReadiness, READINESS_ENDPOINT, useReadiness } from "./readiness.ts";
import { startedAlready, type Startup } from "./startup.ts";
import type { Tracing } from "./tracing.ts";
import { DEFAULT_TRASH_DAYS } from "./trashSweep.ts";

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  /** whose tokens are accepted: `local` when omitted, `both` when omitted with `supabase` set */
  authMode?: AuthMode;
  /** the Supabase project whose access tokens are accepted (modes `supabase` and `both`) */
  supabase?: SupabaseAuth;
  /** throttles signing up and in; in memory with the default limits when omitted */
  throttle?: AuthThrottle;
  pubsub: LivePubSub;
  ai: GenerationService;
  logger?: Logger;
  /** what the server lets through; development defaults when omitted */
  policy?: ServerPolicy;
  /** open subscriptions and WebSockets: caps, re-checks, timeouts; defaults when omitted */
  live?: Partial<LiveLimits>;
  /** where presence is kept (Redis with REDIS_URL: createPresenceStore) and its limits; in this process with the defaults when omitted */
  presence?: { store?: PresenceStore; limits?: Partial<PresenceLimits> };
  /** what the server still waits for before it serves GraphQL (the database, at start); ready when omitted */
  startup?: Startup;
  /** PING of the Redis that carries live messages, for /readiness; omitted without Redis */
  redisPing?: ((timeoutMs: number) => Promise<void>) | undefined;
  /** /metrics: the bearer token it wants, and whether to add the process's own metrics (the server's, once) */
  metrics?: { token?: string | undefined; processMetrics?: boolean };
  /** OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set (src/server/tracing.ts) */
  tracing?: Tracing | null;
  /** how long a story stays in the trash (TRASH_DAYS): what Story.purgeAt says; 30 when omitted */
  trashDays?: number;
};

/** Probes and scrapes: answered while the server starts, and logged at debug level only. */
const HEALTH_ENDPOINT = "/health";
const OPERATIONS_ENDPOINTS = new Set([HEALTH_ENDPOINT, READINESS_ENDPOINT, METRICS_ENDPOINT]);

export function createApp(options: AppOptions) {
  const logger = options.logger ?? createLogger({ format: "text" });
  const authMode = options.authMode ?? (options.supabase ? "both" : "local");
  if (authMode !== "local" && !options.supabase) throw new Error(`auth mode ${authMode} needs a Supabase project`);
  // presence's own store when none is given: it is this app's to close then
  const presenceStore = options.presence?.store ?? memoryPresenceStore();
  const isMember = async (storyId: string, userId: string) => (await roleInStory(options.db.prisma, storyId, userId)) !== null;
  const presence = new Presence({
    store: presenceStore,
    pubsub: options.pubsub,
    isMember,
    limits: options.presence?.limits,
    log: (message, error) => logger.warn(message, error),
  });
  const presenceFeeds = new StoryPresenceFeeds(presence, options.pubsub, {
    isMember,
    // the present users share the story with the subscriber: their usernames are visible to each other
    readUsers: (ids) => options.db.prisma.user.findMany({ where: { id: { in: [...ids] } } }),
  });
  const services: AppServices = {
    db: options.db,
    tokens: options.tokens,
    authMode,
    supabase: authMode === "local" ? null : (options.supabase ?? null),
    pubsub: options.pubsub,
    presence: { store: presence, feeds: presenceFeeds },
    ai: options.ai,
    throttle: options.throttle ?? createAuthThrottle(),
    logger,
    trashDays: options.trashDays ?? DEFAULT_TRASH_DAYS,
  };
  const policy = options.policy ?? developmentPolicy();
  const liveLimits: LiveLimits = { ...DEFAULT_LIVE_LIMITS, ...options.live };
  // catch-ups share one limiter per process: reading history must not starve the writers
  catchUpLimiter.setLimit(liveLimits.catchUpConcurrency);
  // the context's own check decides whether a token is still good, for live subscriptions too
  const live = new LiveSubscriptions(
    liveLimits,
    async (client) => {
      const { viewer } = await verifyViewer(services, client.authorization);
      return viewer ? tokenHolderOf(viewer) : null;
    },
    (message, error) => logger.warn(message, error),
  );
  const startup = options.startup ?? startedAlready();
  const metrics = createMetrics({ db: services.db, live, token: options.metrics?.token, production: policy.production, processMetrics: options.metrics?.processMetrics ?? false });
  const readiness = createReadiness({ db: services.db, startup, redisPing: options.redisPing });
  const yoga = createYoga<InitialContext>({
    schema,
    graphqlEndpoint: "/graphql",
    healthCheckEndpoint: HEALTH_ENDPOINT,
    graphiql: policy.graphiql ? GRAPHIQL_OPTIONS : false,
    renderGraphiQL: graphiqlRenderer(),
    landingPage: false,
    // yoga logs every error it sees masked, expected ones too: ours are logged by maskError, once
    logging: { ...logger, error: logger.debug },
    cors: corsOf(policy),
    multipart: false,
    // the snapshot last: an operation the others refuse never opens a transaction
    plugins: [
      ...metrics.plugins,
      useReadiness(readiness),
      ...(options.tracing ? [options.tracing.plugin] : []),
      useOperationNames(),
      useInputHygiene(),
      ...policyPlugins(policy),
      useErrorCodes(),
      live.plugin(),
      useReadSnapshot(services.db),
    ],
    context: (initial) => createContext(services, clientInfoOf(initial)),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, (unexpected) => logger.error("unexpected error", unexpected)),
    },
  });
  const serve = limitRequestBodies((request, response) => {
    const waiting = startup.waitingFor();
    if (waiting !== null && !OPERATIONS_ENDPOINTS.has(pathOf(request))) return answerStarting(response, waiting);
    if (isStoryExportRequest(request)) return serveStoryExport(services, logger, request, response);
    if (isAccountExportRequest(request)) return serveAccountExport(services, logger, request, response);
    return yoga(request, response);
  }, policy.maxBodyBytes);
  const logged: RequestListener = (request, response) =>
    withRequestId(requestIdFrom(request.headers["x-request-id"]), (facts) => {
      logWhenAnswered(logger, request, response, facts);
      serve(request, response);
    });
  const server: Server = createServer(options.tracing ? options.tracing.wrap(logged) : logged);
  applyServerTimeouts(server);

  const webSockets = serveWebSockets({
    server,
    yoga,
    live,
    presence,
    maxPayloadBytes: policy.maxBodyBytes,
    log: (message, error) => logger.debug(message, error),
    notReady: () => startup.waitingFor(),
    onErrors: metrics.countErrors,
  });

  return {
    yoga,
    server,
    schema,
    /** every open subscription, over SSE and WebSocket */
    live,
    /** the metrics' registry (what /metrics serves) */
    metrics: metrics.registry,
    /** Ends every subscription (SSE and WebSocket), closes the WebSockets, stops taking connections; HTTP requests in flight finish. */
    async close() {
      metrics.close();
      live.close();
      presenceFeeds.close();
      await webSockets.close(); // the sockets' presence ends as they close
      await presence.close();
      if (!options.presence?.store) await presenceStore.close();
      await new Promise<void>((resolve) => {
        // an SSE response just ended leaves its connection idle only a moment later: close those as they come
        const closeIdle = setInterval(() => server.closeIdleConnections(), 100);
        server.close(() => {
          clearInterval(closeIdle);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/** Each operation's name, for the request's access log line (over WebSocket, each operation is its own "request"). */
function useOperationNames(): Plugin {
  const note = ({ args }: { args: { document: DocumentNode; operationName?: string | null | undefined } }) =>
    noteOperationName(getOperationAST(args.document, args.operationName)?.name?.value);
  return { onExecute: note, onSubscribe: note };
}

function pathOf(request: IncomingMessage): string {
  return new URL(request.url ?? "/", "http://localhost").pathname;
}

/** GraphQL while the server waits for its database: 503, retryable, saying what it waits for. */
function answerStarting(response: ServerResponse, waiting: string): void {
  const body = JSON.stringify({ errors: [{ message: `the server is starting: ${waiting}; try again shortly`, extensions: { code: "SERVICE_UNAVAILABLE" } }] });
  response.writeHead(503, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), "retry-after": "5" });
  response.end(body);
}

/**
 * One line per request when its answer is sent or the client left: method, path (never the query
 * string: GET queries carry documents), status, duration and the operation. Probes and scrapes
 * only at debug level: they come every few seconds and say nothing new.
 */
function logWhenAnswered(logger: Logger, request: IncomingMessage, response: ServerResponse, facts: RequestFacts): void {
  const started = performance.now();
  response.once("close", () => {
    const path = pathOf(request);
    const fields = logFields({
      method: request.method ?? "",
      path,
      status: response.statusCode,
      durationMs: Math.round(performance.now() - started),
      ...(facts.operationName ? { operation: facts.operationName } : {}),
      ...(response.writableFinished ? {} : { aborted: true }),
    });
    inRequest(facts, () => (OPERATIONS_ENDPOINTS.has(path) ? logger.debug("request", fields) : logger.info("request", fields)));
  });
}
