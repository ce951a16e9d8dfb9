// Access tokens: HS256 JWTs signed with JWT_SECRET, or with a secret generated once and kept in DATA_DIR.
// A token says who and until when; whether it still counts (user there, not signed out) is asked of
// the database on every request (src/auth/sessions.ts), never answered from a cache here.
import fs from "node:fs";
import path from "node:path";
import { createSecretKey, randomBytes, randomUUID } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";

const ISSUER = "story-spark";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a well-signed token claims. */
export type TokenClaims = {
  readonly userId: string;
  /** `jti`: names this token, so that it alone can be signed out */
  readonly tokenId: string;
  /** `ver`: the user's token version when it was issued; signing out everywhere moves it on */
  readonly version: number;
  /** `exp`, in ms since the epoch */
  readonly expiresAt: number;
  /** `iat`, in ms since the epoch: how fresh the sign-in is (deleteAccount wants a recent one) */
  readonly issuedAt: number;
};

export type IssuedToken = { token: string; expiresAt: number };

export type TokenService = {
  issue(user: { id: string; tokenVersion: number }): Promise<IssuedToken>;
  /**
   * The claims of a token signed by us, unexpired, carrying `exp`, `iat`, `jti` and `ver`; null for
   * one that is missing any of these, malformed or forged. Says nothing of revocation.
   */
  verify(token: string): Promise<TokenClaims | null>;
};

/** Signatures already checked, until the token expires: every request carries one, and HMAC over WebCrypto is not free. */
const VERIFIED_CACHE_SIZE = 10_000;

export function createTokenService(options: { secret?: string | undefined; dataDir: string; ttl: string }): TokenService {
  const key = createSecretKey(Buffer.from(options.secret ?? localSecret(options.dataDir), "utf8"));
  // only what the signature proves is kept: revocation and deleted users are checked per request, not here
  const verified = new Map<string, TokenClaims>();
  const verify = async (token: string): Promise<TokenClaims | null> => {
    const known = verified.get(token);
    if (known && known.expiresAt > Date.now()) return known;
    verified.delete(token);
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: ISSUER,
        algorithms: ["HS256"],
        requiredClaims: ["sub", "exp", "iat", "jti"],
      });
      const { sub, jti, exp, ver, iat } = payload;
      if (typeof sub !== "string" || !UUID.test(sub) || typeof jti !== "string" || !UUID.test(jti)) return null;
      if (typeof exp !== "number" || typeof iat !== "number" || typeof ver !== "number" || !Number.isInteger(ver)) return null;
      const claims: TokenClaims = { userId: sub, tokenId: jti, version: ver, expiresAt: exp * 1000, issuedAt: iat * 1000 };
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
      verified.set(token, claims);
      return claims;
    } catch {
      return null;
    }
  };
  return {
    async issue(user) {
      const token = await new SignJWT({ ver: user.tokenVersion })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user.id)
        .setIssuer(ISSUER)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(options.ttl)
        .sign(key);
      const claims = await verify(token);
      if (!claims) throw new Error("a token just issued does not verify"); // e.g. a TOKEN_TTL of 0
      return { token, expiresAt: claims.expiresAt };
    },
    verify,
  };
}

function localSecret(dataDir: string): string {
  const file = path.join(dataDir, "jwt-secret");
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  try {
    fs.writeFileSync(file, secret, { flag: "wx", mode: 0o600 });
    return secret;
  } catch {
    return fs.readFileSync(file, "utf8").trim(); // another process wrote it first
  }
}
