// What the server knows of a client before any resolver runs: its bearer token and its address,
// from an HTTP request (POST, GET, SSE) or a WebSocket's connection params and socket.
import type { IncomingMessage } from "node:http";

/** Yoga's initial context: the Fetch request and Node's request over HTTP; connection params and address over WebSocket. */
export type InitialContext = {
  request?: Request;
  req?: IncomingMessage;
  connectionParams?: Readonly<Record<string, unknown>>;
  socketAddress?: string | null;
  params?: unknown;
};

export type ClientInfo = {
  /** the Authorization header (HTTP, SSE) or connection parameter (WebSocket), as sent */
  authorization: string | null;
  /** the peer's IP address, for throttling; null when unknown */
  address: string | null;
};

/** The bearer token travels in the Authorization header (HTTP, SSE) or the connection params (WebSocket). */
export function authorizationOf(initial: InitialContext): string | null {
  const fromParams = initial.connectionParams?.authorization ?? initial.connectionParams?.Authorization;
  if (typeof fromParams === "string") return fromParams;
  return initial.request?.headers.get("authorization") ?? null;
}

export function clientInfoOf(initial: InitialContext): ClientInfo {
  return {
    authorization: authorizationOf(initial),
    address: initial.socketAddress ?? initial.req?.socket.remoteAddress ?? null,
  };
}
