// Forward pagination arguments shared by the connections.
import { badInput } from "../../domain/errors.ts";

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) throw badInput("first", `must be between 0 and ${MAX_PAGE}`);
  return first;
}

export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | null | undefined, field = "after"): unknown[] | null {
  if (cursor === null || cursor === undefined) return null;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(parts)) return parts;
  } catch {
    // fall through
  }
  throw badInput(field, "is not a cursor this API gave out");
}

export function connectionOf<T>(rows: T[], size: number, cursorOf: (row: T) => string, hasPrevious: boolean) {
  const nodes = rows.slice(0, size);
  return {
    edges: nodes.map((node) => ({ node, cursor: cursorOf(node) })),
    pageInfo: {
      hasNextPage: rows.length > size,
      hasPreviousPage: hasPrevious,
      startCursor: nodes.length > 0 ? cursorOf(nodes[0]!) : null,
      endCursor: nodes.length > 0 ? cursorOf(nodes.at(-1)!) : null,
    },
  };
}
