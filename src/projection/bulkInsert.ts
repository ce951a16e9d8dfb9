// Inserts many stories' read rows in one statement each batch: what rebuild writes.
import type { DbClient } from "../database/types.ts";
import type { ProjectionPlan } from "./projectStory.ts";

const BULK_SQL = `
WITH doc AS (SELECT $1::jsonb AS d),
stories_in AS (
  INSERT INTO stories (id, user_id, title, logline, genre, created_at, updated_at, is_complete, active_version_id,
                       active_version_number, revision, latest_version_number, redo_version_numbers)
  SELECT x.id, x."userId", x.title, x.logline, x.genre, x."createdAt", x."updatedAt", x."isComplete", x."activeVersionId",
         x."activeVersionNumber", x.revision, x."latestVersionNumber", x."redoVersionNumbers"
    FROM doc, jsonb_to_recordset(d->'stories') AS x(id uuid, "userId" uuid, title text, logline text, genre text,
         "createdAt" timestamptz, "updatedAt" timestamptz, "isComplete" boolean, "activeVersionId" uuid,
         "activeVersionNumber" int, revision int, "latestVersionNumber" int, "redoVersionNumbers" int[])
  RETURNING 1),
modules_in AS (
  INSERT INTO story_modules (id, story_id, module_name, input_text, output_text, module_order, created_at, updated_at)
  SELECT x.id, x."storyId", x."moduleName", x."inputText", x."outputText", x."moduleOrder", x."createdAt", x."updatedAt"
    FROM doc, jsonb_to_recordset(d->'modules') AS x(id uuid, "storyId" uuid, "moduleName" text, "inputText" text,
         "outputText" jsonb, "moduleOrder" int, "createdAt" timestamptz, "updatedAt" timestamptz)
  RETURNING 1)
INSERT INTO story_versions (id, story_id, version_number, full_snapshot, inputs, parent_version_id, event_seq,
                            created_at, label, generation_id)
SELECT x.id, x."storyId", x."versionNumber", x."fullSnapshot", x.inputs, x."parentVersionId", x."eventSeq",
       x."createdAt", x.label, x."generationId"
  FROM doc, jsonb_to_recordset(d->'versions') AS x(id uuid, "storyId" uuid, "versionNumber" int, "fullSnapshot" jsonb,
       inputs jsonb, "parentVersionId" uuid, "eventSeq" int, "createdAt" timestamptz, label text, "generationId" uuid)`;

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
