// Versions' content, read whole from the story_version_snapshots view: story_versions keeps
// references only (src/domain/content.ts), PostgreSQL puts the content back together.
import { inStoryOrder, type ModuleInputs, type ModuleOutputs } from "../domain/catalogue.ts";
import type { DbClient } from "../database/types.ts";
import type { VersionContent } from "./versionDiff.ts";

type ContentRow = { id: string; full_snapshot: unknown; inputs: unknown };

/** The content of these versions, by id; `memberId`: only versions of stories that user is a member of, not in the trash. */
export async function readVersionContents(db: DbClient, ids: readonly string[], memberId: string | null = null): Promise<Map<string, VersionContent>> {
  if (ids.length === 0) return new Map();
  const rows = await db.$queryRaw<ContentRow[]>`
    SELECT v.id, v.full_snapshot, v.inputs
      FROM story_version_snapshots v
     WHERE v.id = ANY(${[...ids]}::uuid[])
       AND (${memberId}::uuid IS NULL
            OR EXISTS (SELECT 1 FROM collaborators c JOIN stories s ON s.id = c.story_id
                        WHERE c.story_id = v.story_id AND c.user_id = ${memberId}::uuid AND s.trashed_at IS NULL))`;
  return new Map(rows.map((row) => [row.id, versionContentOf(row)]));
}

function versionContentOf(row: ContentRow): VersionContent {
  return { outputs: inStoryOrder(row.full_snapshot) as ModuleOutputs, inputs: inStoryOrder(row.inputs) as ModuleInputs };
}
