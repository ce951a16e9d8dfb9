// The users row of a Supabase Auth user: made on first use from their access token's claims (id =
// `sub`, email, username), and kept in step when those claims change. Written only when this
// instance has not yet written the same claims, never on every request.
import type { JWTPayload } from "jose";
import { Prisma } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import { textProblem } from "../domain/text.ts";
import { USERNAME_MAX, isEmail, normalizeEmail } from "./accounts.ts";
import type { SupabaseClaims } from "./supabaseTokens.ts";

/** What the row holds of a Supabase user. */
export type SupabaseProfile = {
  /** normalised as sign-up does; null when the token has none (phone, anonymous sign-in) or one we would not store */
  readonly email: string | null;
  /** `user_metadata.username`, else the email's local part, else `writer-` and the start of the id */
  readonly username: string;
};

export function profileOf(userId: string, payload: JWTPayload): SupabaseProfile {
  const claimed = typeof payload.email === "string" ? normalizeEmail(payload.email) : "";
  const email = claimed !== "" && isEmail(claimed) && textProblem(claimed) === null ? claimed : null;
  const metadata = payload.user_metadata;
  const chosen = typeof metadata === "object" && metadata !== null ? (metadata as { username?: unknown }).username : undefined;
  const username =
    (typeof chosen === "string" ? usernameFrom(chosen) : null) ??
    (email ? usernameFrom(email.slice(0, email.lastIndexOf("@"))) : null) ??
    `writer-${userId.slice(0, 8)}`;
  return { email, username };
}

/**
 * `user_metadata` is the user's to edit (supabase.auth.updateUser): what we could not store is
 * dropped rather than refused, trimmed like a sign-up's username, cut to its limit.
 */
function usernameFrom(raw: string): string | null {
  // NUL and lone surrogates can't be stored, control characters have no place in a name
  const cleaned = (raw as string & { toWellFormed(): string }).toWellFormed().replace(/[\p{Cc}\uFFFD]/gu, "").trim();
  let name = cleaned;
  if (name.length > USERNAME_MAX) name = name.slice(0, /[\uD800-\uDBFF]/.test(name[USERNAME_MAX - 1] ?? "") ? USERNAME_MAX - 1 : USERNAME_MAX).trimEnd();
  return name === "" ? null : name;
}

export type SupabaseUserRows = {
  /**
   * Makes the user's row, or brings it in step with the token's claims. Nothing is written when this
   * instance already wrote the same claims, or claims from a newer token; the database also keeps
   * newer claims from being overwritten by an older token's (a device that has not refreshed yet).
   */
  keepInStep(db: Database, claims: SupabaseClaims): Promise<void>;
  /** Writes again at the next token: the row was found missing. */
  forget(userId: string): void;
};

/** Users whose claims this instance remembers having written; past it, the least recently written are forgotten. */
const REMEMBERED_USERS = 10_000;

export function createSupabaseUserRows(): SupabaseUserRows {
  const written = new Map<string, { profile: string; issuedAt: number }>();
  return {
    async keepInStep(db, claims) {
      const profile = JSON.stringify([claims.profile.email, claims.profile.username]);
      const last = written.get(claims.userId);
      if (last && (last.profile === profile || claims.issuedAt < last.issuedAt)) return;
      try {
        await writeProfile(db, claims);
      } catch (error) {
        // a sign-up here took the email between our look and our write: looked at again, it is held
        if (!isUniqueViolation(error)) throw error;
        await writeProfile(db, claims);
      }
      written.delete(claims.userId);
      if (written.size >= REMEMBERED_USERS) written.delete(written.keys().next().value!);
      written.set(claims.userId, { profile, issuedAt: claims.issuedAt });
    },
    forget(userId) {
      written.delete(userId);
    },
  };
}

/**
 * The row as the claims say, unless it holds claims from a newer token. An email is one account's:
 * another Supabase user's row that holds it from older claims gives it up (Supabase moved it since:
 * that row is brought in step at its user's next request); an account of ours that holds it keeps
 * it, and this row goes without one.
 */
async function writeProfile(db: Database, claims: SupabaseClaims): Promise<void> {
  const { userId, profile } = claims;
  const issuedAt = new Date(claims.issuedAt);
  await db.prisma.$transaction(async (tx) => {
    if (profile.email !== null) {
      // one writer per email at a time, so that looking for its holder and taking it can't interleave
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`supabase-email:${profile.email}`}))::text AS locked`;
      await tx.$executeRaw`
        UPDATE users SET email = NULL, updated_at = now()
         WHERE email = ${profile.email} AND id <> ${userId}::uuid AND password_hash IS NULL
           AND supabase_claims_at IS NOT NULL AND supabase_claims_at < ${issuedAt}::timestamptz`;
    }
    await tx.$executeRaw`
      INSERT INTO users AS u (id, email, username, password_hash, supabase_claims_at)
      VALUES (${userId}::uuid,
              (SELECT ${profile.email}::text WHERE NOT EXISTS (SELECT 1 FROM users o WHERE o.email = ${profile.email}::text AND o.id <> ${userId}::uuid)),
              ${profile.username}, NULL, ${issuedAt}::timestamptz)
      ON CONFLICT (id) DO UPDATE
         SET email = EXCLUDED.email, username = EXCLUDED.username, supabase_claims_at = EXCLUDED.supabase_claims_at,
             updated_at = CASE WHEN (u.email, u.username) IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.username) THEN now() ELSE u.updated_at END
       WHERE u.supabase_claims_at IS NULL OR u.supabase_claims_at <= EXCLUDED.supabase_claims_at`;
  });
}

function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  return error.code === "P2002" || (error.code === "P2010" && JSON.stringify(error.meta ?? {}).includes("23505"));
}
