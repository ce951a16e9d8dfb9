// The HTTP application: graphql-yoga on /graphql (GraphiQL, POST and GET) over Node's http server.
import { createServer, type Server } from "node:http";
import { createYoga } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import { createContext, type AppServices } from "../graphql/context.ts";
import { maskError, useErrorCodes } from "../graphql/errors.ts";
import { schema } from "../graphql/schema/index.ts";

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  logger?: Pick<Console, "error" | "warn" | "info" | "debug">;
  graphiql?: boolean;
};

export function createApp(options: AppOptions) {
  const services: AppServices = { db: options.db, tokens: options.tokens };
  const logger = options.logger ?? console;
  const yoga = createYoga({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: options.graphiql ?? true,
    landingPage: false,
    plugins: [useErrorCodes()],
    logging: logger,
    context: ({ request }) => createContext(services, request.headers.get("authorization")),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, (e) => logger.error("unexpected error", e)),
    },
  });
  const server: Server = createServer(yoga);
  return { yoga, server, schema };
}
