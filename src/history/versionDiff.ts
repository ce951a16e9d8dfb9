// What changed between two versions of a story, module by module, down to the field and the line.
import { z } from "zod";
import { MODULES, type ModuleInputs, type ModuleName, type ModuleOutputs } from "../domain/catalogue.ts";
import { jsonEqual } from "../domain/json.ts";

export type VersionContent = { outputs: ModuleOutputs; inputs: ModuleInputs };

export type LineChange = { op: "equal" | "added" | "removed"; text: string };

export type FieldChange = {
  /** e.g. "logline", "characters[2].name", "locations[0]"; "" for the whole output */
  path: string;
  kind: "added" | "removed" | "changed";
  /** null when absent */
  before: unknown;
  /** null when absent */
  after: unknown;
  /** a line diff when both sides are strings and either is long or spans lines */
  lines: LineChange[] | null;
};

export type ModuleDiff = {
  module: ModuleName;
  status: "added" | "removed" | "changed" | "unchanged";
  /** the writer's input text change (path "inputText"), null when equal */
  inputText: FieldChange | null;
  /** output field changes at the deepest meaningful level */
  changes: FieldChange[];
};

/** Beyond this many characters a string reads better as a line diff than as before/after. */
const LONG_STRING_CHARS = 120;

/** Always five entries, in story order. */
export function diffVersions(from: VersionContent, to: VersionContent): ModuleDiff[] {
  return MODULES.map((module) => {
    const before = from.outputs[module.snapshotKey] ?? null;
    const after = to.outputs[module.snapshotKey] ?? null;
    const inputText = diffInputText(from.inputs[module.snapshotKey] ?? null, to.inputs[module.snapshotKey] ?? null);

    const changes: FieldChange[] = [];
    let status: ModuleDiff["status"];
    if (before === null && after !== null) {
      status = "added";
      changes.push(fieldChange("", "added", null, after));
    } else if (before !== null && after === null) {
      status = "removed";
      changes.push(fieldChange("", "removed", before, null));
    } else {
      if (before !== null && after !== null) collectChanges("", before, after, module.outputSchema, changes);
      status = changes.length > 0 || inputText !== null ? "changed" : "unchanged";
    }
    return { module: module.name, status, inputText, changes };
  });
}

function diffInputText(before: string | null, after: string | null): FieldChange | null {
  if (before === after) return null;
  if (before === null) return fieldChange("inputText", "added", null, after);
  if (after === null) return fieldChange("inputText", "removed", before, null);
  return fieldChange("inputText", "changed", before, after);
}

function fieldChange(path: string, kind: FieldChange["kind"], before: unknown, after: unknown): FieldChange {
  const lines =
    kind === "changed" && typeof before === "string" && typeof after === "string" && (spansLinesOrIsLong(before) || spansLinesOrIsLong(after))
      ? diffLines(before, after)
      : null;
  return { path, kind, before: before ?? null, after: after ?? null, lines };
}

function spansLinesOrIsLong(text: string): boolean {
  return text.length > LONG_STRING_CHARS || text.includes("\n");
}

// ---------------------------------------------------------------- structural diff

type JsonRecord = { readonly [key: string]: unknown };

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Walks both values together. `schema` is only a guide to field order (stored jsonb has its
 * own key order, which would make the list of changes jump around between versions).
 */
function collectChanges(path: string, before: unknown, after: unknown, schema: z.ZodType | undefined, out: FieldChange[]): void {
  if (jsonEqual(before, after)) return;

  if (isRecord(before) && isRecord(after)) {
    const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : undefined;
    for (const key of keysInFieldOrder([before, after], shape)) {
      const childPath = objectPath(path, key);
      const inBefore = Object.hasOwn(before, key);
      const inAfter = Object.hasOwn(after, key);
      if (!inAfter) out.push(fieldChange(childPath, "removed", before[key], null));
      else if (!inBefore) out.push(fieldChange(childPath, "added", null, after[key]));
      else collectChanges(childPath, before[key], after[key], shape?.[key], out);
    }
    return;
  }

  if (Array.isArray(before) && Array.isArray(after)) {
    const element = schema instanceof z.ZodArray ? (schema.element as z.ZodType) : undefined;
    const length = Math.max(before.length, after.length);
    for (let i = 0; i < length; i++) {
      const childPath = `${path}[${i}]`;
      if (i >= after.length) out.push(fieldChange(childPath, "removed", before[i], null));
      else if (i >= before.length) out.push(fieldChange(childPath, "added", null, after[i]));
      else collectChanges(childPath, before[i], after[i], element, out);
    }
    return;
  }

  out.push(fieldChange(path, "changed", before, after));
}

