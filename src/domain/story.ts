// The story's rules as a decider: decide(command, state) → events, evolve(state, event) → state.
// Pure: no I/O. The command handler, the projector and every replay tool share this one fold.
import {
  EMPTY_INPUTS,
  EMPTY_OUTPUTS,
  LIMITS,
  MODULES,
  SNAPSHOT_KEYS,
  manualOutputSchema,
  moduleByName,
  type JsonObject,
  type ModuleInputs,
  type ModuleName,
  type SnapshotKey,
} from "./catalogue.ts";
import { StorySparkError, badInput } from "./errors.ts";
import { sameOutput, type OutputContent, type VersionOutputs } from "./content.ts";
import { checkJson, checkText } from "./text.ts";
import { VersionHistory, type StoryVersionState } from "./versionHistory.ts";
import {
  NO_MEMBERS,
  decideMembership,
  evolveMembership,
  isMembershipCommand,
  withCreator,
  type MembershipCommand,
  type MembershipEventData,
  type MembershipState,
} from "./membership.ts";

export type { StoryVersionState } from "./versionHistory.ts";

// ---------------------------------------------------------------- events

export type ModuleIds = { readonly [K in SnapshotKey]: string };
export type VersionRef = { readonly id: string; readonly number: number };
/** Marks a write made by an AI generation (its full provenance is kept beside the log). */
export type GenerationRef = { readonly id: string; readonly model: string; readonly promptVersion: string };

export type StoryEventData =
  | {
      type: "StoryCreated";
      payload: { ownerId: string; title: string; logline: string | null; genre: string | null; version: VersionRef; moduleIds: ModuleIds };
    }
  | {
      type: "StoryDetailsChanged";
      payload: { title?: string; logline?: string | null; genre?: string | null; isComplete?: boolean };
    }
  | {
      type: "ModuleWritten";
      payload: { module: ModuleName; inputText: string | null; output: OutputContent; version: VersionRef; generation?: GenerationRef };
    }
  | { type: "ModuleCleared"; payload: { module: ModuleName; version: VersionRef } }
  | { type: "Undone"; payload: { from: number; to: number } }
  | { type: "Redone"; payload: { from: number; to: number } }
  | { type: "VersionRestored"; payload: { restoredNumber: number; version: VersionRef } }
  | { type: "VersionLabeled"; payload: { number: number; label: string | null } }
  // membership: who may do what (./membership.ts)
  | MembershipEventData;

export type StoryEventType = StoryEventData["type"];

/** Bumped when an event type's payload changes shape; old events are upcast on read. */
export const EVENT_SCHEMA_VERSION = 1;

/** An event as stored in the story's log. */
export type RecordedStoryEvent = StoryEventData & {
  readonly id: string;
  readonly storyId: string;
  readonly seq: number;
  readonly schemaVersion: number;
  readonly actorId: string | null;
  readonly createdAt: Date;
};

// ---------------------------------------------------------------- commands

export type StoryDetails = { title?: string; logline?: string | null; genre?: string | null; isComplete?: boolean };

export type StoryCommand =
  | { type: "CreateStory"; ownerId: string; title: string; logline: string | null; genre: string | null; versionId: string; moduleIds: ModuleIds }
  | { type: "ChangeStoryDetails"; details: StoryDetails }
  | { type: "WriteModule"; module: string; inputText?: string | null; output: unknown; versionId: string; generation?: GenerationRef }
  | { type: "ClearModule"; module: string; versionId: string }
  | { type: "Undo" }
  | { type: "Redo" }
  | { type: "RestoreVersion"; number: number; versionId: string }
  | { type: "LabelVersion"; number: number; label: string | null }
  // membership: who may do what (./membership.ts)
  | MembershipCommand;

// ---------------------------------------------------------------- state

export type StoryState = MembershipState & {
  readonly id: string;
  readonly exists: boolean;
  readonly ownerId: string;
  readonly title: string;
  readonly logline: string | null;
  readonly genre: string | null;
  readonly isComplete: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** seq of the last event */
  readonly revision: number;
  readonly activeVersionNumber: number;
  /** what redo makes active next is last */
  readonly redo: readonly number[];
  readonly versions: VersionHistory;
  /** names the writer gave versions, by number */
  readonly labels: ReadonlyMap<number, string>;
  readonly moduleIds: ModuleIds;
  readonly moduleUpdatedAt: { readonly [K in SnapshotKey]: Date };
};

