// The read tables' rows as a function of the story's state: what the projector
// writes, what rebuild inserts and what verify expects are the same images.
import { MODULES, SNAPSHOT_KEYS, type JsonObject, type SnapshotKey } from "../domain/catalogue.ts";
import { StoredOutput, contentHash, contentRows, outputRefs, type ContentRow, type OutputRefs } from "../domain/content.ts";
import { activeVersion, type MemberStacks, type StoryState, type StoryVersionState } from "../domain/story.ts";
import type { Invitation } from "../domain/membership.ts";
import { storedRuns, type StoredRuns } from "../domain/memberStacks.ts";

export type StoryRow = {
  id: string;
  userId: string;
  title: string;
  logline: string | null;
  genre: string | null;
  createdAt: Date;
  updatedAt: Date;
  isComplete: boolean;
  activeVersionId: string | null;
  activeVersionNumber: number;
  revision: number;
  latestVersionNumber: number;
  redoVersionNumbers: number[];
  /** each member's undo stack */
  undoStacks: MemberStackRow;
  /** each member's redo stack */
  redoStacks: MemberStackRow;
  /** when the story went to the trash; null when it is not there */
  trashedAt: Date | null;
};

/** user id → the member's stack as runs of version numbers, bottom first, each [first, last] */
export type MemberStackRow = { [userId: string]: StoredRuns };

export type StoryModuleRow = {
  id: string;
  storyId: string;
  moduleName: string;
  inputText: string | null;
  /** the output, when the state holds it as content */
  outputText: JsonObject | null;
  /** the output's references, when the state holds only those: the statement reads the content */
  outputRefs: OutputRefs | null;
  moduleOrder: number;
  createdAt: Date;
  updatedAt: Date;
  updatedBy: string;
};

export type StoryVersionRow = {
  id: string;
  storyId: string;
  versionNumber: number;
  outputRefs: { [K in SnapshotKey]: OutputRefs | null };
  inputRefs: { [K in SnapshotKey]: string | null };
  parentVersionId: string | null;
  eventSeq: number;
  createdAt: Date;
  label: string | null;
  generationId: string | null;
  authorId: string;
  writtenIn: { [K in SnapshotKey]: number };
};

/** A member of the story (collaborators): the owner too. */
export type CollaboratorRow = {
  storyId: string;
  userId: string;
  role: string;
  invitedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
};

/** An invitation the story made (story_invitations), whatever became of it. */
export type InvitationRow = {
  id: string;
  storyId: string;
  email: string;
  role: string;
  tokenHash: string;
  invitedBy: string;
  createdAt: Date;
  expiresAt: Date;
  status: string;
  respondedAt: Date | null;
  acceptedBy: string | null;
};

/** A branch's origin (story_branches), projected from its BranchCreated event. */
export type StoryBranchRow = {
  storyId: string;
  branchParentId: string;
  parentVersionNumber: number;
  branchLabel: string;
  createdBy: string;
  createdAt: Date;
};

/** The story's story_branches row: one for a branch, none for a story created as such. */
export function branchRows(state: StoryState): StoryBranchRow[] {
  const origin = state.branchOf;
  if (!state.exists || origin === null) return [];
  return [
    {
      storyId: state.id,
      branchParentId: origin.storyId,
      parentVersionNumber: origin.versionNumber,
      branchLabel: origin.label,
      createdBy: origin.createdBy,
      createdAt: origin.createdAt,
    },
  ];
}

export function collaboratorRow(state: StoryState, userId: string): CollaboratorRow {
  const role = state.members.get(userId);
  const record = state.memberRecords.get(userId);
  if (role === undefined || record === undefined) throw new Error(`story ${state.id}: ${userId} is not a member in the state`);
  return { storyId: state.id, userId, role, invitedBy: record.invitedBy, createdAt: record.since, updatedAt: record.updatedAt };
}

export function collaboratorRows(state: StoryState): CollaboratorRow[] {
  return [...state.members.keys()].map((userId) => collaboratorRow(state, userId));
}

export function invitationRow(state: StoryState, invitation: Invitation): InvitationRow {
  return { ...invitation, storyId: state.id };
}

export function invitationRows(state: StoryState): InvitationRow[] {
  return [...state.invitations.values()].map((invitation) => invitationRow(state, invitation));
}

