// Module content by reference. A module's output is stored once per story, field by field, keyed
// by the hash of each top-level field's value (story_contents); versions and ModuleWritten events
// keep only the hashes, so a one-field edit of a long module costs that field, not the module.
// Hashes are computed here and in PostgreSQL alike: SHA-256 of the value's text as jsonb prints it.
import { createHash } from "node:crypto";
import type { JsonObject, SnapshotKey } from "./catalogue.ts";
import { jsonEqual } from "./json.ts";

/** Top-level field name → content hash: a module's output as stored. */
export type OutputRefs = { readonly [field: string]: string };

/**
 * A module's output known by its references only: what the command path and rebuild read, so that
 * no module content travels to the server and back. The rules move it around without looking in.
 */
export class StoredOutput {
  readonly refs: OutputRefs;
  constructor(refs: OutputRefs) {
    this.refs = refs;
  }
}

/** A module's output in a version: its content, or its references. */
export type OutputContent = JsonObject | StoredOutput;
export type VersionOutputs = { readonly [K in SnapshotKey]: OutputContent | null };

/** A version's outputs as the read tables keep them: references. */
export function storedOutputs(refs: { readonly [K in SnapshotKey]: OutputRefs | null }): VersionOutputs {
  return Object.fromEntries(Object.entries(refs).map(([key, moduleRefs]) => [key, moduleRefs && new StoredOutput(moduleRefs)])) as unknown as VersionOutputs;
}

/** One stored value: a top-level field of an output, or an input text. */
export type ContentRow = { storyId: string; hash: string; value: unknown };

const refsOfObject = new WeakMap<JsonObject, OutputRefs>();

/** The output's references; an object's are computed once and remembered. */
export function outputRefs(output: OutputContent): OutputRefs {
  if (output instanceof StoredOutput) return output.refs;
  let refs = refsOfObject.get(output);
  if (!refs) {
    refs = Object.fromEntries(Object.entries(output).map(([field, value]) => [field, contentHash(value)]));
    refsOfObject.set(output, refs);
  }
  return refs;
}

/** Whether two outputs hold the same content, whichever form each is in. */
export function sameOutput(a: OutputContent | null, b: OutputContent | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  // both whole (a replay of the log): compared as they are, no hashing on the fold's path
  if (!(a instanceof StoredOutput) && !(b instanceof StoredOutput)) return jsonEqual(a, b);
  const refsA = outputRefs(a);
  const refsB = outputRefs(b);
  const fields = Object.keys(refsA);
  return fields.length === Object.keys(refsB).length && fields.every((field) => refsA[field] === refsB[field]);
}

/** The output's content, where the caller read content, not references (replay tools, exports). */
export function outputContent(output: OutputContent | null): JsonObject | null {
  if (output instanceof StoredOutput) throw new Error("a stored output's content was not read: read the events with their content");
  return output;
}

/** The values an output's references name, to store beside them. */
export function contentRows(storyId: string, output: JsonObject): ContentRow[] {
  const refs = outputRefs(output);
  return Object.entries(output).map(([field, value]) => ({ storyId, hash: refs[field]!, value }));
}

export function contentHash(value: unknown): string {
  return createHash("sha256").update(jsonbText(value)).digest("hex");
}

/**
 * The value as PostgreSQL prints jsonb: object keys by length and then bytes, ", " and ": "
 * between items, numbers in plain decimal notation, strings escaped as JSON.stringify does
 * (the same escapes jsonb uses). The migration that moved existing snapshots hashed this text in SQL.
 */
export function jsonbText(value: unknown): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return numericText(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (Array.isArray(value)) return `[${value.map(jsonbText).join(", ")}]`;
      return `{${jsonbKeys(value as JsonObject)
        .map((key) => `${JSON.stringify(key)}: ${jsonbText((value as JsonObject)[key])}`)
        .join(", ")}}`;
    default:
      throw new Error(`not a JSON value: ${typeof value}`);
  }
}

/** jsonb's key order: shorter keys first, then by their UTF-8 bytes; undefined values are absent. */
function jsonbKeys(object: JsonObject): string[] {
  return Object.keys(object)
    .filter((key) => object[key] !== undefined)
    .map((key) => ({ key, bytes: Buffer.from(key, "utf8") }))
    .sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes))
    .map(({ key }) => key);
}

/** A number as PostgreSQL's numeric prints what JSON.stringify wrote: 1e+21 and 1.5e-7 in full. */
function numericText(value: number): string {
  if (!Number.isFinite(value)) return "null";
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, head, tail = "", exponentText] = match;
  const digits = head! + tail;
  const point = 1 + Number(exponentText);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