const EPOCH = new Date(0);

export function initialState(storyId: string): StoryState {
  return {
    id: storyId,
    exists: false,
    ownerId: "",
    title: "",
    logline: null,
    genre: null,
    isComplete: false,
    createdAt: EPOCH,
    updatedAt: EPOCH,
    revision: 0,
    activeVersionNumber: 0,
    redo: [],
    ...NO_MEMBERS,
    versions: VersionHistory.empty(),
    labels: new Map(),
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, ""])) as unknown as ModuleIds,
    moduleUpdatedAt: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, EPOCH])) as unknown as StoryState["moduleUpdatedAt"],
  };
}

export function activeVersion(state: StoryState): StoryVersionState {
  const version = state.versions.get(state.activeVersionNumber);
  if (!version) throw new Error(`story ${state.id}: active version ${state.activeVersionNumber} is not in the state`);
  return version;
}

// ---------------------------------------------------------------- decide

/**
 * The version numbers a command needs besides the active one, its parent and the one redo would
 * bring back, for loaders that bring in part of the history.
 */
export function versionsNeededBy(command: StoryCommand): number[] {
  switch (command.type) {
    case "RestoreVersion":
    case "LabelVersion":
      return [command.number];
    default:
      return [];
  }
}

/** Only the first version has no parent: any other active version can be undone. */
export function canUndo(activeVersionNumber: number): boolean {
  return activeVersionNumber > 1;
}

export function decide(command: StoryCommand, state: StoryState): StoryEventData[] {
  if (command.type === "CreateStory") {
    if (state.exists) throw new StorySparkError("BAD_USER_INPUT", "story already exists", { field: "id" });
    return [
      {
        type: "StoryCreated",
        payload: {
          ownerId: command.ownerId,
          title: checkTitle(command.title),
          logline: checkOptionalText("logline", command.logline, LIMITS.loglineChars),
          genre: checkOptionalText("genre", command.genre, LIMITS.genreChars),
          version: { id: command.versionId, number: 1 },
          moduleIds: command.moduleIds,
        },
      },
    ];
  }
  if (!state.exists) throw new StorySparkError("NOT_FOUND", "story not found");
  if (isMembershipCommand(command)) return decideMembership(command, state);
  const nextVersion = (id: string): VersionRef => ({ id, number: state.versions.latestNumber + 1 });

  switch (command.type) {
    case "ChangeStoryDetails":
      return decideDetails(command.details);
    case "WriteModule": {
      const module = checkModule(command.module);
      const output = checkOutput(module, command.output);
      const current = activeVersion(state).inputs[module.snapshotKey];
      const inputText = command.inputText === undefined ? current : checkInputText(command.inputText);
      const version = nextVersion(command.versionId);
      const payload = { module: module.name, inputText, output, version };
      return [{ type: "ModuleWritten", payload: command.generation ? { ...payload, generation: command.generation } : payload }];
    }
    case "ClearModule": {
      const module = checkModule(command.module);
      return [{ type: "ModuleCleared", payload: { module: module.name, version: nextVersion(command.versionId) } }];
    }
    case "Undo": {
      const parent = activeVersion(state).parentNumber;
      if (parent === null) throw new StorySparkError("NOTHING_TO_UNDO", "nothing to undo: the story is at its first version");
      return [{ type: "Undone", payload: { from: state.activeVersionNumber, to: parent } }];
    }
    case "Redo": {
      const next = state.redo.at(-1);
      if (next === undefined) throw new StorySparkError("NOTHING_TO_REDO", "nothing to redo");
      return [{ type: "Redone", payload: { from: state.activeVersionNumber, to: next } }];
    }
    case "RestoreVersion": {
      if (!Number.isInteger(command.number) || !state.versions.get(command.number)) {
        throw new StorySparkError("NOT_FOUND", `version ${command.number} not found`, { field: "number" });
      }
      return [{ type: "VersionRestored", payload: { restoredNumber: command.number, version: nextVersion(command.versionId) } }];
    }
    case "LabelVersion": {
      if (!Number.isInteger(command.number) || !state.versions.get(command.number)) {
        throw new StorySparkError("NOT_FOUND", `version ${command.number} not found`, { field: "number" });
      }
      const label = checkText("label", command.label?.trim() || null);
      if (label !== null && label.length > LIMITS.labelChars) throw badInput("label", `must be at most ${LIMITS.labelChars} characters`);
      return [{ type: "VersionLabeled", payload: { number: command.number, label } }];
    }
    default:
      return assertNever(command);
  }
}

