-- AlterTable
ALTER TABLE "story_events" ADD COLUMN     "position" BIGSERIAL NOT NULL,
ADD COLUMN     "transaction_id" xid8 NOT NULL DEFAULT pg_current_xact_id();

-- AlterTable
ALTER TABLE "story_versions" ADD COLUMN     "label" TEXT;

-- CreateIndex
CREATE INDEX "story_events_transaction_id_position_idx" ON "story_events"("transaction_id", "position");

-- CreateIndex
CREATE UNIQUE INDEX "story_events_position_key" ON "story_events"("position");
