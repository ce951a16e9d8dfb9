// Who is in a story right now, and on which module. Presence is ephemeral and deliberately NOT
// event-sourced: it is not the story's content, nothing replays it, and it never touches the
// story's revision or versions. Kept in this process, or in Redis (REDIS_URL) where every entry
// carries its own expiry, so that an instance killed outright (kill -9) leaves no ghosts: its
// entries run out within a few heartbeats.
//
// An entry is one connection's presence in one story:
// - set over a WebSocket: tied to that socket. The socket is pinged at every heartbeat while it holds
//   presence and dropped when it does not answer within one; it closing (or being dropped) ends its
//   entries at once, and the instance re-asserts them at every heartbeat while it lives (so they come
//   back by themselves after Redis lost its data).
// - set over HTTP: tied to the token (one per device). It lasts while a storyPresence subscription of
//   the same token on the same story stays open (SSE or WebSocket; the last one ending ends it at
//   once), or else `ttlMs` after the last setPresence.
// Subscribers see one member per user (src/live/storyPresenceFeed.ts), whatever their connections.
import { createHash, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { ModuleName } from "../domain/catalogue.ts";
import { StorySparkError } from "../domain/errors.ts";
import type { LivePubSub } from "./pubsub.ts";

export type PresenceLimits = {
  /** sockets holding presence are pinged this often; entries of live connections are renewed as often (PRESENCE_HEARTBEAT_MS) */
  heartbeatMs: number;
  /** an HTTP setPresence lasts this long without an open storyPresence subscription of the same token (PRESENCE_TTL_MS) */
  ttlMs: number;
  /** setPresence and clearPresence calls of one user per minute, in one instance */
  updatesPerMinute: number;
  /** connections present in one story at once: what one story's presence may hold */
  maxEntriesPerStory: number;
  /** connections of one user present in one story at once (tabs, devices) */
  maxConnectionsPerUser: number;
  /** stories one WebSocket may be present in at once */
  maxStoriesPerSocket: number;
};

export const DEFAULT_PRESENCE_LIMITS: PresenceLimits = {
  heartbeatMs: 5_000,
  ttlMs: 30_000,
  updatesPerMinute: 60,
  maxEntriesPerStory: 100,
  maxConnectionsPerUser: 10,
  maxStoriesPerSocket: 10,
};

/** Background failures (Redis away) are logged at most this often. */
const BACKGROUND_LOG_MS = 10_000;

/** A connection's entry is renewed at each heartbeat and runs out after this many missed ones. */
const HEARTBEATS_TO_EXPIRY = 3;

/** One connection's presence in one story, as stored (times in ms since the epoch). */
export type PresenceEntry = {
  userId: string;
  module: ModuleName | null;
  /** when this connection entered the story */
  since: number;
  /** this connection's last setPresence */
  lastSeenAt: number;
  expiresAt: number;
};

export type PutResult = "created" | "updated" | "storyFull" | "userFull";

/** Where entries live: in this process, or in Redis for every instance. Every method may fail when Redis is away. */
export type PresenceStore = {
  /**
   * Writes one entry (`field` names its connection and user). An entry already there keeps its
   * `since` and the later of the two expiries; a new one is refused when the story or the user is at its cap.
   */
  put(storyId: string, field: string, entry: PresenceEntry, caps: { maxEntries: number; maxPerUser: number }): Promise<PutResult>;
  /** Pushes these entries' expiry to at least `expiresAt`; an entry that is not there stays absent. How many were there. */
  renew(storyId: string, fields: readonly string[], expiresAt: number): Promise<number>;
  /** Removes these entries; how many were there. */
  remove(storyId: string, fields: readonly string[]): Promise<number>;
  /** The story's entries that have not run out, by field. */
  read(storyId: string): Promise<Map<string, PresenceEntry>>;
  close(): Promise<void>;
};

// ------------------------------------------------------------------ in this process

export function memoryPresenceStore(): PresenceStore {
  const stories = new Map<string, Map<string, PresenceEntry>>();
  const live = (storyId: string): Map<string, PresenceEntry> => {
    const entries = stories.get(storyId) ?? new Map<string, PresenceEntry>();
    const now = Date.now();
    for (const [field, entry] of entries) if (entry.expiresAt <= now) entries.delete(field);
    if (entries.size === 0) stories.delete(storyId);
    return entries;
  };
  // a story nobody reads again must not keep its run-out entries for ever
  const sweeper = setInterval(() => {
    for (const storyId of [...stories.keys()]) live(storyId);
  }, 10_000);
  sweeper.unref();
  return {
    async put(storyId, field, entry, caps) {
      const entries = live(storyId);
      const existing = entries.get(field);
      if (!existing) {
        if (entries.size >= caps.maxEntries) return "storyFull";
        if ([...entries.values()].filter((e) => e.userId === entry.userId).length >= caps.maxPerUser) return "userFull";
      }
      entries.set(field, existing ? { ...entry, since: existing.since, expiresAt: Math.max(existing.expiresAt, entry.expiresAt) } : entry);
      stories.set(storyId, entries);
      return existing ? "updated" : "created";
    },
    async renew(storyId, fields, expiresAt) {
      const entries = live(storyId);
      let renewed = 0;
      for (const field of fields) {
        const entry = entries.get(field);
        if (!entry) continue;
        renewed++;
        if (entry.expiresAt < expiresAt) entries.set(field, { ...entry, expiresAt });
      }
      return renewed;
    },
    async remove(storyId, fields) {
      const entries = live(storyId);
      let removed = 0;
      for (const field of fields) if (entries.delete(field)) removed++;
      if (entries.size === 0) stories.delete(storyId);
      return removed;
    },
    async read(storyId) {
      return new Map(live(storyId));
    },
    async close() {
      clearInterval(sweeper);
    },
  };
}

// ------------------------------------------------------------------ in Redis

/** One hash per story: field → the entry as JSON. Run-out entries are dropped by the next write, and the whole key expires with its last entry. */
const PUT_SCRIPT = `
local now = tonumber(ARGV[3])
local incoming = cjson.decode(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local count, mine, existing = 0, 0, nil
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry.expiresAt <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    count = count + 1
    if entry.userId == incoming.userId then mine = mine + 1 end
    if all[i] == ARGV[1] then existing = entry end
  end
end
if existing then
  incoming.since = existing.since
  if existing.expiresAt > incoming.expiresAt then incoming.expiresAt = existing.expiresAt end
else
  if count >= tonumber(ARGV[4]) then return 'storyFull' end
  if mine >= tonumber(ARGV[5]) then return 'userFull' end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(incoming))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if existing then return 'updated' end
return 'created'
`;

const RENEW_SCRIPT = `
local expiresAt = tonumber(ARGV[1])
local renewed = 0
for i = 3, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local entry = cjson.decode(raw)
    if entry.expiresAt < expiresAt then
      entry.expiresAt = expiresAt
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(entry))
    end
    renewed = renewed + 1
  end
end
if renewed > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return renewed
`;

type PresenceRedis = Redis & {
  presencePut(key: string, field: string, entry: string, now: number, maxEntries: number, maxPerUser: number, keyTtlMs: number): Promise<string>;
  presenceRenew(key: string, expiresAt: number, keyTtlMs: number, ...fields: string[]): Promise<number>;
};

/** Redis errors are logged once per outage (ioredis reports every reconnection attempt). */
export function redisPresenceStore(
  redisUrl: string,
  options: { keyPrefix?: string; limits?: Partial<PresenceLimits>; onError?: (message: string, error: unknown) => void } = {},
): PresenceStore {
  const prefix = options.keyPrefix ?? "story-spark:presence";
  const limits = { ...DEFAULT_PRESENCE_LIMITS, ...options.limits };
  // the key outlives its longest-lived entry by a moment, then goes by itself
  const keyTtlMs = Math.max(limits.ttlMs, limits.heartbeatMs * HEARTBEATS_TO_EXPIRY) + 1_000;
  // a command Redis can't answer now fails at once (the caller says so) rather than waiting in a queue
  const redis = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  }) as PresenceRedis;
  redis.once("ready", () => {
    redis.options.enableOfflineQueue = false;
  });
  redis.defineCommand("presencePut", { numberOfKeys: 1, lua: PUT_SCRIPT });
  redis.defineCommand("presenceRenew", { numberOfKeys: 1, lua: RENEW_SCRIPT });
  let down = false;
  redis.on("error", (error) => {
    if (!down) options.onError?.("presence: Redis does not answer; setPresence answers SERVICE_UNAVAILABLE and storyPresence upToDate: false meanwhile", error);
    down = true;
  });
  redis.on("ready", () => (down = false));
  const keyOf = (storyId: string) => `${prefix}:${storyId}`;
  return {
    async put(storyId, field, entry, caps) {
      const result = await redis.presencePut(keyOf(storyId), field, JSON.stringify(entry), Date.now(), caps.maxEntries, caps.maxPerUser, keyTtlMs);
      return result as PutResult;
    },
    async renew(storyId, fields, expiresAt) {
      return fields.length > 0 ? redis.presenceRenew(keyOf(storyId), expiresAt, keyTtlMs, ...fields) : 0;
    },
    async remove(storyId, fields) {
      return fields.length > 0 ? redis.hdel(keyOf(storyId), ...fields) : 0;
    },
    async read(storyId) {
      const now = Date.now();
      const raw = await redis.hgetall(keyOf(storyId));
      const entries = new Map<string, PresenceEntry>();
      for (const [field, json] of Object.entries(raw)) {
        const entry = JSON.parse(json) as PresenceEntry;
        if (entry.expiresAt > now) entries.set(field, entry);
      }
      return entries;
    },
    async close() {
      if (redis.status === "ready") await redis.quit().catch(() => {});
      redis.disconnect();
    },
  };
}

