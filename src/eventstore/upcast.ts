// Reads old events as current ones. Each event type's payload shape carries a
// schema version; when one changes, add its step here rather than rewriting the log.
import { EVENT_SCHEMA_VERSION, type StoryEventData } from "../domain/story.ts";
import { MEMBERSHIP_EVENT_TYPES } from "../domain/membership.ts";

const EVENT_TYPES = new Set<string>([
  "StoryCreated",
  "StoryDetailsChanged",
  "ModuleWritten",
  "ModuleCleared",
  "Undone",
  "Redone",
  "ChangeReverted",
  "ChangeReapplied",
  "VersionRestored",
  "VersionLabeled",
  "BranchCreated",
  "BranchMerged",
  "StoryTrashed",
  "StoryRestoredFromTrash",
  ...MEMBERSHIP_EVENT_TYPES,
] satisfies StoryEventData["type"][]);

export function upcast(stored: { type: string; schemaVersion: number; payload: unknown }): StoryEventData {
  if (!EVENT_TYPES.has(stored.type)) throw new Error(`unknown event type ${stored.type} in the log`);
  if (stored.schemaVersion > EVENT_SCHEMA_VERSION) {
    throw new Error(`event schema version ${stored.schemaVersion} is newer than this server's ${EVENT_SCHEMA_VERSION}`);
  }
  // Version 1 is the only one so far: nothing to convert.
  return { type: stored.type, payload: stored.payload } as StoryEventData;
}
