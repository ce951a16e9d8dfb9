// What the server knows of a client before any resolver runs: its bearer token and its address,
// from an HTTP request (POST, GET, SSE) or a WebSocket's connection params, operation and socket.
import type { IncomingMessage } from "node:http";

/** Yoga's initial context: the Fetch request and Node's request over HTTP; connection params, an operation's own token and address over WebSocket. */
export type InitialContext = {
  request?: Request;
  req?: IncomingMessage;
  connectionParams?: Readonly<Record<string, unknown>>;
  /** a WebSocket operation's Authorization from its `extensions.headers`, on a connection that has no token of its own */
  operationAuthorization?: string;
  socketAddress?: string | null;
  params?: unknown;
};

export type ClientInfo = {
  /** the Authorization header (HTTP, SSE), connection parameter or operation header (WebSocket), as sent */
  authorization: string | null;
  /** the peer's IP address, for throttling; null when unknown */
  address: string | null;
};

/**
 * The bearer token travels in the Authorization header (HTTP, SSE) or the connection params
 * (WebSocket); a WebSocket connected without one may carry it in each operation instead.
 */
export function authorizationOf(initial: InitialContext): string | null {
  const fromParams = initial.connectionParams?.authorization ?? initial.connectionParams?.Authorization;
  if (typeof fromParams === "string") return fromParams;
  if (initial.operationAuthorization !== undefined) return initial.operationAuthorization;
  return initial.request?.headers.get("authorization") ?? null;
}

export function clientInfoOf(initial: InitialContext): ClientInfo {
  return {
    authorization: authorizationOf(initial),
    address: initial.socketAddress ?? initial.req?.socket.remoteAddress ?? null,
  };
}

/** An operation's Authorization as read from its extensions, or why it can't be read. */
export type OperationAuthorization = { readonly ok: true; readonly authorization: string | null } | { readonly ok: false; readonly reason: string };

/**
 * The Authorization header in a WebSocket operation's `extensions.headers`, any case: where GraphiQL
 * puts its Headers tab (its `connection_init` carries nothing). A header that is not one string is
 * refused rather than guessed at.
 */
export function operationAuthorizationOf(extensions: unknown): OperationAuthorization {
  const headers = isRecord(extensions) ? extensions.headers : undefined;
  if (headers === undefined || headers === null) return { ok: true, authorization: null };
  if (!isRecord(headers)) return { ok: false, reason: "extensions.headers must be an object of header names and values" };
  const values = Object.entries(headers).filter(([name]) => name.toLowerCase() === "authorization").map(([, value]) => value);
  if (values.length === 0) return { ok: true, authorization: null };
  if (values.length > 1) return { ok: false, reason: "extensions.headers: one Authorization header, not several" };
  const [value] = values;
  if (typeof value !== "string") return { ok: false, reason: 'extensions.headers: Authorization must be a string, "Bearer <token>"' };
  return { ok: true, authorization: value };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
