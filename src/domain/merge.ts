// The three-way merge of one story module (issue 14): a branch's content into a target's, with
// the fork version as their common base. Pure: no database, no GraphQL.
//
// The rules, from the outside in. A value both sides left alike, or only one side changed, is
// taken as it is. Where both changed it differently: objects merge key by key; lists of named
// things (every item an object with a string `name`, names unique in each list: characters,
// locations, beats) merge item by item by name; other lists merge position by position; strings
// merge line by line with diff3; anything else (numbers, booleans, null, a change of type, a
// module's empty output against an object) is in conflict at its path. A conflict leaves ours'
// side in the merged content until the writer resolves it.
import { diffArrays } from "diff";
import type { JsonObject } from "./catalogue.ts";
import { badInput } from "./errors.ts";
import { jsonEqual } from "./json.ts";

export type ModuleContent = { readonly output: JsonObject | null; readonly inputText: string | null };

/**
 * UNCHANGED: ours and theirs hold the same content (whether or not changed from base); OURS: only
 * ours changed (the result is ours); THEIRS: only theirs changed (the result is theirs); MERGED:
 * both changed, combined without conflict; CONFLICT: at least one conflict.
 */
export type MergeStatus = "UNCHANGED" | "OURS" | "THEIRS" | "MERGED" | "CONFLICT";

export type MergeConflict = {
  /**
   * Stable id of the conflict inside the module: `output`, `inputText`, `output.logline`,
   * `output.characters[name="Mara"].need`, `output.themes[3]`, `output["my key"]`, and for a
   * string that spans lines, its n-th conflicting hunk (from 1): `output.prose@2`.
   */
  readonly path: string;
  /** the value there, or for a hunk its text (its lines, each with its line break); null when absent */
  readonly base: unknown;
  readonly ours: unknown;
  readonly theirs: unknown;
};

export type ModuleMerge = {
  readonly status: MergeStatus;
  /** the result; where in conflict it holds ours' side */
  readonly merged: ModuleContent;
  readonly conflicts: readonly MergeConflict[];
};

export type MergeChoice = "OURS" | "THEIRS" | "CONTENT";

export type MergeResolution = {
  /** a conflict's path; absent or null: the whole module */
  readonly path?: string | null;
  readonly choice: MergeChoice;
  /** CONTENT only: the value for that path (for a hunk, its text); for the whole module, `{ output, inputText }` */
  readonly content?: unknown;
};

export function mergeModule(base: ModuleContent, ours: ModuleContent, theirs: ModuleContent): ModuleMerge {
  return mergeWith(base, ours, theirs, NO_RESOLUTIONS);
}

/**
 * The module's content with the writer's resolutions applied. A whole-module OURS, THEIRS or
 * CONTENT overrides the automatic merge entirely (THEIRS gives exactly theirs, OURS exactly ours).
 * A resolution with a path resolves that conflict: OURS and THEIRS take that side's value or hunk
 * (an absent side's value removes the key or item), CONTENT puts its content there. Answers the
 * conflicts still without a resolution (empty when complete). A resolution naming no conflict of
 * the merge, two for one path, or content of the wrong kind is BAD_USER_INPUT on "resolutions".
 * Whether a resolved output fits the module's schema is for the caller to check.
 */
export function resolveModule(
  merge: ModuleMerge,
  sides: { readonly base: ModuleContent; readonly ours: ModuleContent; readonly theirs: ModuleContent },
  resolutions: readonly MergeResolution[],
): { content: ModuleContent; unresolved: readonly MergeConflict[] } {
  const conflictPaths = new Set(merge.conflicts.map((conflict) => conflict.path));
  let whole: MergeResolution | undefined;
  const byPath = new Map<string, MergeResolution>();
  for (const resolution of resolutions) {
    if (!CHOICES.has(resolution.choice)) throw badInput("resolutions", `unknown choice ${String(resolution.choice)}`);
    if (resolution.choice !== "CONTENT" && resolution.content !== undefined && resolution.content !== null) {
      throw badInput("resolutions", `content is only for the choice CONTENT`);
    }
    const path = resolution.path ?? null;
    if (path === null) {
      if (whole) throw badInput("resolutions", "more than one resolution for the whole module");
      whole = resolution;
    } else {
      if (!conflictPaths.has(path)) throw badInput("resolutions", `no conflict at ${path} in this module`);
      if (byPath.has(path)) throw badInput("resolutions", `more than one resolution for ${path}`);
      byPath.set(path, resolution);
    }
  }

  if (whole) return { content: wholeModule(whole, sides), unresolved: [] };
  if (byPath.size === 0) return { content: merge.merged, unresolved: merge.conflicts };
  // Conflicts are leaves of the walk: resolving one changes nothing around it, so the same walk
  // with the resolutions meets the same conflicts and settles those it has a resolution for.
  const resolved = mergeWith(sides.base, sides.ours, sides.theirs, byPath);
  return { content: resolved.merged, unresolved: resolved.conflicts };
}

