-- AlterTable
ALTER TABLE "story_versions" ADD COLUMN     "generation_id" UUID;

-- CreateTable
CREATE TABLE "ai_generations" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "module_name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "prompt_version" TEXT NOT NULL,
    "messages" JSONB NOT NULL,
    "input_text" TEXT NOT NULL,
    "context_version_number" INTEGER NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "cost_usd" DECIMAL(14,8),
    "duration_ms" INTEGER,
    "finish_reason" TEXT,
    "error_code" TEXT,
    "version_number" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "ai_generations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "module_usage_logs" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "module_name" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "duration_ms" INTEGER NOT NULL,
    "generation_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "module_usage_logs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ai_cost_tracking" (
    "id" UUID NOT NULL,
    "generation_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "model" TEXT NOT NULL,
    "prompt_tokens" INTEGER NOT NULL,
    "completion_tokens" INTEGER NOT NULL,
    "cost_usd" DECIMAL(14,8),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ai_cost_tracking_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "error_logs" (
    "id" UUID NOT NULL,
    "user_id" UUID,
    "story_id" UUID,
    "generation_id" UUID,
    "source" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "details" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "error_logs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ai_generations_user_id_status_idx" ON "ai_generations"("user_id", "status");

-- CreateIndex
CREATE INDEX "ai_generations_story_id_idx" ON "ai_generations"("story_id");

-- CreateIndex
CREATE INDEX "module_usage_logs_user_id_created_at_idx" ON "module_usage_logs"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "module_usage_logs_story_id_idx" ON "module_usage_logs"("story_id");

-- CreateIndex
CREATE INDEX "ai_cost_tracking_user_id_created_at_idx" ON "ai_cost_tracking"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "ai_cost_tracking_story_id_idx" ON "ai_cost_tracking"("story_id");

-- CreateIndex
CREATE INDEX "error_logs_created_at_idx" ON "error_logs"("created_at");

-- CreateIndex
CREATE INDEX "error_logs_generation_id_idx" ON "error_logs"("generation_id");
