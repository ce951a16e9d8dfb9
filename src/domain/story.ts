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
  moduleBySnapshotKey,
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
import type { Role } from "./roles.ts";
import { emptied, pushed, stackOf, topOf, withoutTop, type MemberStacks } from "./memberStacks.ts";

export type { StoryVersionState } from "./versionHistory.ts";
export { stackOf, type MemberStacks } from "./memberStacks.ts";

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
  /**
   * An undo when others changed the story since the change: a new version, the active one with
   * only the modules version `change` touched as they were before it (in `change`'s parent).
   */
  | { type: "ChangeReverted"; payload: { change: number; version: VersionRef } }
  /** A redo when others changed the story since the undo: a new version, the active one with the modules `change` touched as it left them. */
  | { type: "ChangeReapplied"; payload: { change: number; version: VersionRef } }
  | { type: "VersionRestored"; payload: { restoredNumber: number; version: VersionRef } }
  | { type: "VersionLabeled"; payload: { number: number; label: string | null } }
  /**
   * The first event of a branch (instead of StoryCreated): a new story made from version
   * `parent.versionNumber` of story `parent.storyId`, whose version 1 holds that version's content
   * (whole, in the payload) and whose members are the parent's then, the creator as owner.
   */
  | {
      type: "BranchCreated";
      payload: {
        ownerId: string;
        title: string;
        logline: string | null;
        genre: string | null;
        label: string;
        parent: BranchParent;
        version: VersionRef;
        moduleIds: ModuleIds;
        content: BranchContent;
        members: readonly BranchMember[];
      };
    }
  /**
   * A branch merged into this story: one new version, the active one with the modules the merge
   * changes as `modules` gives them (whole). `branch` names the branch and the version of it
   * merged, `base` the version the three-way merge took as common ancestor.
   */
  | {
      type: "BranchMerged";
      payload: { branch: VersionOf; base: VersionOf; modules: readonly MergedModule[]; version: VersionRef };
    }
  /** The owner moved the story to the trash: it is gone for everyone until restored (or purged for good). */
  | { type: "StoryTrashed"; payload: Record<string, never> }
  /** The owner brought the story back from the trash, as it was. */
  | { type: "StoryRestoredFromTrash"; payload: Record<string, never> }
  // membership: who may do what (./membership.ts)
  | MembershipEventData;

export type StoryEventType = StoryEventData["type"];

/** A version of some story. */
export type VersionOf = { readonly storyId: string; readonly versionNumber: number };
/** The story and version a branch was made from. */
export type BranchParent = VersionOf & { readonly versionId: string };
/** Each module's output and input text, whole. */
export type BranchContent = { readonly [K in SnapshotKey]: { readonly output: JsonObject | null; readonly inputText: string | null } };
export type BranchMember = { readonly userId: string; readonly role: Role };
export type MergedModule = { readonly module: ModuleName; readonly output: JsonObject | null; readonly inputText: string | null };
/** What a story knows of being a branch: made from which version, under what label, by whom and when. */
export type BranchOrigin = BranchParent & { readonly label: string; readonly createdBy: string; readonly createdAt: Date };
/** The events that move the story in and out of the trash: they change nothing in it. */
export const TRASH_EVENT_TYPES = ["StoryTrashed", "StoryRestoredFromTrash"] as const satisfies readonly StoryEventType[];

