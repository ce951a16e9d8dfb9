// The application: graphql-yoga on /graphql — GraphiQL, POST and GET, Server-Sent Events —
// and graphql-ws (graphql-transport-ws) on the same port and path, through the same envelop pipeline.
import { createServer, type Server } from "node:http";
import { createYoga } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
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
import { corsOf, developmentPolicy, policyPlugins, type ServerPolicy } from "./policy.ts";
import { applyServerTimeouts, limitRequestBodies } from "./httpLimits.ts";
import { GRAPHIQL_OPTIONS, graphiqlRenderer } from "./graphiqlPage.ts";
import { isStoryExportRequest, serveStoryExport } from "./storyExportRoute.ts";
import { createLogger, requestIdFrom, withRequestId, type Logger } from "./logger.ts";

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  /** throttles signing up and in; in memory with the default limits when omitted */
  throttle?: AuthThrottle;
  pubsub: LivePubSub;
  ai: GenerationService;
  logger?: Logger;
  /** what the server lets through; development defaults when omitted */
  policy?: ServerPolicy;
  /** open subscriptions and WebSockets: caps, re-checks, timeouts; defaults when omitted */
  live?: Partial<LiveLimits>;
};

export function createApp(options: AppOptions) {
  const logger = options.logger ?? createLogger({ format: "text" });
  const services: AppServices = {
    db: options.db,
    tokens: options.tokens,
    pubsub: options.pubsub,
    ai: options.ai,
    throttle: options.throttle ?? createAuthThrottle(),
    logger,
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
  const yoga = createYoga<InitialContext>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: policy.graphiql ? GRAPHIQL_OPTIONS : false,
    renderGraphiQL: graphiqlRenderer(),
    landingPage: false,
    // yoga logs every error it sees masked, expected ones too: ours are logged by maskError, once
    logging: { ...logger, error: logger.debug },
    cors: corsOf(policy),
    multipart: false,
    // the snapshot last: an operation the others refuse never opens a transaction
    plugins: [useInputHygiene(), ...policyPlugins(policy), useErrorCodes(), live.plugin(), useReadSnapshot(services.db)],
    context: (initial) => createContext(services, clientInfoOf(initial)),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, (unexpected) => logger.error("unexpected error", unexpected)),
    },
  });
  const handler = limitRequestBodies(
    (request, response) =>
      withRequestId(requestIdFrom(request.headers["x-request-id"]), () =>
        isStoryExportRequest(request) ? serveStoryExport(services, logger, request, response) : yoga(request, response),
      ),
    policy.maxBodyBytes,
  );
  const server: Server = createServer(handler);
  applyServerTimeouts(server);

  const webSockets = serveWebSockets({ server, yoga, live, maxPayloadBytes: policy.maxBodyBytes, log: (message, error) => logger.debug(message, error) });

  return {
    yoga,
    server,
    schema,
    /** every open subscription, over SSE and WebSocket */
    live,
    /** Ends every subscription (SSE and WebSocket), closes the WebSockets, stops taking connections; HTTP requests in flight finish. */
    async close() {
      live.close();
      await webSockets.close();
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