/** Redis when REDIS_URL is set, else this process. */
export function createPresenceStore(
  redisUrl: string | undefined,
  options: { limits?: Partial<PresenceLimits>; onError?: (message: string, error: unknown) => void } = {},
): PresenceStore {
  return redisUrl ? redisPresenceStore(redisUrl, options) : memoryPresenceStore();
}

// ------------------------------------------------------------------ connections

/**
 * A WebSocket as presence sees it (src/server/webSocket.ts makes one per socket): `probe` pings it
 * and says whether it answered within a heartbeat (dropping it when not); `close` is called when it closes.
 */
export class PresenceSocket {
  readonly key = `ws:${randomUUID()}`;
  /** what this socket said, story → user → entry: re-asserted at each heartbeat while the socket answers */
  readonly entries = new Map<string, Map<string, PresenceEntry>>();
  probing = false;
  closed = false;

  private readonly presence: Presence;
  readonly probe: (withinMs: number) => Promise<boolean>;

  constructor(presence: Presence, probe: (withinMs: number) => Promise<boolean>) {
    this.presence = presence;
    this.probe = probe;
  }

  /** The socket closed (or was dropped): its presence ends now. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.presence.socketClosed(this);
  }
}

/** The initial context a WebSocket's operations carry: their socket's presence. */
export type PresenceInitialContext = { presenceSocket?: PresenceSocket };

/** Who sets presence: the user and the token they came with. */
export type PresenceViewer = { id: string; tokenId: string };

// ------------------------------------------------------------------ the service

export class Presence {
  readonly limits: PresenceLimits;
  private readonly store: PresenceStore;
  private readonly pubsub: LivePubSub;
  private readonly log: (message: string, error: unknown) => void;
  private readonly isMember: (storyId: string, userId: string) => Promise<boolean>;
  private readonly updates: RateLimiterMemory;
  private readonly sockets = new Set<PresenceSocket>();
  /** open storyPresence subscriptions here, by story and HTTP entry: they keep that entry alive */
  private readonly holders = new Map<string, { storyId: string; field: string; count: number }>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private lastLogged = 0;

