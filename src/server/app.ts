// The application: graphql-yoga on /graphql — GraphiQL, POST and GET, Server-Sent Events —
// and graphql-ws (graphql-transport-ws) on the same port and path, through the same envelop pipeline.
import { createServer, type Server } from "node:http";
import { createYoga } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { GenerationService } from "../ai/generations.ts";
import { createContext, type AppServices } from "../graphql/context.ts";
import { maskError, useErrorCodes } from "../graphql/errors.ts";
import { schema } from "../graphql/schema/index.ts";
import { clientInfoOf, type InitialContext } from "./clientInfo.ts";
import { serveWebSockets } from "./webSocket.ts";
import { corsOf, developmentPolicy, policyPlugins, type ServerPolicy } from "./policy.ts";
import { applyServerTimeouts, limitRequestBodies } from "./httpLimits.ts";
import { createLogger, requestIdFrom, withRequestId, type Logger } from "./logger.ts";

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  pubsub: LivePubSub;
  ai: GenerationService;
  logger?: Logger;
  /** what the server lets through; development defaults when omitted */
  policy?: ServerPolicy;
};

export function createApp(options: AppOptions) {
  const services: AppServices = { db: options.db, tokens: options.tokens, pubsub: options.pubsub, ai: options.ai };
  const policy = options.policy ?? developmentPolicy();
  const logger = options.logger ?? createLogger({ format: "text" });
  const yoga = createYoga<InitialContext>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: policy.graphiql ? { subscriptionsProtocol: "WS", title: "Story Spark" } : false,
    landingPage: false,
    // yoga logs every error it sees masked, expected ones too: ours are logged by maskError, once
    logging: { ...logger, error: logger.debug },
    cors: corsOf(policy),
    multipart: false,
    plugins: [...policyPlugins(policy), useErrorCodes()],
    context: (initial) => createContext(services, clientInfoOf(initial)),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, (unexpected) => logger.error("unexpected error", unexpected)),
    },
  });
  const handler = limitRequestBodies(
    (request, response) => withRequestId(requestIdFrom(request.headers["x-request-id"]), () => yoga(request, response)),
    policy.maxBodyBytes,
  );
  const server: Server = createServer(handler);
  applyServerTimeouts(server);

  const webSockets = serveWebSockets({ server, yoga, tokens: options.tokens });

  return {
    yoga,
    server,
    schema,
    /** Stops taking connections and closes the WebSockets; HTTP requests in flight finish. */
    async close() {
      await webSockets.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
