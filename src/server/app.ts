// The application: graphql-yoga on /graphql — GraphiQL, POST and GET, Server-Sent Events —
// and graphql-ws (graphql-transport-ws) on the same port and path, through the same envelop pipeline.
import { createServer, type Server } from "node:http";
import { createYoga } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { ExecutionArgs } from "graphql";
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { GenerationService } from "../ai/generations.ts";
import { createContext, type AppServices } from "../graphql/context.ts";
import { maskError, useErrorCodes } from "../graphql/errors.ts";
import { schema } from "../graphql/schema/index.ts";

export type AppOptions = {
  db: Database;
  tokens: TokenService;
  pubsub: LivePubSub;
  ai: GenerationService;
  logger?: Pick<Console, "error" | "warn" | "info" | "debug">;
  graphiql?: boolean;
};

type InitialContext = { request?: Request; connectionParams?: Readonly<Record<string, unknown>> };

/** The bearer token travels in the Authorization header (HTTP, SSE) or the connection params (WebSocket). */
function authorizationOf(initial: InitialContext): string | null {
  const fromParams = initial.connectionParams?.authorization ?? initial.connectionParams?.Authorization;
  if (typeof fromParams === "string") return fromParams;
  return initial.request?.headers.get("authorization") ?? null;
}

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
    context: (initial) => createContext(services, authorizationOf(initial)),
    maskedErrors: {
      maskError: (error, message) => maskError(error, message, logError),
    },
  });
  const server: Server = createServer(yoga);

  const webSockets = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsServer = useServer<Record<string, unknown>>(
    {
      // a token that is sent must be valid: refused at connection (close 4403), not later
      onConnect: async (ctx) => {
        const authorization = authorizationOf({ connectionParams: ctx.connectionParams ?? {} });
        if (authorization === null) return true;
        const token = authorization.replace(/^Bearer\s+/i, "").trim();
        return (await options.tokens.verify(token)) !== null;
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({ ...ctx, connectionParams: ctx.connectionParams ?? {}, params });
        const document = enveloped.parse(params.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: params.operationName ?? null,
          document,
          variableValues: params.variables ?? null,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe } as EnvelopedRoot,
        };
        return args;
      },
    },
    webSockets,
  );

  return {
    yoga,
    server,
    schema,
    /** Stops taking connections and closes the WebSockets; HTTP requests in flight finish. */
    async close() {
      await wsServer.dispose();
      await new Promise<void>((resolve) => webSockets.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

type OperationResult = ReturnType<NonNullable<Parameters<typeof useServer>[0]["execute"]>>;
type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
};