const CHOICES: ReadonlySet<MergeChoice> = new Set(["OURS", "THEIRS", "CONTENT"]);
const NO_RESOLUTIONS: ReadonlyMap<string, MergeResolution> = new Map();

function mergeWith(base: ModuleContent, ours: ModuleContent, theirs: ModuleContent, resolutions: ReadonlyMap<string, MergeResolution>): ModuleMerge {
  if (sameContent(ours, theirs)) return { status: "UNCHANGED", merged: ours, conflicts: [] };
  if (sameContent(base, ours)) return { status: "THEIRS", merged: theirs, conflicts: [] };
  if (sameContent(base, theirs)) return { status: "OURS", merged: ours, conflicts: [] };

  const walk = new ThreeWayWalk(resolutions);
  const output = walk.value("output", base.output, ours.output, theirs.output, outputContent) as JsonObject | null;
  const inputText = walk.value("inputText", base.inputText, ours.inputText, theirs.inputText, inputTextContent) as string | null;
  return { status: walk.conflicts.length > 0 ? "CONFLICT" : "MERGED", merged: { output, inputText }, conflicts: walk.conflicts };
}

function sameContent(a: ModuleContent, b: ModuleContent): boolean {
  return a.inputText === b.inputText && jsonEqual(a.output, b.output);
}

function wholeModule(resolution: MergeResolution, sides: { ours: ModuleContent; theirs: ModuleContent }): ModuleContent {
  switch (resolution.choice) {
    case "OURS":
      return sides.ours;
    case "THEIRS":
      return sides.theirs;
    case "CONTENT": {
      const content = resolution.content;
      if (!isRecord(content) || !Object.hasOwn(content, "output") || !Object.hasOwn(content, "inputText")) {
        throw badInput("resolutions", "the content of a whole module is { output, inputText }");
      }
      return { output: outputContent(content.output) as JsonObject | null, inputText: inputTextContent(content.inputText) as string | null };
    }
  }
}

// ---------------------------------------------------------------- the walk

/** Checks a resolution's content for a place and answers the value to put there (undefined: none). */
type ContentCheck = (content: unknown) => unknown;

const anyValue: ContentCheck = (content) => {
  if (content === undefined) throw badInput("resolutions", "CONTENT needs a content");
  return content;
};

const outputContent: ContentCheck = (content) => {
  if (content !== null && !isRecord(content)) throw badInput("resolutions", "a module's output is an object or null");
  return content;
};

const inputTextContent: ContentCheck = (content) => {
  if (content !== null && typeof content !== "string") throw badInput("resolutions", "a module's input text is a string or null");
  return content;
};

const hunkContent: ContentCheck = (content) => {
  if (typeof content !== "string") throw badInput("resolutions", "the content of a hunk is its text");
  return content;
};

/** A named item is replaced by an item of the same name, or removed by null. */
const namedItemContent =
  (name: string): ContentCheck =>
  (content) => {
    if (content === null) return undefined;
    if (!isRecord(content) || content.name !== name) throw badInput("resolutions", `the content of item ${JSON.stringify(name)} is an object with that name, or null`);
    return content;
  };

/**
 * One walk over base, ours and theirs together. `undefined` stands for absent (a key or item one
 * side does not have): a value the walk answers as undefined is left out of the result.
 */
class ThreeWayWalk {
  readonly conflicts: MergeConflict[] = [];
  private readonly resolutions: ReadonlyMap<string, MergeResolution>;

  constructor(resolutions: ReadonlyMap<string, MergeResolution>) {
    this.resolutions = resolutions;
  }

