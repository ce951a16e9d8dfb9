// Whose a bearer token is, if it still counts, under AUTH_MODE: one of our own tokens, a Supabase
// Auth access token, or (`both`) either. The only place a token is read, for every transport.
import { decodeJwt } from "jose";
import type { Database } from "../database/connect.ts";
import type { User } from "../generated/prisma/client.ts";
import type { AuthMode } from "./authMode.ts";
import type { TokenService } from "./tokens.ts";
import { userOfLiveToken, type TokenCheck } from "./sessions.ts";
import { createSupabaseTokens, type KeySetTimings, type SupabaseTokens } from "./supabaseTokens.ts";
import { createSupabaseUserRows, type SupabaseUserRows } from "./supabaseUsers.ts";

/** A Supabase project whose users are ours too. */
export type SupabaseAuth = {
  /** SUPABASE_URL */
  readonly url: string;
  readonly tokens: SupabaseTokens;
  readonly users: SupabaseUserRows;
};

export function createSupabaseAuth(options: {
  url: string;
  jwtSecret?: string | undefined;
  keySet?: Partial<KeySetTimings>;
  log?: (message: string, error?: unknown) => void;
}): SupabaseAuth {
  return { url: options.url, tokens: createSupabaseTokens(options), users: createSupabaseUserRows() };
}

export type AuthServices = {
  readonly db: Database;
  /** our own tokens */
  readonly tokens: TokenService;
  readonly authMode: AuthMode;
  /** set unless authMode is `local` */
  readonly supabase: SupabaseAuth | null;
};

/** A token that still counts, and its user's row. */
export type Authenticated = {
  readonly user: User;
  /** what signing out of this device revokes */
  readonly tokenId: string;
  /** when the token expires, in ms since the epoch */
  readonly expiresAt: number;
  /** until when signing out of this device must be remembered (a Supabase session outlives its tokens) */
  readonly revokedUntil: number;
  /** the token's `iat`, in ms since the epoch */
  readonly issuedAt: number;
};

/**
 * The token's user, when the token is one this server accepts and still counts; null otherwise.
 * Throws SERVICE_UNAVAILABLE when it can't be told (Supabase's keys out of reach, the database away).
 */
export async function authenticate(services: AuthServices, token: string): Promise<Authenticated | null> {
  const { db, supabase } = services;
  if (issuedBy(services, token) === "local") {
    const claims = await services.tokens.verify(token);
    if (!claims) return null;
    const user = await userOfLiveToken(db, { userId: claims.userId, tokenId: claims.tokenId, version: claims.version, signedInAt: null });
    return user && { user, tokenId: claims.tokenId, expiresAt: claims.expiresAt, revokedUntil: claims.expiresAt, issuedAt: claims.issuedAt };
  }
  if (!supabase) return null;
  const claims = await supabase.tokens.verify(token);
  if (!claims) return null;
  const check: TokenCheck = { userId: claims.userId, tokenId: claims.tokenId, version: null, signedInAt: claims.signedInAt };
  await supabase.users.keepInStep(db, claims);
  let user = await userOfLiveToken(db, check);
  if (user === null && !(await rowExists(db, claims.userId))) {
    // deleted here since this instance wrote it: the user is still Supabase's, and gets a new row, as on first use
    supabase.users.forget(claims.userId);
    await supabase.users.keepInStep(db, claims);
    user = await userOfLiveToken(db, check);
  }
  return user && { user, tokenId: claims.tokenId, expiresAt: claims.expiresAt, revokedUntil: claims.revokedUntil, issuedAt: claims.issuedAt };
}

/**
 * Which key a token is checked with. In `both` mode the unverified issuer says which; the
 * signature, checked next with that key alone, decides whether the token counts.
 */
function issuedBy(services: AuthServices, token: string): "local" | "supabase" {
  if (services.authMode !== "both" || !services.supabase) return services.authMode === "supabase" ? "supabase" : "local";
  try {
    return decodeJwt(token).iss === services.supabase.tokens.issuer ? "supabase" : "local";
  } catch {
    return "local"; // not a JWT: refused there
  }
}

async function rowExists(db: Database, userId: string): Promise<boolean> {
  return (await db.prisma.user.count({ where: { id: userId } })) > 0;
}