export function isTrashEvent(type: string): type is (typeof TRASH_EVENT_TYPES)[number] {
  return (TRASH_EVENT_TYPES as readonly string[]).includes(type);
}

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
  | { type: "WriteModule"; module: string; inputText?: string | null; output: unknown; versionId: string; generation?: GenerationRef; baseVersionNumber?: number | null }
  | { type: "ClearModule"; module: string; versionId: string; baseVersionNumber?: number | null }
  | { type: "Undo"; actorId: string; versionId: string; baseVersionNumber?: number | null }
  | { type: "Redo"; actorId: string; versionId: string; baseVersionNumber?: number | null }
  | { type: "RestoreVersion"; number: number; versionId: string; baseVersionNumber?: number | null }
  | { type: "LabelVersion"; number: number; label: string | null }
  /** `content` and `members` as the parent holds them when the branch is made (the handler checks who may) */
  | {
      type: "CreateBranch";
      ownerId: string;
      label: string;
      parent: BranchParent;
      title: string;
      logline: string | null;
      genre: string | null;
      parentOwnerId: string;
      content: BranchContent;
      members: readonly BranchMember[];
      versionId: string;
      moduleIds: ModuleIds;
    }
  /** `modules`: those whose content the merge changes, as computed on version `baseVersionNumber` */
  | {
      type: "MergeBranch";
      branch: VersionOf;
      base: VersionOf;
      modules: readonly { module: string; output: unknown; inputText: string | null }[];
      versionId: string;
      baseVersionNumber: number;
    }
  | { type: "TrashStory" }
  | { type: "RestoreFromTrash" }
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
  /** the owner's redo stack (`redoStacks`), what redo makes active next last: the story's row keeps it as before */
  readonly redo: readonly number[];
  /**
   * Per member, the versions whose changes their undo takes back, the next one last: every
   * version a member's write, clear, restore or re-applying redo made, until undone.
   */
  readonly undoStacks: MemberStacks;
  /** Per member, the versions whose changes their redo re-applies, the next one last; a new change of theirs empties it. */
  readonly redoStacks: MemberStacks;
  readonly versions: VersionHistory;
  /** names the writer gave versions, by number */
  readonly labels: ReadonlyMap<number, string>;
  readonly moduleIds: ModuleIds;
  readonly moduleUpdatedAt: { readonly [K in SnapshotKey]: Date };
  /** who made the change that gave each module its content: the actor of the event, as with moduleUpdatedAt */
  readonly moduleUpdatedBy: { readonly [K in SnapshotKey]: string };
  /** null unless the story is a branch (its log begins with BranchCreated) */
  readonly branchOf: BranchOrigin | null;
  /** when the story went to the trash (its StoryTrashed event); null when it is not there */
  readonly trashedAt: Date | null;
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
    undoStacks: new Map(),
    redoStacks: new Map(),
    versions: VersionHistory.empty(),
    labels: new Map(),
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, ""])) as unknown as ModuleIds,
    moduleUpdatedAt: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, EPOCH])) as unknown as StoryState["moduleUpdatedAt"],
    moduleUpdatedBy: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, ""])) as unknown as StoryState["moduleUpdatedBy"],
    branchOf: null,
    trashedAt: null,
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
  const base = "baseVersionNumber" in command && Number.isSafeInteger(command.baseVersionNumber) ? [command.baseVersionNumber as number] : [];
  switch (command.type) {
    case "RestoreVersion":
      return [command.number, ...base];
    case "LabelVersion":
      return [command.number];
    default:
      return base;
  }
}

/**
 * The versions undo and redo need besides: the top of each member's undo and redo stack, and
 * that version's parent (a change is what its version changed from its parent).
 */
