// Writes a command's events and the read-table changes they make in one SQL statement
// (one round trip), inside the command's transaction.
import type { DbClient } from "../database/types.ts";
import { StorySparkError } from "../domain/errors.ts";
import type { RecordedStoryEvent } from "../domain/story.ts";
import type { ProjectionPlan } from "../projection/projectStory.ts";
import { insertModules, insertStories, insertVersions } from "../projection/rowInserts.ts";

export type EventRow = RecordedStoryEvent & { activeVersionNumber: number; idempotencyKey: string | null; requestHash: string | null };

// Data-modifying CTEs all see the same snapshot and run to completion; the story row is
// either inserted or updated, so exactly one of the two story CTEs touches a row.
const COMMIT_SQL = `
WITH doc AS (SELECT $1::jsonb AS d),
events AS (
  INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at,
                            active_version_number, idempotency_key, request_hash)
  SELECT x.id, x."storyId", x.seq, x.type, x."schemaVersion", x.payload, x."actorId", x."createdAt",
         x."activeVersionNumber", x."idempotencyKey", x."requestHash"
    FROM doc, jsonb_to_recordset(d->'events') AS x(id uuid, "storyId" uuid, seq int, type text, "schemaVersion" int,
         payload jsonb, "actorId" uuid, "createdAt" timestamptz, "activeVersionNumber" int, "idempotencyKey" text, "requestHash" text)
  RETURNING 1),
story_new AS (${insertStories(`CASE WHEN (d->>'storyIsNew')::boolean THEN jsonb_build_array(d->'story') ELSE '[]' END`)} RETURNING 1),
story_changed AS (
  UPDATE stories s SET title = x.title, logline = x.logline, genre = x.genre, updated_at = x."updatedAt",
         is_complete = x."isComplete", active_version_id = x."activeVersionId", active_version_number = x."activeVersionNumber",
         revision = x.revision, latest_version_number = x."latestVersionNumber", redo_version_numbers = x."redoVersionNumbers"
    FROM doc, jsonb_to_record(d->'story') AS x(id uuid, title text, logline text, genre text, "updatedAt" timestamptz,
         "isComplete" boolean, "activeVersionId" uuid, "activeVersionNumber" int, revision int, "latestVersionNumber" int,
         "redoVersionNumbers" int[])
   WHERE NOT (d->>'storyIsNew')::boolean AND s.id = x.id
  RETURNING 1),
modules_new AS (${insertModules(`CASE WHEN (d->>'storyIsNew')::boolean THEN d->'modules' ELSE '[]' END`)} RETURNING 1),
modules_changed AS (
  UPDATE story_modules m SET input_text = x."inputText", output_text = x."outputText", updated_at = x."updatedAt"
    FROM doc, jsonb_to_recordset(d->'modules') AS x(id uuid, "inputText" text, "outputText" jsonb, "updatedAt" timestamptz)
   WHERE NOT (d->>'storyIsNew')::boolean AND m.id = x.id
  RETURNING 1),
versions AS (${insertVersions("d->'versions'")} RETURNING 1),
labels AS (
  UPDATE story_versions v SET label = x.label
    FROM doc, jsonb_to_recordset(d->'labels') AS x("storyId" uuid, "versionNumber" int, label text)
   WHERE v.story_id = x."storyId" AND v.version_number = x."versionNumber"
  RETURNING 1)
SELECT (SELECT count(*) FROM events) AS events`;

export async function commitStoryChange(db: DbClient, events: readonly EventRow[], plan: ProjectionPlan): Promise<void> {
  const doc = JSON.stringify({ ...plan, events });
  try {
    await db.$executeRawUnsafe(COMMIT_SQL, doc);
  } catch (error) {
    // the unique (story_id, seq) index: someone appended without holding the story's lock
    if (String((error as { message?: string }).message).includes("story_events_story_id_seq_key")) {
      throw new StorySparkError("REVISION_CONFLICT", "the story changed meanwhile", {});
    }
    throw error;
  }
}
