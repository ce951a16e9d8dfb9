// Forward pagination arguments shared by the connections.
import { badInput } from "../../domain/errors.ts";

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;
/** `Story.events` without `first`. */
export const EVENTS_PAGE = 100;

/** What the forward-paging arguments mean, the same on every list. */
export const PAGE_ARGUMENTS = {
  first: `How many items, 0 to ${MAX_PAGE}; default ${DEFAULT_PAGE}.`,
  after: "The cursor of the last item read (`pageInfo.endCursor`): the page starts after it.",
} as const;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) throw badInput("first", `must be between 0 and ${MAX_PAGE}`);
  return first;
}

/**
 * Every cursor this API gives out has one of these shapes; anything else is refused when it
 * comes back, before a query sees it (an unparsable date or a non-uuid id would reach SQL).
 */
export const CURSOR_SHAPES = {
  /** the stories connection pages by [createdAt, id] */
  story: ["instant", "uuid"],
  /** the versions connection by [number] */
  version: ["int"],
  /** the comments connections by [createdAt, id], oldest first */
  comment: ["instant", "uuid"],
} as const;
type CursorPart = "instant" | "uuid" | "int";
type CursorParts<Shape extends readonly CursorPart[]> = { -readonly [I in keyof Shape]: Shape[I] extends "int" ? number : string };

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT_MAX = 2 ** 31 - 1;
/** Far longer than any cursor we make; longer ones are not decoded at all. */
const CURSOR_MAX_CHARS = 200;

const fits: Record<CursorPart, (value: unknown) => boolean> = {
  instant: (value) => typeof value === "string" && ISO_INSTANT.test(value) && isoOf(value) === value,
  uuid: (value) => typeof value === "string" && UUID.test(value),
  int: (value) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= INT_MAX,
};

/** The instant a string names, written back as ISO 8601; null when it names none (e.g. month 13). */
function isoOf(value: string): string | null {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts), "utf8").toString("base64url");
}

/** The cursor's parts; BAD_USER_INPUT naming `field` when it is not a cursor of this shape that this API gave out. */
export function decodeCursor<const Shape extends readonly CursorPart[]>(
  cursor: string | null | undefined,
  shape: Shape,
  field = "after",
): CursorParts<Shape> | null {
  if (cursor === null || cursor === undefined) return null;
  const parts = cursor.length <= CURSOR_MAX_CHARS && /^[A-Za-z0-9_-]*$/.test(cursor) ? parsed(cursor) : null;
  if (!Array.isArray(parts) || parts.length !== shape.length || !shape.every((part, i) => fits[part](parts[i]))) throw notACursor(field);
  return parts as CursorParts<Shape>;
}

function parsed(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

/** A cursor this API did not give out, or gave out for another list. */
function notACursor(field: string) {
  return badInput(field, "is not a cursor this API gave out");
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
