// Supabase Auth access tokens: checked against the project's signing keys (its JWKS, ES256 or RS256,
// fetched and cached by jose's remote key set) or, for a project on the legacy secret, against
// SUPABASE_JWT_SECRET (HS256). Says whose a token is and what it claims; never whether it was
// signed out here (src/auth/sessions.ts asks the database that).
import { createHash, createSecretKey, type KeyObject } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import { StorySparkError } from "../domain/errors.ts";
import { profileOf, type SupabaseProfile } from "./supabaseUsers.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** what Supabase signs users' tokens with: asymmetric keys from the JWKS, or the legacy shared secret */
const KEY_SET_ALGORITHMS = ["ES256", "RS256"];
const SECRET_ALGORITHMS = ["HS256"];
/** A signed-in user's tokens say so; `anon` and `service_role` keys are no user. */
const USER_ROLE = "authenticated";
/**
 * Signing out of one device revokes the token's session, whose refreshed tokens keep its id: the
 * revocation is kept this long (the session itself ends only when it is signed out at Supabase).
 */
const SESSION_REVOKED_FOR_MS = 365 * 24 * 3600 * 1000;

/** What a well-signed Supabase access token says. */
export type SupabaseClaims = {
  /** `sub`: the id of the user in auth.users, and of their row in users */
  readonly userId: string;
  /** what signing out of this device revokes: the `session_id`, or when there is none a uuid of the token's hash */
  readonly tokenId: string;
  /** until when that revocation must be kept: a session outlives its access tokens */
  readonly revokedUntil: number;
  /** `iat`, in ms since the epoch */
  readonly issuedAt: number;
  /** `exp`, in ms since the epoch */
  readonly expiresAt: number;
  /**
   * When the session signed in (ms): the latest `amr` timestamp, which a refreshed token keeps, else
   * `iat`. Signing out of every device refuses sessions signed in before it.
   */
  readonly signedInAt: number;
  /** the users row the claims make */
  readonly profile: SupabaseProfile;
};

export type SupabaseTokens = {
  /** `${SUPABASE_URL}/auth/v1`: every token must name it as `iss` */
  readonly issuer: string;
  /**
   * The claims of a token the project signed for a user (`aud` and `role` `authenticated`), unexpired;
   * null for any other token. Throws SERVICE_UNAVAILABLE when the project's keys can't be fetched:
   * the token may well be good, and the client should retry rather than sign in again.
   */
  verify(token: string): Promise<SupabaseClaims | null>;
};

export type KeySetTimings = {
  /** how long fetched keys are used before they are fetched again (behind the requests that use them) */
  cacheMaxAgeMs: number;
  /** after a fetch, how long a token with an unknown key id is refused before the keys are fetched again */
  cooldownMs: number;
  /** how long a fetch may take */
  timeoutMs: number;
  /** after a failed fetch, how long before another is tried; requests use the keys at hand meanwhile */
  retryMs: number;
};

export const DEFAULT_KEY_SET_TIMINGS: KeySetTimings = { cacheMaxAgeMs: 10 * 60_000, cooldownMs: 30_000, timeoutMs: 5_000, retryMs: 5_000 };

/** A token's signature is checked again after this long, so that a key removed from the JWKS stops counting. */
const VERIFIED_FOR_MS = 60_000;
const VERIFIED_CACHE_SIZE = 10_000;

export function createSupabaseTokens(options: {
  url: string;
  jwtSecret?: string | undefined;
  keySet?: Partial<KeySetTimings>;
  /** told once when the keys can't be fetched, and once when they can again */
  log?: (message: string, error?: unknown) => void;
}): SupabaseTokens {
  const issuer = `${options.url}/auth/v1`;
  const timings = { ...DEFAULT_KEY_SET_TIMINGS, ...options.keySet };
  const keys = projectKeys(new URL(`${issuer}/.well-known/jwks.json`), timings, options.log ?? (() => {}));
  const secret: KeyObject | null = options.jwtSecret ? createSecretKey(Buffer.from(options.jwtSecret, "utf8")) : null;
  const checks = { issuer, audience: USER_ROLE, requiredClaims: ["sub", "exp", "iat"] };
  const verified = new Map<string, { claims: SupabaseClaims; until: number }>();

  return {
    issuer,
    async verify(token) {
      const known = verified.get(token);
      if (known && known.until > Date.now()) return known.claims;
      verified.delete(token);
      let payload: JWTPayload;
      try {
        // the algorithm picks the key, and each key only its own algorithms: no public key is ever used as an HMAC secret
        if (decodeProtectedHeader(token).alg === "HS256") {
          if (!secret) return null;
          ({ payload } = await jwtVerify(token, secret, { ...checks, algorithms: SECRET_ALGORITHMS }));
        } else {
          ({ payload } = await jwtVerify(token, keys, { ...checks, algorithms: KEY_SET_ALGORITHMS }));
        }
      } catch (error) {
        if (error instanceof KeysUnavailable) {
          throw new StorySparkError("SERVICE_UNAVAILABLE", "Supabase Auth's signing keys could not be fetched to check the token; it is safe to retry");
        }
        return null;
      }
      const claims = claimsOf(payload, token);
      if (!claims) return null;
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
      verified.set(token, { claims, until: Math.min(claims.expiresAt, Date.now() + Math.min(VERIFIED_FOR_MS, timings.cacheMaxAgeMs)) });
      return claims;
    },
  };
}

