// The story export format (JSON): everything needed to read a story and to import it again.
import type { JsonObject, ModuleInputs, ModuleName, ModuleOutputs } from "../domain/catalogue.ts";

export const EXPORT_FORMAT = "story-spark.story";
export const EXPORT_FORMAT_VERSION = 1;

export type StoryExport = {
  format: typeof EXPORT_FORMAT;
  formatVersion: typeof EXPORT_FORMAT_VERSION;
  exportedAt: string;
  story: {
    id: string;
    title: string;
    logline: string | null;
    genre: string | null;
    isComplete: boolean;
    createdAt: string;
    updatedAt: string;
    /** seq of the last event */
    revision: number;
    activeVersionNumber: number;
  };
  /** the five modules in story order, as of the active version */
  modules: {
    name: ModuleName;
    title: string;
    order: number;
    inputText: string | null;
    output: JsonObject | null;
    updatedAt: string;
  }[];
  /** every version, oldest first */
  versions: {
    number: number;
    parentNumber: number | null;
    label: string | null;
    snapshot: ModuleOutputs;
    inputs: ModuleInputs;
    /** seq of the event that made it */
    eventSeq: number;
    createdAt: string;
  }[];
  /** the full event log, oldest first */
  events: {
    seq: number;
    type: string;
    schemaVersion: number;
    payload: JsonObject;
    createdAt: string;
  }[];
  /**
   * The story's comment log (a stream of its own: src/domain/comments.ts), oldest first, with who
   * did each. Added within format version 1 (readers of older exports find no key: no comments);
   * importing a story ignores it, since the comments' authors are not the importer's to speak for.
   */
  comments?: {
    seq: number;
    type: string;
    schemaVersion: number;
    payload: JsonObject;
    actorId: string | null;
    createdAt: string;
  }[];
};

/** A file name made from the title, e.g. `the-lighthouse-keeper.json`. */
export function exportFileName(title: string, extension: "json" | "md"): string {
  const base = title.replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "").toLowerCase() || "story";
  return `${base}.${extension}`;
}
