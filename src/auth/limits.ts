// How much signing up and in is allowed, and how many password hashes run at once; read from
// AUTH_RATE_LIMIT_* and AUTH_HASH_* by src/config.ts (README lists them). Enforced by src/auth/throttle.ts.

/** A count limit of 0 turns that limit off (e.g. the per-address ones behind a proxy that hides client addresses). */
export type AuthLimits = {
  /** length of the windows below, in seconds */
  windowSeconds: number;
  /** sign-in attempts per client address per window */
  signInsPerAddress: number;
  /** sign-ups per client address per window */
  signUpsPerAddress: number;
  /** sign-in and sign-up attempts per email per window, from all addresses */
  attemptsPerEmail: number;
  /** failed sign-ins per client address per failureWindowSeconds, whatever the email */
  failuresPerAddress: number;
  failureWindowSeconds: number;
  /** failed sign-ins in a row for one email from one address before the first lock-out */
  lockoutAfter: number;
  /** the first lock-out; each further failure doubles it, up to lockoutMaxSeconds */
  lockoutSeconds: number;
  lockoutMaxSeconds: number;
  /** failures in a row are forgotten after this long without one (and at once by a success) */
  lockoutResetSeconds: number;
  /** password hashes computed at once (64 MiB each) */
  hashConcurrency: number;
  /** hashes waiting for a slot before more are refused with RATE_LIMITED */
  hashQueue: number;
};

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  windowSeconds: 60,
  signInsPerAddress: 60,
  signUpsPerAddress: 50,
  attemptsPerEmail: 10,
  failuresPerAddress: 100,
  failureWindowSeconds: 3600,
  lockoutAfter: 5,
  lockoutSeconds: 1,
  lockoutMaxSeconds: 900,
  lockoutResetSeconds: 86_400,
  hashConcurrency: 2,
  hashQueue: 100,
};
