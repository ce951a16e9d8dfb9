// Throttling of signing up and in, with rate-limiter-flexible: attempts per client address and per
// email, failures per address, and a lock-out that doubles with each failure past the first few for
// one email from one address. In memory, or in Redis (REDIS_URL) so that every instance counts alike;
// when Redis is away, each instance falls back to counting in its own memory, and nobody is refused
// for it. Also bounds how many password hashes run at once: scrypt takes 64 MiB each.
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { StorySparkError } from "../domain/errors.ts";
import { DEFAULT_AUTH_LIMITS, type AuthLimits } from "./limits.ts";

export type AuthThrottle = {
  /** Before a sign-in: RATE_LIMITED while the address, the email or the two together are over a limit. */
  beforeSignIn(email: string, address: string | null): Promise<void>;
  signInFailed(email: string, address: string | null): Promise<void>;
  signInSucceeded(email: string, address: string | null): Promise<void>;
  /** Before a sign-up: RATE_LIMITED while the address or the email is over its limit. */
  beforeSignUp(email: string, address: string | null): Promise<void>;
  /** Runs a password hash in one of the bounded slots; RATE_LIMITED when too many already wait. */
  hashing<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

export type AuthThrottleOptions = {
  limits?: Partial<AuthLimits>;
  /** counts shared by every instance through this Redis; absent → in this process's memory */
  redisUrl?: string | undefined;
  /** keeps apart the counts of several deployments (or tests) in one Redis */
  keyPrefix?: string;
  /** told when Redis fails and the in-memory counts stand in */
  onStoreError?: (error: unknown) => void;
};

export function createAuthThrottle(options: AuthThrottleOptions = {}): AuthThrottle {
  const limits = { ...DEFAULT_AUTH_LIMITS, ...options.limits };
  const prefix = options.keyPrefix ?? "story-spark:auth";
  const redis = options.redisUrl ? connectRedis(options.redisUrl, options.onStoreError) : null;
  const limiter = (name: string, points: number, duration: number): RateLimiterAbstract => {
    const settings = { keyPrefix: `${prefix}:${name}`, points, duration };
    const memory = new RateLimiterMemory(settings);
    if (!redis) return memory;
    // not ready → straight to the insurance, instead of waiting on a dead connection
    return new RateLimiterRedis({ ...settings, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory });
  };
  // counters whose points are never "used up": they count, and the code decides
  const COUNT_ONLY = Number.MAX_SAFE_INTEGER;
  const signInsByAddress = limiter("signin-address", limits.signInsPerAddress, limits.windowSeconds);
  const signUpsByAddress = limiter("signup-address", limits.signUpsPerAddress, limits.windowSeconds);
  const attemptsByEmail = limiter("email", limits.attemptsPerEmail, limits.windowSeconds);
  const failuresByAddress = limiter("failures-address", limits.failuresPerAddress, limits.failureWindowSeconds);
  const failuresInARow = limiter("failures-pair", COUNT_ONLY, limits.lockoutResetSeconds);
  const lockouts = limiter("lockout", 1, limits.lockoutMaxSeconds);
  const slots = new HashSlots(limits.hashConcurrency, limits.hashQueue);

  return {
    async beforeSignIn(email, address) {
      const client = addressKey(address);
      const pair = `${emailKey(email)}:${client}`;
      if (limits.signInsPerAddress > 0) await consume(signInsByAddress, client);
      if (limits.attemptsPerEmail > 0) await consume(attemptsByEmail, emailKey(email));
      if (limits.failuresPerAddress > 0) await refuseWhile(failuresByAddress, client, limits.failuresPerAddress);
      if (limits.lockoutAfter > 0) await refuseWhile(lockouts, pair, 1);
    },
    async signInFailed(email, address) {
      const client = addressKey(address);
      const pair = `${emailKey(email)}:${client}`;
      if (limits.failuresPerAddress > 0) await failuresByAddress.penalty(client);
      if (limits.lockoutAfter <= 0) return;
      const failures = (await failuresInARow.penalty(pair)).consumedPoints;
      if (failures >= limits.lockoutAfter) {
        const seconds = Math.min(limits.lockoutMaxSeconds, limits.lockoutSeconds * 2 ** (failures - limits.lockoutAfter));
        await lockouts.block(pair, Math.max(1, Math.ceil(seconds)));
      }
    },
    async signInSucceeded(email, address) {
      const pair = `${emailKey(email)}:${addressKey(address)}`;
      await Promise.all([failuresInARow.delete(pair), lockouts.delete(pair)]);
    },
    async beforeSignUp(email, address) {
      if (limits.signUpsPerAddress > 0) await consume(signUpsByAddress, addressKey(address));
      if (limits.attemptsPerEmail > 0) await consume(attemptsByEmail, emailKey(email));
    },
    hashing: (work) => slots.run(work),
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function connectRedis(url: string, onError: ((error: unknown) => void) | undefined): Redis {
  // no offline queue and a short command timeout: a command Redis cannot answer now fails at once,
  // and the in-memory insurance answers instead
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000 });
  // heard once per outage: ioredis emits "error" at every reconnection attempt, and logs it itself when no one listens
  let down = false;
  redis.on("error", (error) => {
    if (!down) onError?.(error);
    down = true;
  });
  redis.on("ready", () => (down = false));
  return redis;
}

/** RATE_LIMITED with whole seconds to wait (at least one). */
export function rateLimited(msBeforeNext: number, what: string): StorySparkError {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new StorySparkError("RATE_LIMITED", `too many ${what}: try again in ${retryAfter} s`, { retryAfter });
}

async function consume(limiter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (error) {
    if (error instanceof RateLimiterRes) throw rateLimited(error.msBeforeNext, "attempts");
    throw error;
  }
}

/** Refuses while the key has used `points` or more, without counting this attempt. */
async function refuseWhile(limiter: RateLimiterAbstract, key: string, points: number): Promise<void> {
  const state = await limiter.get(key);
  if (state && state.consumedPoints >= points && state.msBeforeNext > 0) throw rateLimited(state.msBeforeNext, "failed attempts");
}

/** Emails are kept hashed in the store: the counts need no address book. */
function emailKey(email: string): string {
  return createHash("sha256").update(email).digest("base64url").slice(0, 22);
}

/**
 * The key of a client address: IPv4 as it is (an IPv4-mapped IPv6 address too), IPv6 by its /64,
 * which is what one subscriber usually holds whole.
 */
export function addressKey(address: string | null): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return "unknown";
  const [head = "", tail = ""] = address.split("%")[0]!.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = address.includes("::") && tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups]
    : headGroups;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}

/** At most `concurrency` hashes at once, at most `queue` waiting; the rest are told to come back. */
class HashSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly queue: number;

  constructor(concurrency: number, queue: number) {
    this.concurrency = Math.max(1, concurrency);
    this.queue = queue;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw rateLimited(1000, "sign-ins at once");
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on, still counted as running
      else this.running--;
    }
  }
}
