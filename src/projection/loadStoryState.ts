// Reads the part of a story's state a command needs from the read tables, locking the
// story row so that writers to one story take turns: one round trip, through the
// story_state_for_update function (its migration says why it locks first, reads after).
import { MODULES, type ModuleInputs, type ModuleOutputs, type SnapshotKey } from "../domain/catalogue.ts";
import { initialState, type StoryState, type StoryVersionState } from "../domain/story.ts";
import { VersionHistory } from "../domain/versionHistory.ts";
import type { DbClient } from "../database/types.ts";

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
  activeNumber: number;
  modules: { id: string; name: string; updatedAt: string }[];
  versions: {
    id: string;
    number: number;
    parentNumber: number | null;
    outputs: ModuleOutputs;
    inputs: ModuleInputs;
    eventSeq: number;
    createdAt: string;
    label: string | null;
    generationId: string | null;
  }[];
};

/**
 * The story with its active version, that version's parent, the version redo
 * would bring back and any `extraVersions`; null when there is no such story.
 */
export async function loadStoryStateForUpdate(
  db: DbClient,
  storyId: string,
  extraVersions: readonly number[] = [],
): Promise<StoryState | null> {
  const rows = await db.$queryRaw<{ state: StateDocument | null }[]>`
    SELECT story_state_for_update(${storyId}::uuid, ${[...extraVersions]}::int[]) AS state`;
  const doc = rows[0]?.state;
  if (!doc) return null;

  const moduleIds = {} as Record<SnapshotKey, string>;
  const moduleUpdatedAt = {} as Record<SnapshotKey, Date>;
  for (const m of MODULES) {
    const stored = doc.modules.find((r) => r.name === m.moduleName);
    if (!stored) throw new Error(`story ${storyId} has no ${m.moduleName} row`);
    moduleIds[m.snapshotKey] = stored.id;
    moduleUpdatedAt[m.snapshotKey] = new Date(stored.updatedAt);
  }
  const versions: StoryVersionState[] = doc.versions.map(({ label: _label, ...v }) => ({ ...v, createdAt: new Date(v.createdAt) }));
  const labels = new Map(doc.versions.flatMap((v) => (v.label === null ? [] : [[v.number, v.label] as const])));

  return {
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
    versions: VersionHistory.partial(versions, doc.latestVersionNumber),
    labels,
    moduleIds,
    moduleUpdatedAt,
  };
}
