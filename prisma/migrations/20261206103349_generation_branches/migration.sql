-- AlterTable
ALTER TABLE "ai_generations" ADD COLUMN     "branch_id" UUID;