  value(path: string, base: unknown, ours: unknown, theirs: unknown, check: ContentCheck = anyValue): unknown {
    if (jsonEqual(ours, theirs)) return ours;
    if (jsonEqual(base, ours)) return theirs;
    if (jsonEqual(base, theirs)) return ours;
    // Both changed, differently. Where both sides added the key, the base is an empty one of its kind.
    if (isRecord(ours) && isRecord(theirs) && (base === undefined || isRecord(base))) return this.objects(path, base ?? {}, ours, theirs);
    if (Array.isArray(ours) && Array.isArray(theirs) && (base === undefined || Array.isArray(base))) return this.lists(path, base ?? [], ours, theirs);
    if (typeof ours === "string" && typeof theirs === "string" && (base === undefined || typeof base === "string")) {
      return this.strings(path, base, ours, theirs, check);
    }
    return this.settle(path, base, ours, theirs, check);
  }

  /** A conflict: the writer's resolution of it, or ours' side, the conflict noted. */
  private settle(path: string, base: unknown, ours: unknown, theirs: unknown, check: ContentCheck): unknown {
    const resolution = this.resolutions.get(path);
    if (!resolution) {
      this.conflicts.push({ path, base: base ?? null, ours: ours ?? null, theirs: theirs ?? null });
      return ours;
    }
    switch (resolution.choice) {
      case "OURS":
        return ours;
      case "THEIRS":
        return theirs;
      case "CONTENT":
        return check(resolution.content);
    }
  }

  /** Key by key; keys in ours' order, then those theirs added. */
  private objects(path: string, base: JsonObject, ours: JsonObject, theirs: JsonObject): JsonObject {
    const keys = new Set([...Object.keys(ours), ...Object.keys(theirs), ...Object.keys(base)]);
    const entries: [string, unknown][] = [];
    for (const key of keys) {
      const value = this.value(objectPath(path, key), ownValue(base, key), ownValue(ours, key), ownValue(theirs, key));
      if (value !== undefined) entries.push([key, value]);
    }
    // fromEntries defines each key as an own property, "__proto__" too
    return Object.fromEntries(entries);
  }

  private lists(path: string, base: readonly unknown[], ours: readonly unknown[], theirs: readonly unknown[]): unknown[] {
    const baseNames = namesOf(base);
    const oursNames = baseNames && namesOf(ours);
    const theirsNames = oursNames && namesOf(theirs);
    if (baseNames && oursNames && theirsNames) {
      return this.namedLists(path, { base: base as NamedItem[], ours: ours as NamedItem[], theirs: theirs as NamedItem[] }, { base: baseNames, ours: oursNames, theirs: theirsNames });
    }

    const merged: unknown[] = [];
    const length = Math.max(base.length, ours.length, theirs.length);
    for (let i = 0; i < length; i++) {
      const value = this.value(`${path}[${i}]`, base[i], ours[i], theirs[i]);
      if (value !== undefined) merged.push(value);
    }
    return merged;
  }

  /**
   * Item by item, by name: added on one side is added; removed on one side and unchanged on the
   * other is removed; changed on both merges field by field; removed on one side and changed on
   * the other is a conflict. The order is ours', with theirs' new items each after its preceding
   * neighbour in theirs (or first, when it has none); when only theirs reordered, the other way round.
   */
  private namedLists(path: string, items: Sides<readonly NamedItem[]>, names: Sides<readonly string[]>): unknown[] {
    const byName = (list: readonly NamedItem[]) => new Map(list.map((item) => [item.name, item]));
    const [baseBy, oursBy, theirsBy] = [byName(items.base), byName(items.ours), byName(items.theirs)];
    const merged = new Map<string, unknown>();
    for (const name of new Set([...names.ours, ...names.theirs, ...names.base])) {
      const itemPath = `${path}[name=${JSON.stringify(name)}]`;
      const value = this.value(itemPath, baseBy.get(name), oursBy.get(name), theirsBy.get(name), namedItemContent(name));
      if (value !== undefined) merged.set(name, value);
    }

    const basePositions = new Map(names.base.map((name, i) => [name, i]));
    const onlyTheirsReordered = reordered(names.theirs, basePositions) && !reordered(names.ours, basePositions);
    const [first, second] = onlyTheirsReordered ? [names.theirs, names.ours] : [names.ours, names.theirs];
    return interleave(first, second, merged).map((name) => merged.get(name));
  }

  /** Line by line with diff3; a string on one line conflicts whole, others by hunk (`path@n`). */
  private strings(path: string, base: string | undefined, ours: string, theirs: string, check: ContentCheck): unknown {
    if (!(base ?? "").includes("\n") && !ours.includes("\n") && !theirs.includes("\n")) return this.settle(path, base, ours, theirs, check);

    let text = "";
    let hunk = 0;
    for (const region of mergeLines(linesOf(base ?? ""), linesOf(ours), linesOf(theirs))) {
      if (region.ok) {
        text += region.ok.join("");
      } else if (region.conflict) {
        hunk += 1;
        const { o, a, b } = region.conflict;
        text += this.settle(`${path}@${hunk}`, o.join(""), a.join(""), b.join(""), hunkContent) as string;
      }
    }
    return text;
  }
}