/** The catalogue's fields first, in its order; then the writer's own fields, sorted so the result is stable. */
function keysInFieldOrder(objects: readonly JsonRecord[], shape: Record<string, z.ZodType> | undefined): string[] {
  const present = new Set(objects.flatMap((o) => Object.keys(o)));
  const known = shape ? Object.keys(shape).filter((key) => present.has(key)) : [];
  const knownSet = new Set(known);
  const own = [...present].filter((key) => !knownSet.has(key)).sort();
  return [...known, ...own];
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function objectPath(parent: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

// ---------------------------------------------------------------- line diff

/**
 * Work allowed to the exact search, in steps of Myers' algorithm. Past it, what is left to compare
 * is reported as removed-then-added: still a correct diff, just not the shortest, and it bounds
 * the time a pathological pair of 150,000-line drafts can take.
 */
const SEARCH_BUDGET = 20_000_000;

/**
 * LCS line diff, split on "\n" (an empty string has no lines). Myers' O(ND) algorithm in linear
 * space (divide and conquer on the middle snake), after two exact reductions: common prefix and
 * suffix are trimmed at every step, and lines that occur on one side only are set aside
 * beforehand, since they can never be part of a common subsequence. Removals come before
 * additions within a changed block.
 */
export function diffLines(before: string, after: string): LineChange[] {
  const a = before === "" ? [] : before.split("\n");
  const b = after === "" ? [] : after.split("\n");

  // Lines as small integers: comparisons in the search become integer comparisons.
  const ids = new Map<string, number>();
  const idOf = (line: string) => {
    let id = ids.get(line);
    if (id === undefined) ids.set(line, (id = ids.size));
    return id;
  };
  const aIds = a.map(idOf);
  const bIds = b.map(idOf);

  const inA = new Set(aIds);
  const inB = new Set(bIds);
  const aKept = indicesWhere(aIds, (id) => inB.has(id));
  const bKept = indicesWhere(bIds, (id) => inA.has(id));
  const search = new MyersSearch(
    Int32Array.from(aKept, (i) => aIds[i]!),
    Int32Array.from(bKept, (j) => bIds[j]!),
  );
  const matches = search.matches();

  const result: LineChange[] = [];
  let i = 0;
  let j = 0;
  const emitUpTo = (aEnd: number, bEnd: number) => {
    for (; i < aEnd; i++) result.push({ op: "removed", text: a[i]! });
    for (; j < bEnd; j++) result.push({ op: "added", text: b[j]! });
  };
  for (let m = 0; m < matches.length; m += 2) {
    const ai = aKept[matches[m]!]!;
    const bj = bKept[matches[m + 1]!]!;
    emitUpTo(ai, bj);
    result.push({ op: "equal", text: a[ai]! });
    i++;
    j++;
  }
  emitUpTo(a.length, b.length);
  return result;
}

function indicesWhere(values: readonly number[], keep: (value: number) => boolean): number[] {
  const indices: number[] = [];
  values.forEach((value, index) => {
    if (keep(value)) indices.push(index);
  });
  return indices;
}

type Snake = { x0: number; y0: number; x1: number; y1: number };

class MyersSearch {
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly forward: Int32Array;
  private readonly backward: Int32Array;
  private readonly offset: number;
  /** matched pairs, flattened: aIndex, bIndex, aIndex, bIndex, ... in increasing order */
  private readonly found: number[] = [];
  private budget = SEARCH_BUDGET;

  constructor(a: Int32Array, b: Int32Array) {
    this.a = a;
    this.b = b;
    // One pair of V arrays serves every sub-problem: none is larger than the whole.
    this.offset = Math.ceil((a.length + b.length) / 2) + 1;
    this.forward = new Int32Array(2 * this.offset + 1);
    this.backward = new Int32Array(2 * this.offset + 1);
  }

  matches(): number[] {
    this.compare(0, this.a.length, 0, this.b.length);
    return this.found;
  }

  /** Records the matches of an LCS of a[aLo, aHi) and b[bLo, bHi), in order. */
  private compare(aLo: number, aHi: number, bLo: number, bHi: number): void {
    const { a, b } = this;
    const prefixStart = aLo;
    while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
      aLo++;
      bLo++;
    }
    for (let k = 0; k < aLo - prefixStart; k++) this.found.push(prefixStart + k, bLo - (aLo - prefixStart) + k);

    let suffix = 0;
    while (aLo < aHi - suffix && bLo < bHi - suffix && a[aHi - 1 - suffix] === b[bHi - 1 - suffix]) suffix++;
    aHi -= suffix;
    bHi -= suffix;

    if (aLo < aHi && bLo < bHi) {
      const snake = this.middleSnake(aLo, aHi, bLo, bHi);
      // Out of budget: the rest of this block stays unmatched, i.e. removed then added.
      if (snake !== null) {
        this.compare(aLo, aLo + snake.x0, bLo, bLo + snake.y0);
        for (let k = 0; k < snake.x1 - snake.x0; k++) this.found.push(aLo + snake.x0 + k, bLo + snake.y0 + k);
        this.compare(aLo + snake.x1, aHi, bLo + snake.y1, bHi);
      }
    }

    for (let k = 0; k < suffix; k++) this.found.push(aHi + k, bHi + k);
  }

  /**
   * The middle snake of an optimal edit path (Myers 1986, §4b), relative to (aLo, bLo). Both ends
   * of the sub-problem differ, so the path has at least one edit and halving it makes progress.
   */
  private middleSnake(aLo: number, aHi: number, bLo: number, bHi: number): Snake | null {
    const { a, b, forward: vf, backward: vb, offset } = this;
    const n = aHi - aLo;
    const m = bHi - bLo;
    const delta = n - m;
    const odd = (delta & 1) !== 0;
    const maxD = Math.ceil((n + m) / 2);
    vf[offset + 1] = 0;
    vb[offset + 1] = 0;

    for (let d = 0; d <= maxD; d++) {
      this.budget -= 2 * (2 * d + 1);
      if (this.budget < 0) return null;

      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && vf[offset + k - 1]! < vf[offset + k + 1]!) ? vf[offset + k + 1]! : vf[offset + k - 1]! + 1;
        let y = x - k;
        const x0 = x;
        const y0 = y;
        while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
          x++;
          y++;
        }
        this.budget -= x - x0;
        vf[offset + k] = x;
        const kBack = delta - k;
        if (odd && kBack >= -(d - 1) && kBack <= d - 1 && x + vb[offset + kBack]! >= n) {
          return { x0, y0, x1: x, y1: y };
        }
      }

      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && vb[offset + k - 1]! < vb[offset + k + 1]!) ? vb[offset + k + 1]! : vb[offset + k - 1]! + 1;
        let y = x - k;
        const x0 = x;
        const y0 = y;
        while (x < n && y < m && a[aHi - 1 - x] === b[bHi - 1 - y]) {
          x++;
          y++;
        }
        this.budget -= x - x0;
        vb[offset + k] = x;
        const kForward = delta - k;
        if (!odd && kForward >= -d && kForward <= d && x + vf[offset + kForward]! >= n) {
          // Backward coordinates count from the ends; turn the snake around.
          return { x0: n - x, y0: m - y, x1: n - x0, y1: m - y0 };
        }
      }
    }
    // Unreachable: an overlap exists by d = ceil((n + m) / 2).
    throw new Error("diffLines: no middle snake found");
  }
}