function decideDetails(details: StoryDetails): StoryEventData[] {
  const payload: Extract<StoryEventData, { type: "StoryDetailsChanged" }>["payload"] = {};
  if (details.title !== undefined) payload.title = checkTitle(details.title);
  if (details.logline !== undefined) payload.logline = checkOptionalText("logline", details.logline, LIMITS.loglineChars);
  if (details.genre !== undefined) payload.genre = checkOptionalText("genre", details.genre, LIMITS.genreChars);
  if (details.isComplete !== undefined) payload.isComplete = details.isComplete;
  if (Object.keys(payload).length === 0) throw badInput("input", "nothing to change: give title, logline, genre or isComplete");
  return [{ type: "StoryDetailsChanged", payload }];
}

function checkModule(name: string) {
  const module = moduleByName(name);
  if (!module) throw badInput("module", `unknown module "${name}"`);
  return module;
}

function checkTitle(title: string): string {
  const trimmed = checkText("title", title).trim();
  if (trimmed.length === 0) throw badInput("title", "must not be empty");
  if (trimmed.length > LIMITS.titleChars) throw badInput("title", `must be at most ${LIMITS.titleChars} characters`);
  return trimmed;
}

function checkOptionalText(field: string, value: string | null | undefined, maxChars: number): string | null {
  if (value === null || value === undefined) return null;
  checkText(field, value);
  if (value.length > maxChars) throw badInput(field, `must be at most ${maxChars} characters`);
  return value;
}

function checkInputText(value: string | null): string | null {
  if (value === null) return null;
  checkText("inputText", value);
  if (Buffer.byteLength(value, "utf8") > LIMITS.inputTextBytes) {
    throw badInput("inputText", `must be at most ${LIMITS.inputTextBytes} bytes`);
  }
  return value;
}

function checkOutput(module: (typeof MODULES)[number], output: unknown): JsonObject {
  if (typeof output !== "object" || output === null || Array.isArray(output)) {
    throw badInput("output", "must be a JSON object");
  }
  // before measuring it: serialising a value nested 100,000 deep would overflow the stack
  checkJson("output", output);
  if (Buffer.byteLength(JSON.stringify(output), "utf8") > LIMITS.outputBytes) {
    throw badInput("output", `must be at most ${LIMITS.outputBytes} bytes of JSON`);
  }
  const checked = manualOutputSchema(module).safeParse(output);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue && issue.path.length > 0 ? `output.${issue.path.join(".")}` : "output";
    throw badInput(where, issue?.message ?? `does not fit ${module.title}`);
  }
  return output as JsonObject;
}

// ---------------------------------------------------------------- evolve