type NamedItem = JsonObject & { readonly name: string };
type Sides<T> = { readonly base: T; readonly ours: T; readonly theirs: T };

/** The names of a list of named things, in order; undefined when it is not one (or repeats a name). */
function namesOf(list: readonly unknown[]): string[] | undefined {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const item of list) {
    if (!isRecord(item) || typeof item.name !== "string" || seen.has(item.name)) return undefined;
    seen.add(item.name);
    names.push(item.name);
  }
  return names;
}

/** Whether a side moved items the base had relative to each other. */
function reordered(names: readonly string[], basePositions: ReadonlyMap<string, number>): boolean {
  let last = -1;
  for (const name of names) {
    const position = basePositions.get(name);
    if (position === undefined) continue;
    if (position < last) return true;
    last = position;
  }
  return false;
}

/**
 * `first`'s names, with each of `second`'s that `first` lacks after its preceding neighbour in
 * `second` (at the start when it has none); only names in `kept`. Linear: a linked list.
 */
function interleave(first: readonly string[], second: readonly string[], kept: ReadonlyMap<string, unknown>): string[] {
  const HEAD = Symbol("head");
  const next = new Map<string | typeof HEAD, string | null>();
  let tail: string | typeof HEAD = HEAD;
  next.set(HEAD, null);
  for (const name of first) {
    if (!kept.has(name)) continue;
    next.set(tail, name);
    next.set(name, null);
    tail = name;
  }
  let anchor: string | typeof HEAD = HEAD;
  for (const name of second) {
    if (!kept.has(name)) continue;
    if (!next.has(name)) {
      next.set(name, next.get(anchor) ?? null);
      next.set(anchor, name);
    }
    anchor = name;
  }
  const order: string[] = [];
  for (let name = next.get(HEAD) ?? null; name !== null; name = next.get(name) ?? null) order.push(name);
  return order;
}

// ---------------------------------------------------------------- lines

type LineRegion = { ok?: string[]; conflict?: { a: string[]; o: string[]; b: string[] } };

/**
 * diff3 over lines: each side's line diff against the base (jsdiff's Myers diff), its edits put
 * side by side on the base; edits of the two sides that overlap or touch make one region, in
 * conflict unless both sides made it alike. Lines all three share at the start and the end are
 * set aside first: most merges edit a few places of a long text.
 */
function mergeLines(base: readonly string[], ours: readonly string[], theirs: readonly string[]): LineRegion[] {
  let start = 0;
  while (start < base.length && start < ours.length && start < theirs.length && base[start] === ours[start] && base[start] === theirs[start]) start++;
  let end = 0;
  while (
    end < base.length - start &&
    end < ours.length - start &&
    end < theirs.length - start &&
    base[base.length - 1 - end] === ours[ours.length - 1 - end] &&
    base[base.length - 1 - end] === theirs[theirs.length - 1 - end]
  ) {
    end++;
  }
  const o = base.slice(start, base.length - end);
  const a = ours.slice(start, ours.length - end);
  const b = theirs.slice(start, theirs.length - end);

  // Lines as small integers: the diff then compares numbers, not strings.
  const ids = new Map<string, number>();
  const idsOf = (lines: readonly string[]) =>
    lines.map((line) => {
      let id = ids.get(line);
      if (id === undefined) ids.set(line, (id = ids.size));
      return id;
    });
  const [oIds, aIds, bIds] = [idsOf(o), idsOf(a), idsOf(b)];
  // stable: at the same place, ours' edit comes first
  const edits = [...editsOf(oIds, aIds, "ours", ids.size), ...editsOf(oIds, bIds, "theirs", ids.size)].sort((x, y) => x.oStart - y.oStart);

  const regions: LineRegion[] = [{ ok: base.slice(0, start) }];
  let done = 0;
  for (let first = 0; first < edits.length; ) {
    const regionStart = edits[first]!.oStart;
    let regionEnd = edits[first]!.oEnd;
    let next = first + 1;
    while (next < edits.length && edits[next]!.oStart <= regionEnd) regionEnd = Math.max(regionEnd, edits[next++]!.oEnd);
    const region = edits.slice(first, next);
    first = next;

    regions.push({ ok: o.slice(done, regionStart) });
    done = regionEnd;
    // A side's edits never touch each other (a common line lies between): one edit is one side's alone.
    if (region.length === 1) {
      const [edit] = region as [LineEdit];
      regions.push({ ok: (edit.side === "ours" ? a : b).slice(edit.sideStart, edit.sideEnd) });
      continue;
    }
    const oursLines = spanOf(region, "ours", regionStart, regionEnd, a);
    const theirsLines = spanOf(region, "theirs", regionStart, regionEnd, b);
    if (oursLines.length === theirsLines.length && oursLines.every((line, i) => line === theirsLines[i])) regions.push({ ok: oursLines });
    else regions.push({ conflict: { o: o.slice(regionStart, regionEnd), a: oursLines, b: theirsLines } });
  }
  regions.push({ ok: o.slice(done) }, { ok: base.slice(base.length - end) });
  return regions;
}

