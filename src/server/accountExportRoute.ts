// GET /account/export.json and /account/export.zip: the signed-in writer's own data (every story
// they own with its full log and comments, generations' provenance, their account, memberships and
// comments elsewhere), streamed as it is read. GraphQL's exportAccount says where to fetch it.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { verifyViewer } from "../graphql/context.ts";
import type { AuthServices } from "../auth/authentication.ts";
import type { ErrorCode } from "../domain/errors.ts";
import { accountExportJson, accountExportZip } from "../history/exportAccount.ts";
import type { Logger } from "./logger.ts";

/** Where each format is downloaded, with `Authorization: Bearer <token>`. */
export const ACCOUNT_EXPORT_PATHS = { JSON: "/account/export.json", ZIP: "/account/export.zip" } as const;
export type AccountExportFormat = keyof typeof ACCOUNT_EXPORT_PATHS;

/** The file name a download is saved under, e.g. `story-spark-account-2026-12-06.zip`. */
export function accountExportFileName(format: AccountExportFormat, at = new Date()): string {
  return `story-spark-account-${at.toISOString().slice(0, 10)}.${format.toLowerCase()}`;
}

function formatOf(request: IncomingMessage): AccountExportFormat | null {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  return (Object.keys(ACCOUNT_EXPORT_PATHS) as AccountExportFormat[]).find((format) => ACCOUNT_EXPORT_PATHS[format] === path) ?? null;
}

/** Whether the request is for this route; other paths go on to GraphQL. */
export function isAccountExportRequest(request: IncomingMessage): boolean {
  return formatOf(request) !== null;
}

export async function serveAccountExport(services: AuthServices, logger: Logger, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    await streamAccountExport(services, request, response);
  } catch (error) {
    // a client that went away ends the stream; anything else is logged
    if ((error as { code?: unknown }).code !== "ERR_STREAM_PREMATURE_CLOSE") logger.warn("account export failed:", error);
    // once the status is sent, the client sees the body cut short: never an export that looks whole
    if (response.headersSent) response.destroy();
    else refuse(response, 503, "SERVICE_UNAVAILABLE", "the export could not be read; it is safe to retry");
  }
}

async function streamAccountExport(services: AuthServices, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const format = formatOf(request)!;
  if (request.method !== "GET") {
    response.setHeader("allow", "GET");
    return refuse(response, 405, "BAD_USER_INPUT", "an export is read with GET");
  }
  const { viewer } = await verifyViewer(services, request.headers.authorization);
  if (!viewer) return refuse(response, 401, "UNAUTHENTICATED", "sign in to export your account");
  const body = format === "ZIP" ? await accountExportZip(services.db, viewer.id) : await accountExportJson(services.db, viewer.id);
  // the user deleted between the token check and now
  if (!body) return refuse(response, 401, "UNAUTHENTICATED", "sign in to export your account");

  response.writeHead(200, {
    "content-type": format === "ZIP" ? "application/zip" : "application/json; charset=utf-8",
    "content-disposition": `attachment; filename="${accountExportFileName(format)}"`,
    "cache-control": "no-store",
  });
  // pulled as the client reads: a slow client holds back the reads, a gone one ends them
  await pipeline(body instanceof Readable ? body : Readable.from(body, { objectMode: false }), response);
}

function refuse(response: ServerResponse, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  response.end(body);
}