export function storyRow(state: StoryState): StoryRow {
  return {
    id: state.id,
    userId: state.ownerId,
    title: state.title,
    logline: state.logline,
    genre: state.genre,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    isComplete: state.isComplete,
    activeVersionId: activeVersion(state).id,
    activeVersionNumber: state.activeVersionNumber,
    revision: state.revision,
    latestVersionNumber: state.versions.latestNumber,
    redoVersionNumbers: [...state.redo],
    undoStacks: stackRow(state.undoStacks),
    redoStacks: stackRow(state.redoStacks),
    trashedAt: state.trashedAt,
  };
}

function stackRow(stacks: MemberStacks): MemberStackRow {
  return Object.fromEntries([...stacks].map(([userId, run]) => [userId, storedRuns(run)]));
}

export function moduleRows(state: StoryState): StoryModuleRow[] {
  const active = activeVersion(state);
  return MODULES.map((m) => {
    const output = active.outputs[m.snapshotKey];
    return {
      id: state.moduleIds[m.snapshotKey],
      storyId: state.id,
      moduleName: m.moduleName,
      inputText: active.inputs[m.snapshotKey],
      outputText: output instanceof StoredOutput ? null : output,
      outputRefs: output instanceof StoredOutput ? output.refs : null,
      moduleOrder: m.order,
      createdAt: state.createdAt,
      updatedAt: state.moduleUpdatedAt[m.snapshotKey],
      updatedBy: state.moduleUpdatedBy[m.snapshotKey],
    };
  });
}

export function versionRow(state: StoryState, version: StoryVersionState): StoryVersionRow {
  const parent = version.parentNumber === null ? null : state.versions.get(version.parentNumber);
  if (version.parentNumber !== null && !parent) {
    throw new Error(`story ${state.id}: parent ${version.parentNumber} of version ${version.number} is not in the state`);
  }
  return {
    id: version.id,
    storyId: state.id,
    versionNumber: version.number,
    outputRefs: byModule((key) => {
      const output = version.outputs[key];
      return output === null ? null : outputRefs(output);
    }),
    inputRefs: byModule((key) => inputRef(version.inputs[key])),
    parentVersionId: parent?.id ?? null,
    eventSeq: version.eventSeq,
    createdAt: version.createdAt,
    label: state.labels.get(version.number) ?? null,
    generationId: version.generationId,
    authorId: version.authorId,
    writtenIn: { ...version.writtenIn },
  };
}

/** Versions in `after` that `before` did not have. */
export function newVersions(before: StoryState, after: StoryState): StoryVersionState[] {
  const added: StoryVersionState[] = [];
  for (let n = before.versions.latestNumber + 1; n <= after.versions.latestNumber; n++) {
    const v = after.versions.get(n);
    if (v) added.push(v);
  }
  return added;
}

function byModule<T>(value: (key: SnapshotKey) => T): { [K in SnapshotKey]: T } {
  return Object.fromEntries(SNAPSHOT_KEYS.map((key) => [key, value(key)])) as { [K in SnapshotKey]: T };
}

/** Input texts repeat from version to version: their hashes are remembered, up to a bound. */
const inputHashes = new Map<string, string>();
const INPUT_HASHES_KEPT = 10_000;

function inputRef(text: string | null): string | null {
  if (text === null) return null;
  let hash = inputHashes.get(text);
  if (hash === undefined) {
    if (inputHashes.size >= INPUT_HASHES_KEPT) inputHashes.clear();
    hash = contentHash(text);
    inputHashes.set(text, hash);
  }
  return hash;
}

/**
 * The content the new versions bring that their parents did not hold as the same value: module
 * outputs held as content, and input texts. Outputs held as references are stored already.
 */
export function newContent(state: StoryState, versions: readonly StoryVersionState[]): ContentRow[] {
  const rows = new Map<string, ContentRow>();
  for (const version of versions) {
    const parent = version.parentNumber === null ? undefined : state.versions.get(version.parentNumber);
    for (const key of SNAPSHOT_KEYS) {
      const output = version.outputs[key];
      if (output !== null && !(output instanceof StoredOutput) && output !== parent?.outputs[key]) {
        for (const row of contentRows(state.id, output)) rows.set(row.hash, row);
      }
      const input = version.inputs[key];
      if (input !== null && input !== parent?.inputs[key]) rows.set(inputRef(input)!, { storyId: state.id, hash: inputRef(input)!, value: input });
    }
  }
  return [...rows.values()];
}
