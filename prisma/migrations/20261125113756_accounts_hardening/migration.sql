-- AlterTable
ALTER TABLE "users" ADD COLUMN     "token_version" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "revoked_tokens" (
    "jti" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revoked_tokens_pkey" PRIMARY KEY ("jti")
);

-- CreateIndex
CREATE INDEX "revoked_tokens_user_id_idx" ON "revoked_tokens"("user_id");

-- CreateIndex
CREATE INDEX "revoked_tokens_expires_at_idx" ON "revoked_tokens"("expires_at");

-- AddForeignKey
ALTER TABLE "revoked_tokens" ADD CONSTRAINT "revoked_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Like every table of public (see 20261125113200_row_level_security): closed to Supabase's Data API roles.
ALTER TABLE "revoked_tokens" ENABLE ROW LEVEL SECURITY;

-- Emails as sign-up now stores them: NFKC, then lower case (fullwidth "ａlice@…" is "alice@…").
-- A row whose normalised email another row already has (or would get) keeps its own: the unique
-- index stands, and such a pair is for a person to sort out.
UPDATE "users" u SET "email" = lower(normalize(u."email", NFKC))
 WHERE u."email" IS DISTINCT FROM lower(normalize(u."email", NFKC))
   AND NOT EXISTS (SELECT 1 FROM "users" o
                    WHERE o."id" <> u."id" AND lower(normalize(o."email", NFKC)) = lower(normalize(u."email", NFKC)));