export function stackVersionsOf(state: Pick<StoryState, "undoStacks" | "redoStacks">): number[] {
  return [...state.undoStacks.values(), ...state.redoStacks.values()].map((run) => run.last);
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
  if (command.type === "CreateBranch") {
    if (state.exists) throw new StorySparkError("BAD_USER_INPUT", "story already exists", { field: "id" });
    return [decideBranch(command)];
  }
  if (!state.exists) throw new StorySparkError("NOT_FOUND", "story not found");
  // a story in the trash is a missing story to every command but the one that brings it back
  if (command.type === "RestoreFromTrash") {
    if (state.trashedAt === null) throw badInput("id", "the story is not in the trash");
    return [{ type: "StoryRestoredFromTrash", payload: {} }];
  }
  if (state.trashedAt !== null) throw new StorySparkError("NOT_FOUND", "story not found");
  if (isMembershipCommand(command)) return decideMembership(command, state);
  const nextVersion = (id: string): VersionRef => ({ id, number: state.versions.latestNumber + 1 });

  switch (command.type) {
    case "ChangeStoryDetails":
      return decideDetails(command.details);
    case "WriteModule": {
      const module = checkModule(command.module);
      const output = checkOutput(module, command.output);
      checkBase(state, command.baseVersionNumber, [module.snapshotKey]);
      const current = activeVersion(state).inputs[module.snapshotKey];
      const inputText = command.inputText === undefined ? current : checkInputText(command.inputText);
      const version = nextVersion(command.versionId);
      const payload = { module: module.name, inputText, output, version };
      return [{ type: "ModuleWritten", payload: command.generation ? { ...payload, generation: command.generation } : payload }];
    }
    case "ClearModule": {
      const module = checkModule(command.module);
      checkBase(state, command.baseVersionNumber, [module.snapshotKey]);
      return [{ type: "ModuleCleared", payload: { module: module.name, version: nextVersion(command.versionId) } }];
    }
    case "Undo":
      return decideUndo(state, command, nextVersion(command.versionId));
    case "Redo":
      return decideRedo(state, command, nextVersion(command.versionId));
    case "RestoreVersion": {
      const restored = Number.isInteger(command.number) ? state.versions.get(command.number) : undefined;
      if (!restored) throw new StorySparkError("NOT_FOUND", `version ${command.number} not found`, { field: "number" });
      checkBase(state, command.baseVersionNumber, changedModules(activeVersion(state), restored));
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
    case "MergeBranch":
      return [decideMerge(state, command, nextVersion(command.versionId))];
    case "TrashStory":
      return [{ type: "StoryTrashed", payload: {} }];
    default:
      return assertNever(command);
  }
}

// ---------------------------------------------------------------- branches and merges

/**
 * A branch begins with its parent's version as it is: the content is not checked again (it was
 * when written). Members as in the parent, but the creator owns the branch, and the parent's
 * owner, if someone else, edits it.
 */
function decideBranch(command: Extract<StoryCommand, { type: "CreateBranch" }>): StoryEventData & { type: "BranchCreated" } {
  const label = checkText("label", command.label).trim();
  if (label.length === 0) throw badInput("label", "must not be empty");
  if (label.length > LIMITS.labelChars) throw badInput("label", `must be at most ${LIMITS.labelChars} characters`);
  const members = new Map<string, Role>();
  members.set(command.ownerId, "owner");
  for (const member of command.members) {
    if (member.userId === command.ownerId) continue;
    members.set(member.userId, member.userId === command.parentOwnerId || member.role === "owner" ? "editor" : member.role);
  }
  if (command.parentOwnerId !== command.ownerId) members.set(command.parentOwnerId, "editor");
  return {
    type: "BranchCreated",
    payload: {
      ownerId: command.ownerId,
      title: command.title,
      logline: command.logline,
      genre: command.genre,
      label,
      parent: command.parent,
      version: { id: command.versionId, number: 1 },
      moduleIds: command.moduleIds,
      content: command.content,
      members: [...members].map(([userId, role]) => ({ userId, role })),
    },
  };
}

/**
 * A merge writes each module it changes whole, each output checked against its module's schema
 * (two valid outputs merged may not be one: too many items), and is refused with MODULE_CONFLICT
 * when one of those modules changed after the version the merge was computed on.
 */
function decideMerge(state: StoryState, command: Extract<StoryCommand, { type: "MergeBranch" }>, version: VersionRef): StoryEventData {
  const modules: MergedModule[] = [];
  for (const given of command.modules) {
    const module = checkModule(given.module);
    try {
      const output = given.output === null ? null : checkOutput(module, given.output);
      modules.push({ module: module.name, output, inputText: checkInputText(given.inputText) });
    } catch (error) {
      if (!(error instanceof StorySparkError) || error.code !== "BAD_USER_INPUT") throw error;
      const field = `${module.name}.${String(error.extensions.field ?? "output")}`;
      throw new StorySparkError("BAD_USER_INPUT", `the merged ${module.title} does not fit the module: ${error.message}`, { field, module: module.name });
    }
  }
  checkBase(state, command.baseVersionNumber, modules.map((m) => snapshotKeyOf(m.module)));
  return { type: "BranchMerged", payload: { branch: command.branch, base: command.base, modules, version } };
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

// ---------------------------------------------------------------- who changed what: conflicts, undo and redo
//
// A write's base: a module "changed after" `baseVersionNumber` when its content now (output and
// input text) differs from its content in that version: what the writer saw is no longer what is
// there, and writing would lose it. A change made and taken back, or the same content written
// again, leaves nothing to lose and nothing to conflict with.
//
// Undo takes back the actor's own latest change that is not undone (the top of their undo stack;
// a change is what its version changed from its parent, in the modules it touched):
//  - that change made the active version: the active version moves to its parent (Undone), as
//    it always did; with one writer this is every undo;
//  - others changed the story since: a new version (ChangeReverted), the active one with only the
//    modules the change touched as they were before it, provided nobody changed those modules
//    since: each is still written by that change (`writtenIn`); a write, clear, restore or redo of
//    someone else's over it is a change, even one that brings the same content back, while an
//    undo that gives the module back is not. Otherwise UNDO_CONFLICT naming who changed them last
//    and when, and nothing changes.
// Redo re-applies the actor's latest undone change by the same rule: Redone when the active
// version is the one the change was made on, else ChangeReapplied provided the modules it touches
// are still as the undo left them, else UNDO_CONFLICT. A new change of the actor's empties their
// redo stack only.

/** MODULE_CONFLICT when a module the command writes changed after `baseVersionNumber`. */
function checkBase(state: StoryState, baseVersionNumber: number | null | undefined, writes: readonly SnapshotKey[]): void {
  if (baseVersionNumber === null || baseVersionNumber === undefined) return;
  const base = Number.isInteger(baseVersionNumber) ? state.versions.get(baseVersionNumber) : undefined;
  if (!base) throw new StorySparkError("NOT_FOUND", `version ${baseVersionNumber} not found`, { field: "baseVersionNumber" });
  const active = activeVersion(state);
  const changed = writes.filter((key) => !sameModule(active, base, key));
  if (changed.length === 0) return;
  throw conflict(state, "MODULE_CONFLICT", changed, `changed after version ${baseVersionNumber}`, { baseVersionNumber });
}

function decideUndo(state: StoryState, command: Extract<StoryCommand, { type: "Undo" }>, version: VersionRef): StoryEventData[] {
  const top = topOf(state.undoStacks, command.actorId);
  if (top === undefined) {
    throw new StorySparkError(
      "NOTHING_TO_UNDO",
      activeVersion(state).parentNumber === null ? "nothing to undo: the story is at its first version" : "nothing to undo: no change of yours to take back",
    );
  }
  const { change, parent, touched } = changeOf(state, top);
  if (top === state.activeVersionNumber) {
    checkBase(state, command.baseVersionNumber, touched);
    return [{ type: "Undone", payload: { from: top, to: parent.number } }];
  }
  const active = activeVersion(state);
  const changedSince = touched.filter((key) => active.writtenIn[key] !== change.writtenIn[key]);
  if (changedSince.length > 0) throw conflict(state, "UNDO_CONFLICT", changedSince, `changed since your change (version ${top}): undo would take back their work`);
  checkBase(state, command.baseVersionNumber, touched);
  return [{ type: "ChangeReverted", payload: { change: top, version } }];
}

function decideRedo(state: StoryState, command: Extract<StoryCommand, { type: "Redo" }>, version: VersionRef): StoryEventData[] {
  const top = topOf(state.redoStacks, command.actorId);
  if (top === undefined) throw new StorySparkError("NOTHING_TO_REDO", "nothing to redo");
  const { parent, touched } = changeOf(state, top);
  if (parent.number === state.activeVersionNumber) {
    checkBase(state, command.baseVersionNumber, touched);
    return [{ type: "Redone", payload: { from: state.activeVersionNumber, to: top } }];
  }
  const active = activeVersion(state);
  const changedSince = touched.filter((key) => active.writtenIn[key] !== parent.writtenIn[key]);
  if (changedSince.length > 0) throw conflict(state, "UNDO_CONFLICT", changedSince, `changed since your undo (of version ${top}): redo would take back their work`);
  checkBase(state, command.baseVersionNumber, touched);
  return [{ type: "ChangeReapplied", payload: { change: top, version } }];
}

/** The change version `number` made: the version, its parent, and the modules it touched. */
function changeOf(state: StoryState, number: number): { change: StoryVersionState; parent: StoryVersionState; touched: SnapshotKey[] } {
  const change = state.versions.get(number);
  const parent = change?.parentNumber == null ? undefined : state.versions.get(change.parentNumber);
  if (!change || !parent) throw new Error(`story ${state.id}: version ${number} or its parent is not in the state`);
  return { change, parent, touched: changedModules(parent, change) };
}

function sameModule(a: StoryVersionState, b: StoryVersionState, key: SnapshotKey): boolean {
  return a.inputs[key] === b.inputs[key] && sameOutput(a.outputs[key], b.outputs[key]);
}

/**
 * The refusal naming, per module, who changed it last and when; the command handler adds each
 * module's current content (the rules may hold it as references only).
 */
function conflict(state: StoryState, code: "MODULE_CONFLICT" | "UNDO_CONFLICT", keys: readonly SnapshotKey[], what: string, extra: Record<string, unknown> = {}): StorySparkError {
  const modules = keys.map((key) => ({
    module: moduleBySnapshotKey(key)!.name,
    changedBy: { id: state.moduleUpdatedBy[key] },
    changedAt: state.moduleUpdatedAt[key].toISOString(),
  }));
  const names = modules.map((m) => `${m.module} (by ${m.changedBy.id} at ${m.changedAt})`).join(", ");
  return new StorySparkError(code, `${names} ${what}`, { ...modules[0], versionNumber: state.activeVersionNumber, modules, ...extra });
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
  const next = evolveStory(state, event);
  // the story's row keeps the owner's redo stack where it always kept the story's
  if (next.ownerId === state.ownerId && next.redoStacks.get(next.ownerId) === state.redoStacks.get(state.ownerId)) return next;
  return { ...next, redo: stackOf(next.redoStacks, next.ownerId) };
}

function evolveStory(state: StoryState, event: RecordedStoryEvent): StoryState {
  const at = event.createdAt;
  const base = { ...state, revision: event.seq, updatedAt: at };
  // an event appended without an actor (none so far) is the owner's
  const actor = event.actorId ?? state.ownerId;
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
        authorId: event.actorId ?? p.ownerId,
        writtenIn: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, p.version.number])) as unknown as StoryVersionState["writtenIn"],
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
        undoStacks: new Map(),
        redoStacks: new Map(),
        versions: state.versions.append(version),
        moduleIds: p.moduleIds,
        moduleUpdatedAt: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, at])) as unknown as StoryState["moduleUpdatedAt"],
        moduleUpdatedBy: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, version.authorId])) as unknown as StoryState["moduleUpdatedBy"],
      };
    }
    case "BranchCreated": {
      const p = event.payload;
      const created = evolveStory(state, {
        ...event,
        type: "StoryCreated",
        payload: { ownerId: p.ownerId, title: p.title, logline: p.logline, genre: p.genre, version: p.version, moduleIds: p.moduleIds },
      });
      const first = activeVersion(created);
      const outputs = Object.fromEntries(SNAPSHOT_KEYS.map((key) => [key, p.content[key].output])) as unknown as VersionOutputs;
      const inputs = Object.fromEntries(SNAPSHOT_KEYS.map((key) => [key, p.content[key].inputText])) as unknown as ModuleInputs;
      const members = new Map(p.members.map((m) => [m.userId, m.role]));
      const invitedBy = (userId: string) => (userId === p.ownerId ? null : p.ownerId);
      return {
        ...created,
        versions: state.versions.append({ ...first, outputs, inputs }),
        members,
        memberRecords: new Map(p.members.map((m) => [m.userId, { invitedBy: invitedBy(m.userId), since: at, updatedAt: at }])),
        branchOf: { ...p.parent, label: p.label, createdBy: event.actorId ?? p.ownerId, createdAt: at },
      };
    }
    case "BranchMerged": {
      const active = activeVersion(state);
      const outputs = { ...active.outputs };
      const inputs = { ...active.inputs };
      for (const m of event.payload.modules) {
        const key = snapshotKeyOf(m.module);
        outputs[key] = m.output;
        inputs[key] = m.inputText;
      }
      return newChange(base, event, actor, event.payload.version, { outputs, inputs, generationId: null });
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
      return newChange(base, event, actor, event.payload.version, {
        outputs: { ...active.outputs, [key]: event.payload.output },
        inputs: { ...active.inputs, [key]: event.payload.inputText },
        generationId: event.payload.generation?.id ?? null,
      });
    }
    case "ModuleCleared": {
      const key = snapshotKeyOf(event.payload.module);
      const active = activeVersion(state);
      return newChange(base, event, actor, event.payload.version, {
        outputs: { ...active.outputs, [key]: null },
        inputs: { ...active.inputs, [key]: null },
        generationId: null,
      });
    }
    case "VersionRestored": {
      const restored = state.versions.get(event.payload.restoredNumber);
      if (!restored) throw new Error(`story ${state.id}: version ${event.payload.restoredNumber} is not in the state`);
      return newChange(base, event, actor, event.payload.version, { outputs: restored.outputs, inputs: restored.inputs, generationId: null });
    }
    case "Undone": {
      const moved = moveTo(base, event.payload.to, at, actor);
      return {
        ...moved,
        undoStacks: withoutTop(state.undoStacks, actor, event.payload.from),
        redoStacks: pushed(state.redoStacks, actor, event.payload.from),
      };
    }
    case "Redone": {
      const moved = moveTo(base, event.payload.to, at, actor);
      return {
        ...moved,
        undoStacks: pushed(state.undoStacks, actor, event.payload.to),
        redoStacks: withoutTop(state.redoStacks, actor, event.payload.to),
      };
    }
    case "ChangeReverted": {
      const { change, parent, touched } = changeOf(state, event.payload.change);
      const made = addVersion(base, event, actor, event.payload.version, withModules(activeVersion(state), parent, touched), parent.writtenIn);
      return {
        ...made,
        undoStacks: withoutTop(state.undoStacks, actor, change.number),
        redoStacks: pushed(state.redoStacks, actor, change.number),
      };
    }
    case "ChangeReapplied": {
      const { change, touched } = changeOf(state, event.payload.change);
      const made = addVersion(base, event, actor, event.payload.version, withModules(activeVersion(state), change, touched), change.writtenIn);
      return {
        ...made,
        undoStacks: pushed(state.undoStacks, actor, event.payload.version.number),
        redoStacks: withoutTop(state.redoStacks, actor, change.number),
      };
    }
    case "VersionLabeled": {
      const labels = new Map(state.labels);
      if (event.payload.label === null) labels.delete(event.payload.number);
      else labels.set(event.payload.number, event.payload.label);
      return { ...base, labels };
    }
    // the trash hides the story and changes nothing in it: a restore gives it back as it was
    case "StoryTrashed":
      return { ...base, trashedAt: at };
    case "StoryRestoredFromTrash":
      return { ...base, trashedAt: null };
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

