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

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  pubsub: LivePubSub;
  ai: GenerationService;
  logger?: Pick<Console, "error" | "warn" | "info" | "debug">;
  graphiql?: boolean;
};

export function createApp(options: AppOptions) {
  const services: AppServices = { db: options.db, tokens: options.tokens, pubsub: options.pubsub, ai: options.ai };
  // Yoga's own logger at "info": the console logger would print every request at debug level
  const logging = options.logger ?? "info";
  const logError = (error: unknown) => (options.logger ?? console).error("unexpected error", error);
  const yoga = createYoga<InitialContext>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: options.graphiql === false ? false : { subscriptionsProtocol: "WS" },
    landingPage: false,
    logging,
    plugins: [useErrorCodes()],
    context: (initial) => createContext(services, clientInfoOf(initial)),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, logError),
    },
  });
  const server: Server = createServer(yoga);

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
