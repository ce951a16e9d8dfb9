// graphql-ws (graphql-transport-ws) on the HTTP server's port and path, through yoga's envelop pipeline.
import type { Server } from "node:http";
import type { ExecutionArgs } from "graphql";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { TokenService } from "../auth/tokens.ts";
import { authorizationOf, type InitialContext } from "./clientInfo.ts";

export type WebSocketOptions = {
  server: Server;
  yoga: YogaServerInstance<InitialContext, {}>;
  tokens: TokenService;
};

export function serveWebSockets({ server, yoga, tokens }: WebSocketOptions) {
  const webSockets = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsServer = useServer<Record<string, unknown>>(
    {
      // a token that is sent must be valid: refused at connection (close 4403), not later
      onConnect: async (ctx) => {
        const authorization = authorizationOf({ connectionParams: ctx.connectionParams ?? {} });
        if (authorization === null) return true;
        const token = authorization.replace(/^Bearer\s+/i, "").trim();
        return (await tokens.verify(token)) !== null;
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const initial: InitialContext = {
          connectionParams: ctx.connectionParams ?? {},
          socketAddress: ctx.extra.request.socket.remoteAddress ?? null,
          params,
        };
        const enveloped = yoga.getEnveloped(initial);
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
    /** Ends every subscription and closes every socket. */
    async close() {
      await wsServer.dispose();
      await new Promise<void>((resolve) => webSockets.close(() => resolve()));
    },
  };
}

type OperationResult = ReturnType<NonNullable<Parameters<typeof useServer>[0]["execute"]>>;
type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
};
