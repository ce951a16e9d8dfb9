// Access tokens: HS256 JWTs signed with JWT_SECRET, or with a secret generated once and kept in DATA_DIR.
import fs from "node:fs";
import path from "node:path";
import { createSecretKey, randomBytes } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";

const ISSUER = "story-spark";

export type TokenService = {
  issue(userId: string): Promise<string>;
  /** the user id, or null for a token that is missing, malformed, expired or forged */
  verify(token: string): Promise<string | null>;
};

/** Tokens already verified, until they expire: every request carries one, and HMAC over WebCrypto is not free. */
const VERIFIED_CACHE_SIZE = 10_000;

export function createTokenService(options: { secret?: string | undefined; dataDir: string; ttl: string }): TokenService {
  const key = createSecretKey(Buffer.from(options.secret ?? localSecret(options.dataDir), "utf8"));
  const verified = new Map<string, { userId: string; expiresAt: number }>();
  return {
    issue: (userId) =>
      new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuer(ISSUER).setIssuedAt().setExpirationTime(options.ttl).sign(key),
    async verify(token) {
      const known = verified.get(token);
      if (known && known.expiresAt > Date.now()) return known.userId;
      verified.delete(token);
      try {
        const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ["HS256"] });
        if (typeof payload.sub !== "string") return null;
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
        verified.set(token, { userId: payload.sub, expiresAt: (payload.exp ?? 0) * 1000 });
        return payload.sub;
      } catch {
        return null;
      }
    },
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
