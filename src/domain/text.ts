// What text may hold: no NUL (PostgreSQL text and jsonb cannot store U+0000) and no lone
// UTF-16 surrogates (they cannot be encoded as UTF-8: the driver would store U+FFFD instead).
// JSON values are also bounded in depth, and walked without recursion, so a hostile value
// cannot blow the stack of whatever reads it next.
import { LIMITS } from "./catalogue.ts";
import { badInput } from "./errors.ts";

/** ES2024, in every Node this server runs on; the project's TypeScript lib is older. */
type WellFormedCheck = string & { isWellFormed(): boolean };

/** Why a string cannot be stored, or null when it can. */
export function textProblem(value: string): string | null {
  if (value.includes("\0")) return "must not contain NUL characters (U+0000)";
  if (!(value as WellFormedCheck).isWellFormed()) return "must not contain lone surrogates (invalid Unicode)";
  return null;
}

/** The string, or BAD_USER_INPUT naming the field. */
export function checkText<T extends string | null | undefined>(field: string, value: T): T {
  if (typeof value === "string") {
    const problem = textProblem(value);
    if (problem !== null) throw badInput(field, problem);
  }
  return value;
}

export type JsonProblem = { readonly path: readonly (string | number)[]; readonly reason: string };

/**
 * The first thing in a JSON value that cannot be stored: a string or key with a bad character,
 * or nesting deeper than `maxDepth` (a scalar at the top is depth 0, `{}` and `[]` are depth 1).
 * Iterative: a value nested 100,000 deep is refused, not followed.
 */
export function jsonProblem(value: unknown, maxDepth: number = LIMITS.jsonDepth): JsonProblem | null {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === "string") {
      const problem = textProblem(current);
      if (problem !== null) return { path, reason: problem };
      continue;
    }
    if (typeof current !== "object" || current === null) continue;
    // named at the value's root: the path to the too-deep part would be as long as the problem
    if (path.length >= maxDepth) return { path: [], reason: `JSON must not nest deeper than ${maxDepth} levels` };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...path, i] });
      continue;
    }
    const entries = Object.entries(current as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      const problem = textProblem(key);
      if (problem !== null) return { path, reason: `a key ${problem}` };
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return null;
}

/** The nesting depth of a JSON value, counted without recursion and only up to `limit + 1`. */
export function jsonDepthOver(value: unknown, limit: number = LIMITS.jsonDepth): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current !== "object" || current === null) continue;
    if (depth >= limit) return true;
    for (const item of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof item === "object" && item !== null) stack.push({ value: item, depth: depth + 1 });
    }
  }
  return false;
}

/** The JSON value, or BAD_USER_INPUT naming the field and the path inside it. */
export function checkJson<T>(field: string, value: T, maxDepth: number = LIMITS.jsonDepth): T {
  const problem = jsonProblem(value, maxDepth);
  if (problem !== null) throw badInput(joinPath(field, problem.path), problem.reason);
  return value;
}

/** `output` + ["characters", 0, "name"] → `output.characters.0.name`. */
export function joinPath(field: string, path: readonly (string | number)[]): string {
  return [field, ...path].filter((part) => part !== "").join(".");
}