/** base[oStart, oEnd) became side[sideStart, sideEnd) */
type LineEdit = { side: "ours" | "theirs"; oStart: number; oEnd: number; sideStart: number; sideEnd: number };

/**
 * The diff search stops beyond this many lines added and removed (counting only lines both texts
 * have: a rewritten line costs nothing), or fewer on texts of many lines: its work grows with the
 * square of the edits, and with the edits times the lines. Past it the whole trimmed stretch counts
 * as rewritten: still a correct merge, only coarser, and a pathological pair of drafts cannot hold
 * the server for long. Counted in lines, not time, so the result does not depend on the machine.
 */
const MAX_EDIT_LENGTH = 500;
const SEARCH_WORK = 20_000_000;

/** One side's edits of the base, in order. */
function editsOf(base: readonly number[], side: readonly number[], which: LineEdit["side"], idCount: number): LineEdit[] {
  // Lines on one side only can be in no common subsequence: set aside, the search sees the rest.
  const baseKept = indicesAlsoIn(base, side, idCount);
  const sideKept = indicesAlsoIn(side, base, idCount);
  const changes = diffArrays(
    baseKept.map((i) => base[i]!),
    sideKept.map((j) => side[j]!),
    { maxEditLength: Math.min(MAX_EDIT_LENGTH, Math.floor(SEARCH_WORK / (baseKept.length + sideKept.length + 1))) },
  );

  // the common lines, as pairs of positions, closed by the ends of both
  const common: [number, number][] = [];
  let i = 0;
  let j = 0;
  for (const change of changes ?? []) {
    if (change.added) j += change.count;
    else if (change.removed) i += change.count;
    else for (let k = 0; k < change.count; k++) common.push([baseKept[i++]!, sideKept[j++]!]);
  }
  common.push([base.length, side.length]);

  const edits: LineEdit[] = [];
  let oStart = 0;
  let sideStart = 0;
  for (const [oEnd, sideEnd] of common) {
    if (oEnd > oStart || sideEnd > sideStart) edits.push({ side: which, oStart, oEnd, sideStart, sideEnd });
    oStart = oEnd + 1;
    sideStart = sideEnd + 1;
  }
  return edits;
}

/** What one side made of base[regionStart, regionEnd): its edits there, and the base lines around them. */
function spanOf(region: readonly LineEdit[], which: LineEdit["side"], regionStart: number, regionEnd: number, side: readonly string[]): string[] {
  const own = region.filter((edit) => edit.side === which);
  const first = own[0]!;
  const last = own[own.length - 1]!;
  return side.slice(first.sideStart - (first.oStart - regionStart), last.sideEnd + (regionEnd - last.oEnd));
}

/** The positions of the ids of `values` that `others` has too (ids are integers below `idCount`). */
function indicesAlsoIn(values: readonly number[], others: readonly number[], idCount: number): number[] {
  const present = new Uint8Array(idCount);
  for (const id of others) present[id] = 1;
  const indices: number[] = [];
  for (let i = 0; i < values.length; i++) if (present[values[i]!] === 1) indices.push(i);
  return indices;
}

/** The lines of a text, each with its "\n" (the last may have none): joined, they are the text again. */
function linesOf(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf("\n", start);
    if (end === -1) {
      lines.push(text.slice(start));
      break;
    }
    lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
  return lines;
}

// ---------------------------------------------------------------- JSON

function isRecord(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function ownValue(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** As in version diffs: `parent.key`, or `parent["odd key"]`. */
function objectPath(parent: string, key: string): string {
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}