  constructor(options: {
    store: PresenceStore;
    pubsub: LivePubSub;
    /** whether the user is (still) a member of the story: asked before a socket's missing entry is put back */
    isMember: (storyId: string, userId: string) => Promise<boolean>;
    limits?: Partial<PresenceLimits> | undefined;
    log?: (message: string, error: unknown) => void;
  }) {
    this.store = options.store;
    this.pubsub = options.pubsub;
    this.isMember = options.isMember;
    this.limits = { ...DEFAULT_PRESENCE_LIMITS, ...options.limits };
    this.log = options.log ?? (() => {});
    this.updates = new RateLimiterMemory({ keyPrefix: "presence", points: this.limits.updatesPerMinute, duration: 60 });
    this.timer = setInterval(() => this.heartbeat(), this.limits.heartbeatMs);
    this.timer.unref();
  }

  /** How long a connection's entry lasts without a heartbeat. */
  get connectionExpiryMs(): number {
    return this.limits.heartbeatMs * HEARTBEATS_TO_EXPIRY;
  }

  socket(probe: (withinMs: number) => Promise<boolean>): PresenceSocket {
    const socket = new PresenceSocket(this, probe);
    this.sockets.add(socket);
    return socket;
  }

  /**
   * The viewer is in the story, on `module` (null: on none), through `socket` (null: over HTTP).
   * Access is the caller's to check. Answers when it runs out unless renewed: null for a socket's.
   */
  async set(viewer: PresenceViewer, storyId: string, module: ModuleName | null, socket: PresenceSocket | null): Promise<{ expiresAt: Date | null }> {
    await this.countUpdate(viewer.id);
    const now = Date.now();
    if (socket && !socket.entries.has(storyId) && socket.entries.size >= this.limits.maxStoriesPerSocket) {
      throw rateLimitedBy("presenceStoriesPerConnection", `one connection may be present in at most ${this.limits.maxStoriesPerSocket} stories at once`);
    }
    const expiresAt = now + (socket ? this.connectionExpiryMs : this.limits.ttlMs);
    const entry: PresenceEntry = { userId: viewer.id, module, since: now, lastSeenAt: now, expiresAt };
    const field = socket ? socketField(socket, viewer.id) : httpField(viewer);
    const result = await this.stored(() =>
      this.store.put(storyId, field, entry, { maxEntries: this.limits.maxEntriesPerStory, maxPerUser: this.limits.maxConnectionsPerUser }),
    );
    if (result === "storyFull") throw rateLimitedBy("presencePerStory", `at most ${this.limits.maxEntriesPerStory} connections may be present in one story`);
    if (result === "userFull") throw rateLimitedBy("presencePerUser", `at most ${this.limits.maxConnectionsPerUser} connections of one user may be present in one story`);
    if (socket) {
      if (socket.closed) {
        // closed while this was being stored: its entries have been removed already, this one too
        await this.removeEntries(storyId, [field]);
      } else {
        const mine = socket.entries.get(storyId) ?? new Map<string, PresenceEntry>();
        mine.set(viewer.id, { ...entry, since: mine.get(viewer.id)?.since ?? now });
        socket.entries.set(storyId, mine);
      }
    }
    this.changed(storyId);
    return { expiresAt: socket ? null : new Date(now + this.limits.ttlMs) };
  }

