// graphql-ws (graphql-transport-ws) on the HTTP server's port and path, through yoga's envelop pipeline:
// who a socket is (its connection_init's token, else each operation's own), and what a socket may
// cost: message size, time to say hello, idle time without a token, pings, subscriptions.
import type { Server } from "node:http";
import { GraphQLError, type ExecutionArgs } from "graphql";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer, type WebSocket } from "ws";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { clientInfoOf, operationAuthorizationOf, type InitialContext } from "./clientInfo.ts";
import { withRequestId } from "./logger.ts";
import { StorySparkError } from "../domain/errors.ts";
import { isConnectionLost } from "../database/connectionErrors.ts";
import { bearerToken } from "../graphql/context.ts";
import type { LiveInitialContext, LiveSocket, LiveSubscriptions, TokenHolder } from "../live/liveSubscriptions.ts";
import type { Presence, PresenceInitialContext, PresenceSocket } from "../live/presence.ts";

export type WebSocketOptions = {
  server: Server;
  yoga: YogaServerInstance<InitialContext, {}>;
  /** watches every socket's token and counts its subscriptions */
  live: LiveSubscriptions;
  /** presence set over a socket is that socket's: it ends when the socket closes or stops answering pings */
  presence: Presence;
  /** the largest message a client may send: the HTTP body limit */
  maxPayloadBytes: number;
  log?: (message: string, error: unknown) => void;
  /** why the server can't take operations yet (still starting); null when it can */
  notReady?: () => string | null;
  /** told the errors of every answer sent (the metrics count them) */
  onErrors?: (operationName: string | null | undefined, errors: readonly unknown[]) => void;
};

/** The WebSocket close code for a server that can't serve now (RFC 6455 registry: "Try Again Later"). */
const TRY_AGAIN_LATER = 1013;

/** Supabase's keys or the database out of reach while checking a token: SERVICE_UNAVAILABLE over HTTP. */
function cannotCheckNow(error: unknown): boolean {
  return (error instanceof StorySparkError && error.code === "SERVICE_UNAVAILABLE") || isConnectionLost(error);
}

/** What the server keeps per socket: its subscriptions' count, its watched token, or the timer that drops it for having none. */
type SocketState = LiveSocket & { idleTimer: NodeJS.Timeout | null; presence: PresenceSocket };

/**
 * Pings the socket and says whether it answered within the time; one that did not is dropped
 * (terminated: no close frame to wait for), which ends its presence. Between graphql-ws's own,
 * slower pings: presence must end within seconds of a client vanishing.
 */
function answersPing(socket: WebSocket, withinMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.readyState !== socket.OPEN) return resolve(false);
    const timer = setTimeout(() => {
      socket.off("pong", answered);
      socket.terminate();
      resolve(false);
    }, withinMs);
    const answered = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once("pong", answered);
    socket.ping();
  });
}