function claimsOf(payload: JWTPayload, token: string): SupabaseClaims | null {
  const { sub, exp, iat } = payload;
  if (typeof sub !== "string" || !UUID.test(sub) || typeof exp !== "number" || typeof iat !== "number") return null;
  if (payload.role !== USER_ROLE) return null;
  const session = payload.session_id;
  const sessionId = typeof session === "string" && UUID.test(session) ? session.toLowerCase() : null;
  return {
    userId: sub.toLowerCase(),
    tokenId: sessionId ?? uuidOfHash(token),
    revokedUntil: sessionId ? Math.max(exp * 1000, Date.now() + SESSION_REVOKED_FOR_MS) : exp * 1000,
    issuedAt: iat * 1000,
    expiresAt: exp * 1000,
    signedInAt: signedInAt(payload.amr) ?? iat * 1000,
    profile: profileOf(sub.toLowerCase(), payload),
  };
}

/** The latest `amr` timestamp (seconds) in ms; null when `amr` has none (RFC 8176's list of names). */
function signedInAt(amr: unknown): number | null {
  if (!Array.isArray(amr)) return null;
  let latest: number | null = null;
  for (const entry of amr as unknown[]) {
    const timestamp = typeof entry === "object" && entry !== null ? (entry as { timestamp?: unknown }).timestamp : undefined;
    if (typeof timestamp === "number" && Number.isFinite(timestamp) && (latest === null || timestamp > latest)) latest = timestamp;
  }
  return latest === null ? null : latest * 1000;
}

/** A token without a session id is revoked by itself: a uuid made of its hash. */
function uuidOfHash(token: string): string {
  const hex = createHash("sha256").update(token).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The key set could not be fetched or read: nothing is known of the token. */
class KeysUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeysUnavailable";
  }
}

/**
 * The project's keys, through jose's remote key set: fetched on first use, used for cacheMaxAge, and
 * fetched again at once for a key id not among them (at most once per cooldown, so tokens with
 * made-up key ids cost no fetch each). Past their age the keys at hand keep being used while new
 * ones are fetched; when the JWKS can't be reached they go on being used (a project's keys change
 * rarely, and never without notice), and a token that needs a key not among them, or a server that
 * never got any, is answered SERVICE_UNAVAILABLE rather than refused.
 */
function projectKeys(url: URL, timings: KeySetTimings, log: (message: string, error?: unknown) => void): JWTVerifyGetKey {
  let failedAt = Number.NEGATIVE_INFINITY;
  const fetchKeySet: FetchImplementation = async (href, init) => {
    let response: Response;
    try {
      response = await fetch(href, init);
    } catch (error) {
      throw new KeysUnavailable(`${href} could not be reached`, { cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new KeysUnavailable(`${href} answered ${response.status}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new KeysUnavailable(`${href} did not answer JSON`, { cause: error });
    }
    const keys = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === "object" && key !== null)) throw new KeysUnavailable(`${href} did not answer a key set`);
    return Response.json(body);
  };
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: timings.cacheMaxAgeMs,
    cooldownDuration: timings.cooldownMs,
    timeoutDuration: timings.timeoutMs,
    [customFetch]: fetchKeySet,
  });

  const failed = (error: unknown) => {
    if (failedAt === Number.NEGATIVE_INFINITY) log(`Supabase Auth's signing keys could not be fetched from ${url.href}; tokens are checked with the keys at hand`, error);
    failedAt = Date.now();
  };
  const fetched = () => {
    if (failedAt !== Number.NEGATIVE_INFINITY) log(`Supabase Auth's signing keys were fetched again from ${url.href}`);
    failedAt = Number.NEGATIVE_INFINITY;
  };
  /** A fetch failed a moment ago: none is tried again before retryMs, however many tokens arrive. */
  const resting = () => Date.now() - failedAt < timings.retryMs;

  /** jose decides whether to fetch (none yet, too old, or a new key id past the cooldown); a failed fetch is remembered. */
  const viaRemote: JWTVerifyGetKey = async (header, token) => {
    try {
      const key = await remote(header, token);
      if (failedAt !== Number.NEGATIVE_INFINITY && remote.fresh) fetched();
      return key;
    } catch (error) {
      if (!(error instanceof KeysUnavailable)) throw error;
      failed(error);
      throw error;
    }
  };
  let atHand: { json: string; keys: ReturnType<typeof createLocalJWKSet> } | null = null;
  /** The keys last fetched, however old, without fetching. */
  const keysAtHand = (): ReturnType<typeof createLocalJWKSet> | null => {
    const known: JSONWebKeySet | undefined = remote.jwks();
    if (!known) return null;
    const json = JSON.stringify(known);
    if (atHand?.json !== json) atHand = { json, keys: createLocalJWKSet(known) };
    return atHand.keys;
  };

  return async (header, token) => {
    if (resting()) {
      const keys = keysAtHand();
      if (!keys) throw new KeysUnavailable("no signing keys were ever fetched, and the last fetch failed a moment ago");
      try {
        return await keys(header, token);
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey) throw new KeysUnavailable("the token's key is not among those at hand, which can't be fetched now");
        throw error;
      }
    }
    if (remote.fresh) return viaRemote(header, token);
    const keys = keysAtHand();
    if (!keys) return viaRemote(header, token); // the first fetch
    // too old: fetched again behind this request, which uses the keys at hand
    if (!remote.reloading) remote.reload().then(fetched, failed);
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      return viaRemote(header, token); // perhaps a new key: waits for the fetch under way
    }
  };
}
