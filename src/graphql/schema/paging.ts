// Forward pagination arguments shared by the connections.
import { badInput } from "../../domain/errors.ts";

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;
/** `Story.events` without `first`. */
export const EVENTS_PAGE = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) throw badInput("first", `must be between 0 and ${MAX_PAGE}`);
  return first;
}

/**
 * Every cursor this API gives out is one of these shapes; anything else is refused when it
 * comes back, before a query sees it (an unparsable date or a non-uuid id would reach SQL).
 * The stories connection pages by [createdAt, id], versions by [number].
 */
const CURSOR_SHAPES: readonly (readonly CursorPart[])[] = [["instant", "uuid"], ["int"]];
type CursorPart = "instant" | "uuid" | "int";

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT_MAX = 2 ** 31 - 1;
/** Far longer than any cursor we make; longer ones are not decoded at all. */
const CURSOR_MAX_CHARS = 200;

const fits: Record<CursorPart, (value: unknown) => boolean> = {
  instant: (value) => typeof value === "string" && ISO_INSTANT.test(value) && new Date(value).toISOString() === value,
  uuid: (value) => typeof value === "string" && UUID.test(value),
  int: (value) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= INT_MAX,
};

export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts), "utf8").toString("base64url");
}

/** The cursor's parts, or BAD_USER_INPUT naming `field` when it is not a cursor this API gave out. */
export function decodeCursor(cursor: string | null | undefined, field = "after"): unknown[] | null {
  if (cursor === null || cursor === undefined) return null;
  if (cursor.length <= CURSOR_MAX_CHARS && /^[A-Za-z0-9_-]*$/.test(cursor)) {
    try {
      const parts: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      if (Array.isArray(parts) && CURSOR_SHAPES.some((shape) => shape.length === parts.length && shape.every((part, i) => fits[part](parts[i])))) {
        return parts;
      }
    } catch {
      // fall through
    }
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
