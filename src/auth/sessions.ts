// Whether a signed token still counts, and signing out. A token counts while its user exists, its
// id (our `jti`, or a Supabase token's `session_id`) is not in revoked_tokens (signing out one
// device puts it there), and it is not from before the user signed out of every device: our
// tokens by their `ver` (the user's token_version, which that sign-out moves on), Supabase's by
// when their session signed in (they carry no `ver`; see SupabaseClaims.signedInAt).
// Asked of the database on every request, with no cache: a signed-out or deleted user is refused on
// the very next request, on every instance.
import type { Database } from "../database/connect.ts";
import type { User } from "../generated/prisma/client.ts";

/** What the database is asked about a well-signed token. */
export type TokenCheck = {
  readonly userId: string;
  /** what signing out of one device revoked */
  readonly tokenId: string;
  /** our token's `ver`: must be the user's token_version; null for a Supabase token */
  readonly version: number | null;
  /** a Supabase token's session sign-in time (ms): must be after the user's last sign-out of every device; null for ours */
  readonly signedInAt: number | null;
};

/**
 * The token's user, when the token still counts; null otherwise. One statement per request, which
 * also brings the user's row: the request's loaders are primed with it, so that loading the
 * viewer costs nothing more.
 */
export async function userOfLiveToken(db: Database, check: TokenCheck): Promise<User | null> {
  const rows = await db.prisma.$queryRaw<(UserRow & { revoked: boolean })[]>`
    SELECT u.id, u.email, u.username, u.password_hash, u.created_at, u.updated_at, u.token_version,
           u.signed_out_at, u.supabase_claims_at,
           EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = ${check.tokenId}::uuid) AS revoked
      FROM users u WHERE u.id = ${check.userId}::uuid`;
  const row = rows[0];
  if (!row || row.revoked) return null;
  if (check.version !== null && Number(row.token_version) !== check.version) return null;
  // whole seconds against milliseconds: a session signed in during the second of the sign-out is refused too
  if (check.signedInAt !== null && row.signed_out_at !== null && check.signedInAt <= row.signed_out_at.getTime()) return null;
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    tokenVersion: Number(row.token_version),
    signedOutAt: row.signed_out_at,
    supabaseClaimsAt: row.supabase_claims_at,
  } satisfies Required<User>;
}

type UserRow = {
  id: string;
  email: string | null;
  username: string;
  password_hash: string | null;
  created_at: Date;
  updated_at: Date;
  token_version: number;
  signed_out_at: Date | null;
  supabase_claims_at: Date | null;
};

/** What signing out of one device revokes, and how long that must be remembered. */
export type SignedInToken = {
  readonly userId: string;
  readonly tokenId: string;
  /** after this, the revocation says nothing any more: our token has expired; a Supabase session's may not have */
  readonly revokedUntil: number;
};

/** Signs out the token (this device), or every token of its user (allDevices). */
export async function signOut(db: Database, token: SignedInToken, allDevices: boolean): Promise<void> {
  if (allDevices) {
    await db.prisma.$transaction([
      db.prisma.user.update({ where: { id: token.userId }, data: { tokenVersion: { increment: 1 }, signedOutAt: new Date() } }),
      // the new version and the sign-out time refuse them all: their one-by-one entries are no longer needed
      db.prisma.revokedToken.deleteMany({ where: { userId: token.userId } }),
    ]);
    return;
  }
  await db.prisma.$transaction([
    db.prisma.revokedToken.createMany({
      data: [{ jti: token.tokenId, userId: token.userId, expiresAt: new Date(token.revokedUntil) }],
      skipDuplicates: true,
    }),
    // entries of expired tokens say nothing any more: each sign-out sweeps them
    db.prisma.revokedToken.deleteMany({ where: { expiresAt: { lt: new Date() } } }),
  ]);
}
