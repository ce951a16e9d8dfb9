// Reads the part of a story's state a command needs from the read tables, in one round trip
// through the story_command_state function: the versions it needs with their outputs as
// references (no module content comes to the server), and the event an idempotency key names.
import { MODULES, type ModuleInputs, type SnapshotKey } from "../domain/catalogue.ts";
import { storedOutputs, type OutputRefs } from "../domain/content.ts";
import { initialState, type StoryState, type StoryVersionState } from "../domain/story.ts";
import { VersionHistory } from "../domain/versionHistory.ts";
import type { Role } from "../domain/roles.ts";
import type { Invitation, InvitationStatus, MemberRecord, MemberRole } from "../domain/membership.ts";
import { fromStoredRuns, type MemberStacks, type StoredRuns } from "../domain/memberStacks.ts";
import type { DbClient } from "../database/types.ts";
import { toStoredEvents, type EventRow, type StoredEvent } from "../eventstore/eventStore.ts";

type StateDocument = {
  id: string;
  userId: string;
  title: string;
  logline: string | null;
  genre: string | null;
  isComplete: boolean;
  createdAt: string;
  updatedAt: string;
  revision: number;
  latestVersionNumber: number;
  redoVersionNumbers: number[];
  undoStacks: { [userId: string]: StoredRuns };
  redoStacks: { [userId: string]: StoredRuns };
  activeNumber: number;
  trashedAt: string | null;
  modules: { id: string; name: string; updatedAt: string; updatedBy: string }[];
  versions: {
    id: string;
    number: number;
    parentNumber: number | null;
    outputRefs: { [K in SnapshotKey]: OutputRefs | null };
    inputs: ModuleInputs;
    eventSeq: number;
    createdAt: string;
    label: string | null;
    generationId: string | null;
    authorId: string;
    writtenIn: { [K in SnapshotKey]: number };
  }[];
  members: { userId: string; role: Role; invitedBy: string | null; createdAt: string; updatedAt: string }[];
  invitations: {
    id: string;
    email: string;
    role: MemberRole;
    tokenHash: string;
    invitedBy: string;
    createdAt: string;
    expiresAt: string;
    status: InvitationStatus;
    respondedAt: string | null;
    acceptedBy: string | null;
  }[];
  earlier: (Omit<EventRow, "storyId" | "createdAt"> & { createdAt: string; requestHash: string | null }) | null;
};

function memberStacks(stored: { [userId: string]: StoredRuns }): MemberStacks {
  return new Map(Object.entries(stored).flatMap(([userId, runs]) => {
    const run = fromStoredRuns(runs);
    return run ? [[userId, run] as const] : [];
  }));
}

/** A command's state, and what an earlier request with its idempotency key appended. */
export type CommandState = { state: StoryState; earlier: { event: StoredEvent; requestHash: string | null } | null };

/**
 * The story with its active version, that version's parent, the version redo would bring back, the
 * top of each member's undo and redo stack with its parent, and any `extraVersions`; null when there is no such story. `lock` takes the story's row lock first,
 * inside the caller's transaction.
 */
export async function loadCommandState(
  db: DbClient,
  storyId: string,
  options: { extraVersions?: readonly number[]; idempotencyKey?: string | null; lock?: boolean } = {},
): Promise<CommandState | null> {
  const rows = await db.$queryRaw<{ state: StateDocument | null }[]>`
    SELECT story_command_state(${storyId}::uuid, ${[...(options.extraVersions ?? [])]}::int[], ${options.idempotencyKey ?? null}::text, ${options.lock ?? false}) AS state`;
  const doc = rows[0]?.state;
  if (!doc) return null;

  const moduleIds = {} as Record<SnapshotKey, string>;
  const moduleUpdatedAt = {} as Record<SnapshotKey, Date>;
  const moduleUpdatedBy = {} as Record<SnapshotKey, string>;
  for (const m of MODULES) {
    const stored = doc.modules.find((r) => r.name === m.moduleName);
    if (!stored) throw new Error(`story ${storyId} has no ${m.moduleName} row`);
    moduleIds[m.snapshotKey] = stored.id;
    moduleUpdatedAt[m.snapshotKey] = new Date(stored.updatedAt);
    moduleUpdatedBy[m.snapshotKey] = stored.updatedBy;
  }
  const versions: StoryVersionState[] = doc.versions.map(({ label: _label, outputRefs, ...v }) => ({
    ...v,
    outputs: storedOutputs(outputRefs),
    createdAt: new Date(v.createdAt),
  }));
  const labels = new Map(doc.versions.flatMap((v) => (v.label === null ? [] : [[v.number, v.label] as const])));

  const members = new Map(doc.members.map((m) => [m.userId, m.role]));
  const memberRecords = new Map<string, MemberRecord>(
    doc.members.map((m) => [m.userId, { invitedBy: m.invitedBy, since: new Date(m.createdAt), updatedAt: new Date(m.updatedAt) }]),
  );
  const invitations = new Map<string, Invitation>(
    doc.invitations.map((i) => [
      i.id,
      { ...i, createdAt: new Date(i.createdAt), expiresAt: new Date(i.expiresAt), respondedAt: i.respondedAt === null ? null : new Date(i.respondedAt) },
    ]),
  );
  const state: StoryState = {
    ...initialState(storyId),
    exists: true,
    ownerId: doc.userId,
    title: doc.title,
    logline: doc.logline,
    genre: doc.genre,
    isComplete: doc.isComplete,
    createdAt: new Date(doc.createdAt),
    updatedAt: new Date(doc.updatedAt),
    revision: doc.revision,
    activeVersionNumber: doc.activeNumber,
    redo: doc.redoVersionNumbers,
    undoStacks: memberStacks(doc.undoStacks),
    redoStacks: memberStacks(doc.redoStacks),
    versions: VersionHistory.partial(versions, doc.latestVersionNumber),
    labels,
    moduleIds,
    moduleUpdatedAt,
    members,
    memberRecords,
    invitations,
    moduleUpdatedBy,
    trashedAt: doc.trashedAt === null ? null : new Date(doc.trashedAt),
  };
  if (!doc.earlier) return { state, earlier: null };
  const { requestHash, createdAt, ...row } = doc.earlier;
  const [event] = await toStoredEvents(db, [{ ...row, storyId, createdAt: new Date(createdAt) }]);
  return { state, earlier: { event: event!, requestHash } };
}