type VersionContent = { outputs: VersionOutputs; inputs: ModuleInputs; generationId: string | null };

/** A write, clear or restore: a new version on the actor's undo stack; the actor's redo stack is emptied. */
function newChange(state: StoryState, event: RecordedStoryEvent, actor: string, ref: VersionRef, content: VersionContent): StoryState {
  const made = addVersion(state, event, actor, ref, content);
  return { ...made, undoStacks: pushed(state.undoStacks, actor, ref.number), redoStacks: emptied(state.redoStacks, actor) };
}

/** `active`'s content with the `keys` modules as `source` holds them. */
function withModules(active: StoryVersionState, source: StoryVersionState, keys: readonly SnapshotKey[]): VersionContent {
  const outputs = { ...active.outputs };
  const inputs = { ...active.inputs };
  for (const key of keys) {
    outputs[key] = source.outputs[key];
    inputs[key] = source.inputs[key];
  }
  return { outputs, inputs, generationId: null };
}

/**
 * A content change: one new version, child of the active one, made active. Each module whose
 * content differs from the active version's was written by this version, or, when the content
 * comes back from another version (`from`: an undo or redo as a new version), by whichever
 * version wrote it there; the others keep who wrote them.
 */
function addVersion(
  state: StoryState,
  event: RecordedStoryEvent,
  actor: string,
  ref: VersionRef,
  content: VersionContent,
  from?: StoryVersionState["writtenIn"],
): StoryState {
  const active = activeVersion(state);
  const writtenIn = { ...active.writtenIn };
  for (const key of SNAPSHOT_KEYS) {
    if (active.inputs[key] !== content.inputs[key] || !sameOutput(active.outputs[key], content.outputs[key])) writtenIn[key] = from?.[key] ?? ref.number;
  }
  const version: StoryVersionState = {
    id: ref.id,
    number: ref.number,
    parentNumber: state.activeVersionNumber,
    outputs: content.outputs,
    inputs: content.inputs,
    eventSeq: event.seq,
    createdAt: event.createdAt,
    generationId: content.generationId,
    authorId: actor,
    writtenIn,
  };
  return moveTo({ ...state, versions: state.versions.append(version) }, version.number, event.createdAt, actor);
}

/** Makes `number` the active version; modules whose content differs are stamped `at`, by `actor`. */
function moveTo(state: StoryState, number: number, at: Date, actor: string): StoryState {
  const from = activeVersion(state);
  const to = state.versions.get(number);
  if (!to) throw new Error(`story ${state.id}: version ${number} is not in the state`);
  const changed = changedModules(from, to);
  if (changed.length === 0) return { ...state, activeVersionNumber: number };
  const moduleUpdatedAt = { ...state.moduleUpdatedAt };
  const moduleUpdatedBy = { ...state.moduleUpdatedBy };
  for (const key of changed) {
    moduleUpdatedAt[key] = at;
    moduleUpdatedBy[key] = actor;
  }
  return { ...state, activeVersionNumber: number, moduleUpdatedAt, moduleUpdatedBy };
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