  /** The viewer leaves the story on this connection (their other connections stay). */
  async clear(viewer: PresenceViewer, storyId: string, socket: PresenceSocket | null): Promise<void> {
    await this.countUpdate(viewer.id);
    const field = socket ? socketField(socket, viewer.id) : httpField(viewer);
    if (socket) {
      const mine = socket.entries.get(storyId);
      mine?.delete(viewer.id);
      if (mine?.size === 0) socket.entries.delete(storyId);
    }
    const removed = await this.stored(() => this.store.remove(storyId, [field]));
    if (removed > 0) this.changed(storyId);
  }

  /** The story's live entries, by field; fails when the store can't be read. */
  read(storyId: string): Promise<Map<string, PresenceEntry>> {
    return this.store.read(storyId);
  }

  /**
   * Removes every entry of these users from the story (all of them: null), when they are no longer
   * members or the story is gone. Sockets of other instances find their entries missing at their next
   * heartbeat, ask whether the user is still a member, and let them go.
   */
  async removeUsers(storyId: string, userIds: ReadonlySet<string> | null): Promise<void> {
    const leaving = (userId: string) => userIds === null || userIds.has(userId);
    for (const socket of this.sockets) {
      const mine = socket.entries.get(storyId);
      for (const userId of mine?.keys() ?? []) if (leaving(userId)) mine?.delete(userId);
      if (mine?.size === 0) socket.entries.delete(storyId);
    }
    const entries = await this.store.read(storyId);
    const fields = [...entries].flatMap(([field, entry]) => (leaving(entry.userId) ? [field] : []));
    if ((await this.store.remove(storyId, fields)) > 0) this.changed(storyId);
  }

  /**
   * A storyPresence subscription of the viewer's is open here: the viewer's HTTP entry in the story
   * lasts while it does, and ends when the last such one closes. Returns the release.
   */
  hold(viewer: PresenceViewer, storyId: string): () => void {
    const field = httpField(viewer);
    const key = `${storyId} ${field}`;
    const held = this.holders.get(key) ?? { storyId, field, count: 0 };
    held.count++;
    this.holders.set(key, held);
    void this.background(this.store.renew(storyId, [field], Date.now() + this.connectionExpiryMs));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.count--;
      if (held.count > 0) return;
      this.holders.delete(key);
      void this.background(this.removeEntries(storyId, [field]));
    };
  }

  /** Stops the heartbeat; the sockets' entries are removed as the sockets close (before this is called). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.pending]);
  }

  socketClosed(socket: PresenceSocket): void {
    this.sockets.delete(socket);
    for (const [storyId, users] of socket.entries) {
      void this.background(this.removeEntries(storyId, [...users.keys()].map((userId) => socketField(socket, userId))));
    }
    socket.entries.clear();
  }

  /** Tells every instance's subscribers of the story to read it again. */
  private changed(storyId: string): void {
    this.pubsub.publish("presenceChanged", storyId, { storyId });
  }

