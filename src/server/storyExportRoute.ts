// GET /stories/<global id>/export.json: a story's JSON export (the same document as exportStory's
// `data`), streamed as it is read, so that a story of thousands of versions never sits in memory
// whole. GraphQL's exportStory answers one value, which can't be streamed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Database } from "../database/connect.ts";
import { verifyViewer } from "../graphql/context.ts";
import type { AuthServices } from "../auth/authentication.ts";
import { decodeGlobalId } from "../domain/globalIds.ts";
import type { ErrorCode } from "../domain/errors.ts";
import { Prisma } from "../generated/prisma/client.ts";
import { readStoryExportHeader, storyExportJson } from "../history/exportStory.ts";
import { exportFileName } from "../history/exportFormat.ts";
import type { Logger } from "./logger.ts";

const EXPORT_PATH = /^\/stories\/([^/]+)\/export\.json$/;

/** Whether the request is for this route; other paths go on to GraphQL. */
export function isStoryExportRequest(request: IncomingMessage): boolean {
  return EXPORT_PATH.test(pathOf(request));
}

function pathOf(request: IncomingMessage): string {
  return new URL(request.url ?? "/", "http://localhost").pathname;
}

/** The global id in the path, percent-decoded (base64 may hold a `/`); "" when it can't be. */
function storyIdIn(request: IncomingMessage): string {
  try {
    return decodeURIComponent(EXPORT_PATH.exec(pathOf(request))?.[1] ?? "");
  } catch {
    return "";
  }
}

export async function serveStoryExport(services: AuthServices, logger: Logger, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    await streamStoryExport(services, request, response);
  } catch (error) {
    // a client that went away ends the stream; anything else is logged
    if ((error as { code?: unknown }).code !== "ERR_STREAM_PREMATURE_CLOSE") logger.warn("story export failed:", error);
    // once the status is sent, the client sees the body cut short: never an export that looks whole
    if (response.headersSent) response.destroy();
    else refuse(response, 503, "SERVICE_UNAVAILABLE", "the export could not be read; it is safe to retry");
  }
}

async function streamStoryExport(services: AuthServices, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "GET") {
    response.setHeader("allow", "GET");
    return refuse(response, 405, "BAD_USER_INPUT", "an export is read with GET");
  }
  const { viewer } = await verifyViewer(services, request.headers.authorization);
  if (!viewer) return refuse(response, 401, "UNAUTHENTICATED", "sign in to export a story");
  const decoded = decodeGlobalId(storyIdIn(request));
  // a malformed id, another type's, a stranger's story: all answered like a missing one
  const header = decoded?.typename === "Story" ? await readHeader(services.db, decoded.id, viewer.id) : null;
  if (!header) return refuse(response, 404, "NOT_FOUND", "story not found");

  response.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(exportFileName(header.story.title, "json"))}`,
    "cache-control": "no-store",
  });
  // pulled as the client reads: a slow client holds back the reads, a gone one ends them
  await pipeline(Readable.from(storyExportJson(services.db.prisma, header), { objectMode: false }), response);
}

/** The story and its modules as of one revision: one snapshot on PostgreSQL (the embedded database runs one transaction at a time). */
function readHeader(db: Database, storyId: string, memberId: string) {
  return db.prisma.$transaction(
    (tx) => readStoryExportHeader(tx, storyId, memberId),
    db.kind === "postgres" ? { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead } : {},
  );
}

function refuse(response: ServerResponse, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  response.end(body);
}
