// Whether a signed token still counts, and signing out. A token counts while its user exists, its
// `ver` is the user's token_version (signing out everywhere moves that on) and its `jti` is not in
// revoked_tokens (signing out one device puts it there until the token would have expired anyway).
// Asked of the database on every request, with no cache: a signed-out or deleted user is refused on
// the very next request, on every instance.
import type { Database } from "../database/connect.ts";
import type { User } from "../generated/prisma/client.ts";
import type { TokenClaims } from "./tokens.ts";

/**
 * The token's user, when the token still counts; null otherwise. One statement per request, which
 * also brings the user's row: the request's loaders are primed with it, so that loading the
 * viewer costs nothing more.
 */
export async function userOfLiveToken(db: Database, claims: TokenClaims): Promise<User | null> {
  const rows = await db.prisma.$queryRaw<(UserRow & { revoked: boolean })[]>`
    SELECT u.id, u.email, u.username, u.password_hash, u.created_at, u.updated_at, u.token_version,
           EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = ${claims.tokenId}::uuid) AS revoked
      FROM users u WHERE u.id = ${claims.userId}::uuid`;
  const row = rows[0];
  if (!row || row.revoked || Number(row.token_version) !== claims.version) return null;
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    tokenVersion: Number(row.token_version),
  } satisfies Required<User>;
}

type UserRow = {
  id: string;
  email: string;
  username: string;
  password_hash: string;
  created_at: Date;
  updated_at: Date;
  token_version: number;
};

/** Signs out the token (this device), or every token of its user (allDevices). */
export async function signOut(db: Database, claims: Pick<TokenClaims, "userId" | "tokenId" | "expiresAt">, allDevices: boolean): Promise<void> {
  if (allDevices) {
    await db.prisma.$transaction([
      db.prisma.user.update({ where: { id: claims.userId }, data: { tokenVersion: { increment: 1 } } }),
      // the new version refuses them all: their one-by-one entries are no longer needed
      db.prisma.revokedToken.deleteMany({ where: { userId: claims.userId } }),
    ]);
    return;
  }
  await db.prisma.$transaction([
    db.prisma.revokedToken.createMany({
      data: [{ jti: claims.tokenId, userId: claims.userId, expiresAt: new Date(claims.expiresAt) }],
      skipDuplicates: true,
    }),
    // entries of expired tokens say nothing any more: each sign-out sweeps them
    db.prisma.revokedToken.deleteMany({ where: { expiresAt: { lt: new Date() } } }),
  ]);
}