  private async removeEntries(storyId: string, fields: string[]): Promise<void> {
    if ((await this.store.remove(storyId, fields)) > 0) this.changed(storyId);
  }

  /**
   * Every heartbeat: sockets holding presence are pinged (one that does not answer is dropped, which
   * ends its presence) and, answering, re-assert their entries; open subscriptions renew their
   * users' HTTP entries. A write that fails (Redis away) is tried again at the next one.
   */
  private heartbeat(): void {
    if (this.closed) return;
    const expiresAt = () => Date.now() + this.connectionExpiryMs;
    for (const socket of this.sockets) {
      if (socket.entries.size === 0 || socket.probing) continue;
      socket.probing = true;
      void this.background(
        socket
          .probe(this.limits.heartbeatMs)
          .then(async (answered) => {
            if (!answered || socket.closed) return;
            for (const [storyId, users] of socket.entries) {
              for (const [userId, entry] of users) await this.reassert(socket, storyId, userId, entry, expiresAt());
            }
          })
          .finally(() => (socket.probing = false)),
      );
    }
    const byStory = new Map<string, string[]>();
    for (const { storyId, field } of this.holders.values()) byStory.set(storyId, [...(byStory.get(storyId) ?? []), field]);
    for (const [storyId, fields] of byStory) void this.background(this.store.renew(storyId, fields, expiresAt()));
  }

  /**
   * A live socket's entry lasts: renewed when it is there. Missing, it was lost (Redis restarted, or
   * it ran out while Redis was away) or removed (the user is no longer a member, the story is gone):
   * put back only while the user is still a member.
   */
  private async reassert(socket: PresenceSocket, storyId: string, userId: string, entry: PresenceEntry, expiresAt: number): Promise<void> {
    const field = socketField(socket, userId);
    if ((await this.store.renew(storyId, [field], expiresAt)) > 0) return;
    if (!(await this.isMember(storyId, userId))) {
      const mine = socket.entries.get(storyId);
      mine?.delete(userId);
      if (mine?.size === 0) socket.entries.delete(storyId);
      return;
    }
    if (socket.closed || socket.entries.get(storyId)?.get(userId) !== entry) return; // changed meanwhile
    const caps = { maxEntries: this.limits.maxEntriesPerStory, maxPerUser: this.limits.maxConnectionsPerUser };
    if ((await this.store.put(storyId, field, { ...entry, expiresAt }, caps)) === "created") this.changed(storyId);
  }

  /** Runs without a caller to tell: a failure is logged (once in a while), never unhandled. */
  private background<T>(work: Promise<T>): Promise<T | undefined> {
    const tracked = work.catch((error: unknown) => {
      this.logOnceInAWhile("presence: a background write failed (renewals are tried again at the next heartbeat)", error);
      return undefined;
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return tracked;
  }

  /** While Redis is away every heartbeat and request fails alike: one line in a while says it. */
  private logOnceInAWhile(message: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastLogged < BACKGROUND_LOG_MS) return;
    this.lastLogged = now;
    this.log(message, error);
  }

  private async countUpdate(userId: string): Promise<void> {
    try {
      await this.updates.consume(userId);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const retryAfter = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new StorySparkError("RATE_LIMITED", `at most ${this.limits.updatesPerMinute} presence updates per minute: try again in ${retryAfter} s`, {
        limit: "presenceUpdatesPerMinute",
        maximum: this.limits.updatesPerMinute,
        retryAfter,
      });
    }
  }

  /** A store command the client waits on: Redis away is SERVICE_UNAVAILABLE, safe to retry. */
  private async stored<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StorySparkError) throw error;
      this.logOnceInAWhile("presence: the store did not answer a client", error);
      throw new StorySparkError("SERVICE_UNAVAILABLE", "presence can't be stored right now (its store is not answering); try again shortly");
    }
  }
}

function socketField(socket: PresenceSocket, userId: string): string {
  return `${socket.key}#${userId}`;
}

/** One entry per token: the tabs of one browser share it, other devices have their own. */
function httpField(viewer: PresenceViewer): string {
  return `http:${createHash("sha256").update(viewer.tokenId).digest("base64url").slice(0, 22)}#${viewer.id}`;
}

function rateLimitedBy(limit: string, message: string): StorySparkError {
  return new StorySparkError("RATE_LIMITED", message, { limit });
}
