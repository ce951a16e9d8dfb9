// Imports a story export as a new story of the importer. The log is not trusted: each event is
// re-run as the command that would have produced it, through the story's own `decide`, against
// the state folded so far, and must come out as the same event. So an import obeys every rule a
// live command does — the catalogue's output schemas and size limits, title, label and text
// rules, undo/redo/restore/label targets that exist — and what is stored is what `decide` made:
// new ids, no unknown fields, no generation provenance (the generations are not the importer's).
// All of it is appended and projected in one transaction, through the same service as any
// command (in batches for a long log), and announced; anything invalid is BAD_USER_INPUT naming
// the event's seq and the field, and nothing is stored. Membership events (invitations, members,
// ownership) are left out: the imported story is the importer's alone, and its log is numbered
// again without them. A branch's export (its log begins with BranchCreated) is refused: a branch
// is a story made from another the importer may not have; a BranchMerged is re-run as the merge
// of the same content (the branch it names is a record, not read).
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { MODULES } from "../domain/catalogue.ts";
import { StorySparkError, badInput } from "../domain/errors.ts";
import { jsonEqual } from "../domain/json.ts";
import {
  EVENT_SCHEMA_VERSION,
  decide,
  evolve,
  initialState,
  isTrashEvent,
  type TRASH_EVENT_TYPES,
  type ModuleIds,
  type RecordedStoryEvent,
  type StoryCommand,
  type StoryEventData,
  type StoryState,
} from "../domain/story.ts";
import type { StoredEvent } from "../eventstore/eventStore.ts";
import { upcast } from "../eventstore/upcast.ts";
import { EXPORT_FORMAT } from "../history/exportFormat.ts";
import { isMembershipEvent, type MembershipEventData } from "../domain/membership.ts";
import { runStoryCommand, type CommandServices } from "./storyCommands.ts";

const exportedLog = z.object({
  format: z.literal(EXPORT_FORMAT),
  formatVersion: z.literal(1),
  events: z
    .array(
      z.object({
        seq: z.number().int().positive(),
        type: z.string(),
        schemaVersion: z.number().int().positive(),
        payload: z.record(z.string(), z.unknown()),
        createdAt: z.iso.datetime({ offset: true }),
      }),
    )
    .min(1)
    .max(1_000_000),
});

// What each event type's payload must hold to be re-run as its command. Fields not named here
// (ids the import replaces, `generation`, anything unknown) are dropped.
const versionRef = z.object({ number: z.number().int().positive() });
const text = z.string();
const PAYLOADS = {
  StoryCreated: z.object({ title: text, logline: text.nullish(), genre: text.nullish(), version: versionRef }),
  StoryDetailsChanged: z.object({ title: text.optional(), logline: text.nullable().optional(), genre: text.nullable().optional(), isComplete: z.boolean().optional() }),
  ModuleWritten: z.object({ module: text, inputText: text.nullable(), output: z.unknown(), version: versionRef }),
  ModuleCleared: z.object({ module: text, version: versionRef }),
  Undone: z.object({ from: z.number().int(), to: z.number().int() }),
  Redone: z.object({ from: z.number().int(), to: z.number().int() }),
  ChangeReverted: z.object({ change: z.number().int(), version: versionRef }),
  ChangeReapplied: z.object({ change: z.number().int(), version: versionRef }),
  VersionRestored: z.object({ restoredNumber: z.number().int(), version: versionRef }),
  VersionLabeled: z.object({ number: z.number().int(), label: text.nullable() }),
  // refused before its payload is read (a branch is not imported)
  BranchCreated: z.object({}),
  BranchMerged: z.object({
    branch: z.object({ storyId: z.uuid(), versionNumber: z.number().int().positive() }),
    base: z.object({ storyId: z.uuid(), versionNumber: z.number().int().positive() }),
    modules: z.array(z.object({ module: text, output: z.record(z.string(), z.unknown()).nullable(), inputText: text.nullable() })).max(MODULES.length),
    version: versionRef,
  }),
} satisfies Record<Exclude<StoryEventData["type"], MembershipEventData["type"] | (typeof TRASH_EVENT_TYPES)[number]>, z.ZodType>;

