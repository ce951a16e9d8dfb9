// Inserts many new stories' read rows in one statement: what rebuild writes, into the new
// tables it fills beside the live ones.
import type { DbClient } from "../database/types.ts";
import type { NewStoryPlan } from "./projectionPlan.ts";
import { CONTENT_COLUMNS, insertRows, MODULE_COLUMNS, STORY_COLUMNS, VERSION_COLUMNS } from "./tableColumns.ts";

/** The three read tables a bulk insert writes to: the live ones, or rebuild's new ones. */
export type ReadTableNames = {
  readonly stories: "stories" | "stories_rebuild";
  readonly modules: "story_modules" | "story_modules_rebuild";
  readonly versions: "story_versions" | "story_versions_rebuild";
};

export const LIVE_READ_TABLES: ReadTableNames = { stories: "stories", modules: "story_modules", versions: "story_versions" };

/** Plans of new stories, written together. */
export async function insertNewStories(db: DbClient, plans: readonly NewStoryPlan[], tables: ReadTableNames = LIVE_READ_TABLES): Promise<void> {
  if (plans.length === 0) return;
  await db.$executeRaw`
    WITH contents_in AS (${insertRows("story_contents", CONTENT_COLUMNS, plans.flatMap((p) => p.contents), { skipExisting: true })} RETURNING 1),
         stories_in AS (${insertRows(tables.stories, STORY_COLUMNS, plans.map((p) => p.story))} RETURNING 1),
         modules_in AS (${insertRows(tables.modules, MODULE_COLUMNS, plans.flatMap((p) => p.modules))} RETURNING 1)
    ${insertRows(tables.versions, VERSION_COLUMNS, plans.flatMap((p) => p.versions))}`;
}
