-- Supabase Auth users (AUTH_MODE=supabase or both): their row is made from their access token's
-- claims, so it may have no email (phone or anonymous sign-in) and has no password here.
-- AlterTable
ALTER TABLE "users" ADD COLUMN     "signed_out_at" TIMESTAMPTZ(3),
ADD COLUMN     "supabase_claims_at" TIMESTAMPTZ(3),
ALTER COLUMN "email" DROP NOT NULL,
ALTER COLUMN "password_hash" DROP NOT NULL;