export function serveWebSockets({ server, yoga, live, presence, maxPayloadBytes, log = () => {}, notReady = () => null, onErrors = () => {} }: WebSocketOptions) {
  const limits = live.limits;
  // ws answers a larger frame with close 1009 before reading it whole
  const webSockets = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: maxPayloadBytes });
  const sockets = new WeakMap<WebSocket, SocketState>();

  /** Without a token nothing can be subscribed to: such a socket is closed once it has had nothing running for a while. */
  const armIdle = (socket: WebSocket, running: () => number) => {
    const state = sockets.get(socket);
    if (!state || state.connection || limits.anonymousIdleMs <= 0) return;
    if (state.idleTimer) clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      if (running() > 0) armIdle(socket, running);
      else socket.close(CloseCode.Unauthorized, "Unauthorized: sign in to keep a connection open");
    }, limits.anonymousIdleMs);
  };

  const wsServer = useServer<Record<string, unknown>>(
    {
      connectionInitWaitTimeout: limits.connectionInitWaitMs,
      // a token that is sent must be good, as the context decides: refused at connection (close 4403), not later
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        const waiting = notReady();
        if (waiting !== null) {
          socket.close(TRY_AGAIN_LATER, "Try Again Later: the server is starting");
          return false;
        }
        const client = clientInfoOf({ connectionParams: ctx.connectionParams ?? {}, socketAddress: request.socket.remoteAddress ?? null });
        if (client.authorization === null) {
          sockets.set(socket, { admitted: 0, connection: null, idleTimer: null, presence: presence.socket((ms) => answersPing(socket, ms)) });
          armIdle(socket, () => Object.keys(ctx.subscriptions).length);
          return true;
        }
        let holder: TokenHolder | null;
        try {
          holder = await live.check(client);
        } catch (error) {
          if (!cannotCheckNow(error)) throw error;
          // not the token's fault: closed with "try again later", which clients retry (graphql-ws does), not with 4403
          socket.close(TRY_AGAIN_LATER, "Try again later: the token could not be checked");
          return false;
        }
        if (holder === null) return false;
        // expired, revoked or its user deleted while open: closed like a bad token at connection
        const connection = live.connect(client, holder, () => socket.close(CloseCode.Forbidden, "Forbidden: the token is no longer valid"));
        sockets.set(socket, { admitted: 0, connection, idleTimer: null, presence: presence.socket((ms) => answersPing(socket, ms)) });
        return true;
      },
      onClose: (ctx) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state) return;
        if (state.idleTimer) clearTimeout(state.idleTimer);
        state.connection?.close();
        state.presence.close();
        sockets.delete(ctx.extra.socket);
      },
      onComplete: (ctx) => armIdle(ctx.extra.socket, () => Object.keys(ctx.subscriptions).length),
      onNext: (_ctx, _id, payload, _args, result) => {
        if (result.errors?.length) onErrors(payload.operationName, result.errors);
      },
      onError: (_ctx, _id, payload, errors) => onErrors(payload.operationName, errors),
      // one id per operation: what it logs, and its unexpected errors' answers, carry it
      execute: (args) => withRequestId(null, () => (args.rootValue as EnvelopedRoot).execute(args)),
      subscribe: (args) => withRequestId(null, () => (args.rootValue as EnvelopedRoot).subscribe(args)),
      onSubscribe: async (ctx, _id, params) => {
        const state = sockets.get(ctx.extra.socket);
        if (state && !state.connection) armIdle(ctx.extra.socket, () => Object.keys(ctx.subscriptions).length);
        // GraphiQL sends its Headers tab with each operation, not at connection_init
        const operation = operationAuthorizationOf(params.extensions);
        if (!operation.ok) return [unauthenticated(operation.reason)];
        const connection = state?.connection ?? null;
        // a socket signed in at connection_init is that viewer for everything it runs: an operation may repeat its token, not bring another
        if (connection && operation.authorization !== null && bearerToken(operation.authorization) !== bearerToken(connection.client.authorization)) {
          return [unauthenticated("this connection is signed in with another token (its connection_init's): send that one in extensions.headers, or none")];
        }
        const initial: InitialContext & LiveInitialContext & PresenceInitialContext = {
          connectionParams: ctx.connectionParams ?? {},
          socketAddress: ctx.extra.request.socket.remoteAddress ?? null,
          params,
          ...(connection === null && operation.authorization !== null ? { operationAuthorization: operation.authorization } : {}),
          ...(state ? { liveSocket: state, presenceSocket: state.presence } : {}),
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
    // graphql-ws pings every socket this often and drops one that does not answer within as long:
    // a client gone without closing (half-open TCP) holds nothing for long
    limits.pingIntervalMs > 0 ? limits.pingIntervalMs : Infinity,
  );

  // replaces graphql-ws's own listener: an oversized or malformed frame is the client's fault, not an
  // internal error to print; ws has already started closing the socket with the right code (1009, 1002)
  webSockets.on("connection", (socket) => {
    socket.removeAllListeners("error");
    socket.on("error", (error) => log("WebSocket client error", error));
  });

  return {
    /** Ends every subscription and closes every socket (1001). */
    async close() {
      await wsServer.dispose();
    },
  };
}

function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "UNAUTHENTICATED" } });
}

type OperationResult = ReturnType<NonNullable<Parameters<typeof useServer>[0]["execute"]>>;
type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
};