type Payloads = { [K in keyof typeof PAYLOADS]: z.infer<(typeof PAYLOADS)[K]> };
type ImportedEvent = { [K in keyof Payloads]: { type: K; payload: Payloads[K] } }[keyof Payloads];

export async function importStory(services: CommandServices, ownerId: string, data: unknown): Promise<{ storyId: string; event: StoredEvent }> {
  const parsed = exportedLog.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badInput(["data", ...(issue?.path ?? [])].join("."), issue?.message ?? "is not a Story Spark export");
  }
  const storyId = randomUUID();
  let state = initialState(storyId);
  const recorded: RecordedStoryEvent[] = [];
  for (const [i, exported] of parsed.data.events.entries()) {
    const where = `data.events[seq ${exported.seq}]`;
    if (exported.seq !== i + 1) throw badInput(`${where}.seq`, `must be ${i + 1}: the log starts at 1 and has no gaps`);
    // who was a member, and a stay in the trash, are the exported story's, not the import's
    if (isMembershipEvent(exported.type) || isTrashEvent(exported.type)) continue;
    if (exported.type === "BranchCreated") {
      throw badInput(`${where}.type`, "a branch's export can't be imported (its log begins with BranchCreated): export the story it was made from, or merge the branch into it first");
    }
    const imported = importedEvent(exported, where);
    if ((i === 0) !== (imported.type === "StoryCreated")) throw badInput(`${where}.type`, "the log must start with StoryCreated, once");

    const event: RecordedStoryEvent = {
      ...replayed(imported, state, ownerId, where),
      id: randomUUID(),
      storyId,
      seq: recorded.length + 1,
      schemaVersion: EVENT_SCHEMA_VERSION,
      actorId: ownerId,
      createdAt: new Date(exported.createdAt),
    };
    state = evolve(state, event);
    recorded.push(event);
  }

  const { event } = await runStoryCommand(services, { storyId, actorId: ownerId, command: { type: "ImportLog", events: recorded } });
  return { storyId, event };
}

/** The event upcast to the current schema, its payload of the right types. */
function importedEvent(exported: z.infer<typeof exportedLog>["events"][number], where: string): ImportedEvent {
  let current: StoryEventData;
  try {
    current = upcast(exported);
  } catch (error) {
    const field = /schema version/.test(String(error)) ? "schemaVersion" : "type";
    throw badInput(`${where}.${field}`, error instanceof Error ? error.message : `is not a Story Spark event`);
  }
  if (isMembershipEvent(current.type) || isTrashEvent(current.type)) throw badInput(`${where}.type`, `${current.type} is not imported`);
  const schema: z.ZodType = PAYLOADS[current.type];
  const payload = schema.safeParse(current.payload);
  if (!payload.success) {
    const issue = payload.error.issues[0];
    throw badInput([`${where}.payload`, ...(issue?.path ?? [])].join("."), issue?.message ?? "does not fit its event type");
  }
  return { type: current.type, payload: payload.data } as ImportedEvent;
}

/** The event `decide` makes from the command behind the imported one; it must say what the log says. */
function replayed(imported: ImportedEvent, state: StoryState, ownerId: string, where: string): StoryEventData {
  const command = commandOf(imported, ownerId, state);
  let decided: StoryEventData[];
  try {
    decided = decide(command, state);
  } catch (error) {
    if (error instanceof StorySparkError) throw refusalOf(error, imported, where);
    throw error;
  }
  const [event] = decided;
  if (decided.length !== 1 || event === undefined || event.type !== imported.type) {
    throw badInput(`${where}.type`, `the story's rules make ${decided.map((e) => e.type).join(", ") || "nothing"} here`);
  }
  const difference = firstDifference(event.payload, imported.payload);
  if (difference !== null) {
    throw badInput(`${where}.payload.${difference.field}`, `is ${shown(difference.imported)}, but the story's rules give ${shown(difference.decided)} here`);
  }
  return event;
}

