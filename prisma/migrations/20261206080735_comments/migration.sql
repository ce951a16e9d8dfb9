-- Comments (issue 13): a stream of their own per story, and its read table. No foreign key to
-- stories (rebuild swaps that table): deleting a story deletes both explicitly, as for story_events.
-- CreateTable
CREATE TABLE "story_comment_events" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "schema_version" INTEGER NOT NULL,
    "payload" JSONB NOT NULL,
    "actor_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "idempotency_key" TEXT,
    "request_hash" TEXT,

    CONSTRAINT "story_comment_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "story_comments" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "parent_id" UUID,
    "author_id" UUID NOT NULL,
    "module_name" TEXT,
    "field_path" TEXT,
    "range_start" INTEGER,
    "range_end" INTEGER,
    "version_number" INTEGER NOT NULL,
    "body" TEXT NOT NULL,
    "resolved_at" TIMESTAMPTZ(3),
    "resolved_by" UUID,
    "edited_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "event_seq" INTEGER NOT NULL,

    CONSTRAINT "story_comments_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "story_comment_events_story_id_seq_key" ON "story_comment_events"("story_id", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "story_comment_events_story_id_idempotency_key_key" ON "story_comment_events"("story_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "story_comments_story_id_created_at_id_idx" ON "story_comments"("story_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "story_comments_parent_id_created_at_id_idx" ON "story_comments"("parent_id", "created_at", "id");

-- Closed to Supabase's Data API like every other table (20261125113200_row_level_security).
ALTER TABLE "story_comment_events" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "story_comments" ENABLE ROW LEVEL SECURITY;
