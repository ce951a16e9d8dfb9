// Inserts many stories' read rows in one statement each batch: what rebuild writes.
import type { DbClient } from "../database/types.ts";
import type { ProjectionPlan } from "./projectStory.ts";
import { insertModules, insertStories, insertVersions } from "./rowInserts.ts";

/** The names of the three read tables a bulk insert writes to. */
export type ReadTableNames = { readonly stories: string; readonly modules: string; readonly versions: string };

export const LIVE_READ_TABLES: ReadTableNames = { stories: "stories", modules: "story_modules", versions: "story_versions" };

const bulkSql = (tables: ReadTableNames) => `
WITH doc AS (SELECT $1::jsonb AS d),
stories_in AS (${insertStories("d->'stories'", tables.stories)} RETURNING 1),
modules_in AS (${insertModules("d->'modules'", tables.modules)} RETURNING 1)
${insertVersions("d->'versions'", tables.versions)}`;

/** Plans of new stories (from the empty state), written together. */
export async function insertNewStories(db: DbClient, plans: readonly ProjectionPlan[], tables: ReadTableNames = LIVE_READ_TABLES): Promise<void> {
  if (plans.length === 0) return;
  const doc = {
    stories: plans.flatMap((p) => (p.story ? [p.story] : [])),
    modules: plans.flatMap((p) => p.modules),
    versions: plans.flatMap((p) => p.versions),
  };
  await db.$executeRawUnsafe(bulkSql(tables), JSON.stringify(doc));
}
