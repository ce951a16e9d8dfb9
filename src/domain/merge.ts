// TEMPORARY placeholder for the three-way merge of one module (the real algorithm is written in
// parallel and replaces this file): whole-module outcomes only. Pure: no I/O.
import type { JsonObject } from "./catalogue.ts";
import { jsonEqual } from "./json.ts";

export type ModuleContent = { readonly output: JsonObject | null; readonly inputText: string | null };
export type MergeStatus = "UNCHANGED" | "OURS" | "THEIRS" | "MERGED" | "CONFLICT";
export type MergeConflict = { readonly path: string; readonly base: unknown; readonly ours: unknown; readonly theirs: unknown };
export type ModuleMerge = { readonly status: MergeStatus; readonly merged: ModuleContent; readonly conflicts: readonly MergeConflict[] };

const same = (a: ModuleContent, b: ModuleContent) => a.inputText === b.inputText && jsonEqual(a.output, b.output);

export function mergeModule(base: ModuleContent, ours: ModuleContent, theirs: ModuleContent): ModuleMerge {
  if (same(ours, theirs)) return { status: "UNCHANGED", merged: ours, conflicts: [] };
  if (same(base, theirs)) return { status: "OURS", merged: ours, conflicts: [] };
  if (same(base, ours)) return { status: "THEIRS", merged: theirs, conflicts: [] };
  const conflicts: MergeConflict[] = [];
  if (!jsonEqual(ours.output, theirs.output)) conflicts.push({ path: "output", base: base.output, ours: ours.output, theirs: theirs.output });
  if (ours.inputText !== theirs.inputText) conflicts.push({ path: "inputText", base: base.inputText, ours: ours.inputText, theirs: theirs.inputText });
  return { status: "CONFLICT", merged: ours, conflicts };
}

export type MergeChoice = "OURS" | "THEIRS" | "CONTENT";
export type MergeResolution = { readonly path?: string | null; readonly choice: MergeChoice; readonly content?: unknown };

export function resolveModule(
  merge: ModuleMerge,
  sides: { base: ModuleContent; ours: ModuleContent; theirs: ModuleContent },
  resolutions: readonly MergeResolution[],
): { content: ModuleContent; unresolved: readonly MergeConflict[] } {
  const whole = resolutions.find((r) => r.path === null || r.path === undefined);
  if (whole) {
    if (whole.choice === "OURS") return { content: sides.ours, unresolved: [] };
    if (whole.choice === "THEIRS") return { content: sides.theirs, unresolved: [] };
    const given = (whole.content ?? {}) as { output?: JsonObject | null; inputText?: string | null };
    return { content: { output: given.output ?? null, inputText: given.inputText ?? null }, unresolved: [] };
  }
  let content: ModuleContent = merge.merged;
  const unresolved: MergeConflict[] = [];
  for (const conflict of merge.conflicts) {
    const resolution = resolutions.find((r) => r.path === conflict.path);
    if (!resolution) {
      unresolved.push(conflict);
      continue;
    }
    const value = resolution.choice === "OURS" ? conflict.ours : resolution.choice === "THEIRS" ? conflict.theirs : resolution.content;
    content = conflict.path === "inputText" ? { ...content, inputText: (value ?? null) as string | null } : { ...content, output: (value ?? null) as JsonObject | null };
  }
  return { content, unresolved };
}