export function evolve(state: StoryState, event: RecordedStoryEvent): StoryState {
  const at = event.createdAt;
  const base = { ...state, revision: event.seq, updatedAt: at };
  switch (event.type) {
    case "StoryCreated": {
      const p = event.payload;
      const version: StoryVersionState = {
        id: p.version.id,
        number: p.version.number,
        parentNumber: null,
        outputs: EMPTY_OUTPUTS,
        inputs: EMPTY_INPUTS,
        eventSeq: event.seq,
        createdAt: at,
        generationId: null,
      };
      return {
        ...withCreator(base, p.ownerId, at),
        exists: true,
        ownerId: p.ownerId,
        title: p.title,
        logline: p.logline,
        genre: p.genre,
        isComplete: false,
        createdAt: at,
        activeVersionNumber: version.number,
        redo: [],
        versions: state.versions.append(version),
        moduleIds: p.moduleIds,
        moduleUpdatedAt: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, at])) as unknown as StoryState["moduleUpdatedAt"],
      };
    }
    case "StoryDetailsChanged": {
      const p = event.payload;
      return {
        ...base,
        title: p.title ?? state.title,
        logline: p.logline === undefined ? state.logline : p.logline,
        genre: p.genre === undefined ? state.genre : p.genre,
        isComplete: p.isComplete ?? state.isComplete,
      };
    }
    case "ModuleWritten": {
      const key = snapshotKeyOf(event.payload.module);
      const active = activeVersion(state);
      return addVersion(base, event, event.payload.version, {
        outputs: { ...active.outputs, [key]: event.payload.output },
        inputs: { ...active.inputs, [key]: event.payload.inputText },
        generationId: event.payload.generation?.id ?? null,
      });
    }
    case "ModuleCleared": {
      const key = snapshotKeyOf(event.payload.module);
      const active = activeVersion(state);
      return addVersion(base, event, event.payload.version, {
        outputs: { ...active.outputs, [key]: null },
        inputs: { ...active.inputs, [key]: null },
        generationId: null,
      });
    }
    case "VersionRestored": {
      const restored = state.versions.get(event.payload.restoredNumber);
      if (!restored) throw new Error(`story ${state.id}: version ${event.payload.restoredNumber} is not in the state`);
      return addVersion(base, event, event.payload.version, { outputs: restored.outputs, inputs: restored.inputs, generationId: null });
    }
    case "Undone":
      return moveTo(base, event.payload.to, [...state.redo, event.payload.from], at);
    case "Redone":
      return moveTo(base, event.payload.to, state.redo.slice(0, -1), at);
    case "VersionLabeled": {
      const labels = new Map(state.labels);
      if (event.payload.label === null) labels.delete(event.payload.number);
      else labels.set(event.payload.number, event.payload.label);
      return { ...base, labels };
    }
    // membership (./membership.ts): bumps the revision, makes no version
    case "CollaboratorInvited":
    case "InvitationAccepted":
    case "InvitationDeclined":
    case "InvitationRevoked":
    case "CollaboratorRoleChanged":
    case "CollaboratorRemoved":
    case "OwnershipTransferred":
      return evolveMembership(base, event);
    default:
      return assertNever(event);
  }
}

/** A content change: one new version, child of the active one; redo is cleared. */
function addVersion(
  state: StoryState,
  event: RecordedStoryEvent,
  ref: VersionRef,
  content: { outputs: VersionOutputs; inputs: ModuleInputs; generationId: string | null },
): StoryState {
  const version: StoryVersionState = {
    id: ref.id,
    number: ref.number,
    parentNumber: state.activeVersionNumber,
    outputs: content.outputs,
    inputs: content.inputs,
    eventSeq: event.seq,
    createdAt: event.createdAt,
    generationId: content.generationId,
  };
  const next = { ...state, versions: state.versions.append(version), redo: [] };
  return moveTo(next, version.number, [], event.createdAt);
}

/** Makes `number` the active version; modules whose content differs are stamped `at`. */
function moveTo(state: StoryState, number: number, redo: readonly number[], at: Date): StoryState {
  const from = activeVersion(state);
  const to = state.versions.get(number);
  if (!to) throw new Error(`story ${state.id}: version ${number} is not in the state`);
  let moduleUpdatedAt = state.moduleUpdatedAt;
  for (const key of changedModules(from, to)) moduleUpdatedAt = { ...moduleUpdatedAt, [key]: at };
  return { ...state, activeVersionNumber: number, redo, moduleUpdatedAt };
}

/** Snapshot keys whose output or input text differ between two versions. */
export function changedModules(a: StoryVersionState, b: StoryVersionState): SnapshotKey[] {
  return SNAPSHOT_KEYS.filter((key) => a.inputs[key] !== b.inputs[key] || !sameOutput(a.outputs[key], b.outputs[key]));
}

function snapshotKeyOf(name: ModuleName): SnapshotKey {
  const module = moduleByName(name);
  if (!module) throw new Error(`unknown module ${name} in the log`);
  return module.snapshotKey;
}

export function foldEvents(storyId: string, events: Iterable<RecordedStoryEvent>): StoryState {
  let state = initialState(storyId);
  for (const event of events) state = evolve(state, event);
  return state;
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
