// Password hashing with scrypt (memory-hard, in Node's standard library), at OWASP's parameters.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

type ScryptParams = { readonly N: number; readonly r: number; readonly p: number };

/**
 * One of the OWASP Password Storage Cheat Sheet's equivalent minimums for scrypt (N=2^17/p=1,
 * N=2^16/p=2, …): the same work as N=2^17, half its memory (64 MiB a hash), which keeps a burst of
 * sign-ins within the server's memory budget.
 */
export const SCRYPT_PARAMS: ScryptParams = { N: 2 ** 16, r: 8, p: 2 };
const KEY_LENGTH = 64;
/** Stored hashes asking for more than this are refused rather than computed: 1 GiB per attempt is a denial of service. */
const MAX_STORED_N = 2 ** 20;

/** Node refuses to use more than `maxmem` bytes; scrypt needs 128·N·r·p of them and a little more. */
const maxmemFor = ({ N, r, p }: ScryptParams) => 2 * 128 * N * r * p;

function derive(password: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, length, { ...params, maxmem: maxmemFor(params) }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash`, base64 parts: the parameters travel with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, KEY_LENGTH, SCRYPT_PARAMS);
  const { N, r, p } = SCRYPT_PARAMS;
  return ["scrypt", N, r, p, salt.toString("base64"), key.toString("base64")].join("$");
}

export type PasswordCheck = {
  readonly ok: boolean;
  /** hashed with other parameters than today's: hash it again now that the password is known */
  readonly outdated: boolean;
};

/**
 * Compares a password with a stored hash. With no stored hash (an unknown email) it compares with
 * a hash of a random password, so that both answers take as long.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<PasswordCheck> {
  const parsed = stored === null ? null : parseHash(stored);
  const target = parsed ?? parseHash(await unknownUserHash())!;
  const key = await derive(password, target.salt, target.hash.length, target.params);
  const ok = parsed !== null && timingSafeEqual(key, target.hash);
  const { N, r, p } = target.params;
  return { ok, outdated: ok && (N !== SCRYPT_PARAMS.N || r !== SCRYPT_PARAMS.r || p !== SCRYPT_PARAMS.p) };
}

function parseHash(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | null {
  const [scheme, n, r, p, salt, hash, ...rest] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash || rest.length > 0) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const valid = [params.N, params.r, params.p].every((v) => Number.isInteger(v) && v > 0);
  // N a power of two, and r·p within what Node accepts
  if (!valid || params.N > MAX_STORED_N || (params.N & (params.N - 1)) !== 0 || params.r * params.p >= 2 ** 30) return null;
  return { params, salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
}

let unknownHash: Promise<string> | undefined;
/** Made on first use, not at import: every process that loads the schema imports this module. */
function unknownUserHash(): Promise<string> {
  unknownHash ??= hashPassword(randomBytes(16).toString("hex"));
  return unknownHash;
}
