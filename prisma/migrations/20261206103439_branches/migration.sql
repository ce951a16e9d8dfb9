-- CreateTable
CREATE TABLE "story_branches" (
    "story_id" UUID NOT NULL,
    "branch_parent_id" UUID NOT NULL,
    "parent_version_number" INTEGER NOT NULL,
    "branch_label" TEXT NOT NULL,
    "created_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "story_branches_pkey" PRIMARY KEY ("story_id")
);

-- CreateIndex
CREATE INDEX "story_branches_branch_parent_id_idx" ON "story_branches"("branch_parent_id");

-- Supabase's Data API roles get nothing here (as for every table: see row_level_security)
ALTER TABLE "story_branches" ENABLE ROW LEVEL SECURITY;
