// Reads the part of a story's state a command needs from the read tables, after
// locking the story row so that writers to one story take turns.
import { MODULES, type ModuleInputs, type ModuleOutputs, type SnapshotKey } from "../domain/catalogue.ts";
import { initialState, type StoryState, type StoryVersionState } from "../domain/story.ts";
import { VersionHistory } from "../domain/versionHistory.ts";
import type { DbClient } from "../database/types.ts";

type StateRow = {
  id: string;
  user_id: string;
  title: string;
  logline: string | null;
  genre: string | null;
  is_complete: boolean;
  created_at: Date;
  updated_at: Date;
  revision: number;
  latest_version_number: number;
  redo_version_numbers: number[];
  active_number: number;
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
  // Lock first, read after: in READ COMMITTED the second statement's snapshot
  // includes everything the writer we waited for committed. (Locking inside the
  // reading statement would recheck its join against the older snapshot.)
  const locked = await db.$queryRaw<{ id: string }[]>`SELECT id FROM stories WHERE id = ${storyId}::uuid FOR UPDATE`;
  if (locked.length === 0) return null;
  const rows = await db.$queryRaw<StateRow[]>`
    SELECT s.id, s.user_id, s.title, s.logline, s.genre, s.is_complete, s.created_at, s.updated_at,
           s.revision, s.latest_version_number, s.redo_version_numbers,
           av.version_number AS active_number,
           (SELECT json_agg(json_build_object('id', m.id, 'name', m.module_name, 'updatedAt', m.updated_at))
              FROM story_modules m WHERE m.story_id = s.id) AS modules,
           (SELECT json_agg(json_build_object(
                     'id', v.id, 'number', v.version_number, 'parentNumber', pv.version_number,
                     'outputs', v.full_snapshot, 'inputs', v.inputs, 'eventSeq', v.event_seq, 'createdAt', v.created_at, 'label', v.label,
                     'generationId', v.generation_id))
              FROM story_versions v LEFT JOIN story_versions pv ON pv.id = v.parent_version_id
             WHERE v.story_id = s.id
               AND (v.id = av.id OR v.id = av.parent_version_id
                    OR v.version_number = s.redo_version_numbers[cardinality(s.redo_version_numbers)]
                    OR v.version_number = ANY(${[...extraVersions]}::int[]))) AS versions
      FROM stories s
      JOIN story_versions av ON av.id = s.active_version_id
     WHERE s.id = ${storyId}::uuid`;
  const row = rows[0];
  if (!row) return null;

  const moduleIds = {} as Record<SnapshotKey, string>;
  const moduleUpdatedAt = {} as Record<SnapshotKey, Date>;
  for (const m of MODULES) {
    const stored = row.modules.find((r) => r.name === m.moduleName);
    if (!stored) throw new Error(`story ${storyId} has no ${m.moduleName} row`);
    moduleIds[m.snapshotKey] = stored.id;
    moduleUpdatedAt[m.snapshotKey] = new Date(stored.updatedAt);
  }
  const versions: StoryVersionState[] = row.versions.map(({ label: _label, ...v }) => ({ ...v, createdAt: new Date(v.createdAt) }));
  const labels = new Map(row.versions.flatMap((v) => (v.label === null ? [] : [[v.number, v.label] as const])));

  return {
    ...initialState(storyId),
    exists: true,
    ownerId: row.user_id,
    title: row.title,
    logline: row.logline,
    genre: row.genre,
    isComplete: row.is_complete,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    revision: row.revision,
    activeVersionNumber: row.active_number,
    redo: row.redo_version_numbers,
    versions: VersionHistory.partial(versions, row.latest_version_number),
    labels,
    moduleIds,
    moduleUpdatedAt,
  };
}
