// Inserts many stories' read rows in one statement each batch: what rebuild writes.
import type { DbClient } from "../database/types.ts";
import type { ProjectionPlan } from "./projectStory.ts";
import { insertModules, insertStories, insertVersions } from "./rowInserts.ts";

const BULK_SQL = `
WITH doc AS (SELECT $1::jsonb AS d),
stories_in AS (${insertStories("d->'stories'")} RETURNING 1),
modules_in AS (${insertModules("d->'modules'")} RETURNING 1)
${insertVersions("d->'versions'")}`;

/** Plans of new stories (from the empty state), written together. */
export async function insertNewStories(db: DbClient, plans: readonly ProjectionPlan[]): Promise<void> {
  if (plans.length === 0) return;
  const doc = {
    stories: plans.flatMap((p) => (p.story ? [p.story] : [])),
    modules: plans.flatMap((p) => p.modules),
    versions: plans.flatMap((p) => p.versions),
  };
  await db.$executeRawUnsafe(BULK_SQL, JSON.stringify(doc));
}
