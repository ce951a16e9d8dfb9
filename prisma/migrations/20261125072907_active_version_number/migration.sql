-- AlterTable
ALTER TABLE "stories" ADD COLUMN     "active_version_number" INTEGER NOT NULL DEFAULT 1;

-- Backfill: the number of each story's active version.
UPDATE "stories" s SET "active_version_number" = v."version_number"
  FROM "story_versions" v WHERE v."id" = s."active_version_id";
