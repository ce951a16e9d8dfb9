// Limits on the HTTP server itself, before any byte of a body is parsed: a body over the limit is
// answered 413 from its Content-Length, and slow or endless requests time out.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";

/** Headers must arrive within this; a whole request (body included) within REQUEST_TIMEOUT_MS. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADERS = 100;
/** After a refusal, the rest of the body is read and dropped for this long, so the client sees the answer. */
const DRAIN_MS = 5_000;

export function applyServerTimeouts(server: Server): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxHeadersCount = MAX_HEADERS;
}

/** Refuses bodies over `maxBodyBytes` (413) and bodies of unknown length (411) before the handler reads them. */
export function limitRequestBodies(handler: RequestListener, maxBodyBytes: number): RequestListener {
  return (request, response) => {
    if (!hasBody(request)) return handler(request, response);
    const declared = request.headers["content-length"];
    if (declared === undefined) {
      return refuse(request, response, 411, "LENGTH_REQUIRED", "send the body with a Content-Length");
    }
    if (Number(declared) > maxBodyBytes) {
      return refuse(request, response, 413, "PAYLOAD_TOO_LARGE", `the request body is over ${maxBodyBytes} bytes (MAX_BODY_BYTES)`);
    }
    return handler(request, response);
  };
}

function hasBody(request: IncomingMessage): boolean {
  return request.headers["content-length"] !== undefined ? request.headers["content-length"] !== "0" : request.headers["transfer-encoding"] !== undefined;
}

function refuse(request: IncomingMessage, response: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" });
  response.end(body);
  request.resume(); // read and drop, never buffer
  const timer = setTimeout(() => request.socket.destroy(), DRAIN_MS);
  timer.unref();
  request.socket.once("close", () => clearTimeout(timer));
}