function commandOf(event: ImportedEvent, ownerId: string, state: StoryState): StoryCommand {
  const versionId = randomUUID();
  switch (event.type) {
    case "StoryCreated": {
      const moduleIds = Object.fromEntries(MODULES.map((m) => [m.snapshotKey, randomUUID()])) as unknown as ModuleIds;
      const p = event.payload;
      return { type: "CreateStory", ownerId, title: p.title, logline: p.logline ?? null, genre: p.genre ?? null, versionId, moduleIds };
    }
    case "StoryDetailsChanged":
      return { type: "ChangeStoryDetails", details: event.payload };
    case "ModuleWritten":
      // no `generation`: the provenance names generations the importer does not have
      return { type: "WriteModule", module: event.payload.module, inputText: event.payload.inputText, output: event.payload.output, versionId };
    case "ModuleCleared":
      return { type: "ClearModule", module: event.payload.module, versionId };
    // the importer is the imported story's one writer: its undo and redo are theirs
    case "Undone":
    case "ChangeReverted":
      return { type: "Undo", actorId: ownerId, versionId };
    case "Redone":
    case "ChangeReapplied":
      return { type: "Redo", actorId: ownerId, versionId };
    case "VersionRestored":
      return { type: "RestoreVersion", number: event.payload.restoredNumber, versionId };
    case "VersionLabeled":
      return { type: "LabelVersion", number: event.payload.number, label: event.payload.label };
    case "BranchCreated":
      throw new Error("a branch's export is refused before its events are re-run");
    case "BranchMerged": {
      // the merge as it was applied: its modules written whole onto the active version
      const p = event.payload;
      return { type: "MergeBranch", branch: p.branch, base: p.base, modules: p.modules, versionId, baseVersionNumber: state.activeVersionNumber };
    }
  }
}

/** decide's refusal, re-addressed to the imported event's field. */
function refusalOf(error: StorySparkError, imported: ImportedEvent, where: string): StorySparkError {
  const field = typeof error.extensions.field === "string" ? error.extensions.field : null;
  const reason = field !== null && error.message.startsWith(`${field}: `) ? error.message.slice(field.length + 2) : error.message;
  switch (error.code) {
    case "NOTHING_TO_UNDO":
    case "NOTHING_TO_REDO":
      return badInput(`${where}.type`, `${reason} at this point of the log`);
    case "NOT_FOUND":
      if (field === "number") {
        const target = imported.type === "VersionRestored" ? "restoredNumber" : "number";
        return badInput(`${where}.payload.${target}`, `${reason} at this point of the log`);
      }
      return badInput(`${where}.type`, "the log must start with StoryCreated, once");
    default:
      if (field === "id") return badInput(`${where}.type`, "the log must start with StoryCreated, once");
      if (field === null || field === "input") return badInput(`${where}.payload`, reason);
      return badInput(`${where}.payload.${field}`, reason);
  }
}

type Difference = { field: string; imported: unknown; decided: unknown };

/** The first field where the decided payload differs from the imported one (new ids aside). */
function firstDifference(decided: object, imported: object): Difference | null {
  const theirs = imported as Record<string, unknown>;
  for (const [key, value] of Object.entries(decided)) {
    if (key === "ownerId" || key === "moduleIds" || key === "generation") continue;
    if (key === "version") {
      const number = (value as { number: number }).number;
      const importedNumber = (theirs.version as { number?: unknown } | undefined)?.number;
      if (number !== importedNumber) return { field: "version.number", imported: importedNumber, decided: number };
      continue;
    }
    const importedValue = theirs[key] === undefined && value === null ? null : theirs[key];
    if (!jsonEqual(value, importedValue)) return { field: key, imported: importedValue, decided: value };
  }
  return null;
}

/** A value for a message: scalars as JSON, short; anything else by its kind. */
function shown(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (typeof value === "object" && value !== null) return Array.isArray(value) ? "an array" : "an object";
  return JSON.stringify(value);
}
