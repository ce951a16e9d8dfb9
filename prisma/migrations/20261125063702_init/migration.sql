-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stories" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "logline" TEXT,
    "genre" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "is_complete" BOOLEAN NOT NULL DEFAULT false,
    "active_version_id" UUID,
    "revision" INTEGER NOT NULL,
    "latest_version_number" INTEGER NOT NULL,
    "redo_version_numbers" INTEGER[],

    CONSTRAINT "stories_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "story_modules" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "module_name" TEXT NOT NULL,
    "input_text" TEXT,
    "output_text" JSONB,
    "module_order" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "story_modules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "story_versions" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "version_number" INTEGER NOT NULL,
    "full_snapshot" JSONB NOT NULL,
    "inputs" JSONB NOT NULL,
    "parent_version_id" UUID,
    "event_seq" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "story_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metadata" (
    "id" UUID NOT NULL,
    "parent_type" TEXT NOT NULL,
    "parent_id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "metadata_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "story_events" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "schema_version" INTEGER NOT NULL,
    "payload" JSONB NOT NULL,
    "actor_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "active_version_number" INTEGER NOT NULL,
    "idempotency_key" TEXT,
    "request_hash" TEXT,

    CONSTRAINT "story_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE INDEX "stories_user_id_created_at_id_idx" ON "stories"("user_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "story_modules_story_id_module_name_key" ON "story_modules"("story_id", "module_name");

-- CreateIndex
CREATE UNIQUE INDEX "story_versions_story_id_version_number_key" ON "story_versions"("story_id", "version_number");

-- CreateIndex
CREATE INDEX "metadata_story_id_idx" ON "metadata"("story_id");

-- CreateIndex
CREATE UNIQUE INDEX "metadata_parent_type_parent_id_key_key" ON "metadata"("parent_type", "parent_id", "key");

-- CreateIndex
CREATE UNIQUE INDEX "story_events_story_id_seq_key" ON "story_events"("story_id", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "story_events_story_id_idempotency_key_key" ON "story_events"("story_id", "idempotency_key");

-- AddForeignKey
ALTER TABLE "stories" ADD CONSTRAINT "stories_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "story_modules" ADD CONSTRAINT "story_modules_story_id_fkey" FOREIGN KEY ("story_id") REFERENCES "stories"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "story_versions" ADD CONSTRAINT "story_versions_story_id_fkey" FOREIGN KEY ("story_id") REFERENCES "stories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
