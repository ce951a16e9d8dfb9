// storyPresence for its subscribers: each message is the story's whole present list, one member per
// user, sent at subscribe time and again whenever it changes. One watch per story per instance,
// shared by that story's subscribers here: it reads the store when told of a change (from any
// instance), and at every heartbeat (entries of a dead instance run out without telling anyone).
import { Repeater } from "graphql-yoga";
import type { User } from "../generated/prisma/client.ts";
import type { ModuleName } from "../domain/catalogue.ts";
import { notFound, StorySparkError } from "../domain/errors.ts";
import type { Presence, PresenceEntry, PresenceViewer } from "./presence.ts";
import { isStoryDeleted, type LivePubSub, type StoryChanged } from "./pubsub.ts";

export type PresentMember = {
  user: User;
  /** the module of the user's connection that set presence last; null: in the story, on no module */
  module: ModuleName | null;
  /** when the earliest of the user's present connections entered the story */
  since: Date;
  /** the user's last setPresence, on any connection */
  lastSeenAt: Date;
  connections: number;
};

export type StoryPresenceSnapshot = {
  storyId: string;
  members: PresentMember[];
  /** false while the store can't be read: members is the last list known */
  upToDate: boolean;
  /** distinct for every list this instance sends for the story: keys the message's loaders */
  version: string;
};

export type PresenceAccess = {
  /** whether the user is still a member of the story (any role) */
  isMember(storyId: string, userId: string): Promise<boolean>;
  /** the users' rows (the present ones are members of a story the viewer is in: their names are visible) */
  readUsers(ids: readonly string[]): Promise<User[]>;
};

type Listener = { userId: string; send(snapshot: StoryPresenceSnapshot): void; fail(error: StorySparkError): void };

export class StoryPresenceFeeds {
  private readonly watches = new Map<string, StoryWatch>();
  private readonly presence: Presence;
  private readonly pubsub: LivePubSub;
  private readonly access: PresenceAccess;

  constructor(presence: Presence, pubsub: LivePubSub, access: PresenceAccess) {
    this.presence = presence;
    this.pubsub = pubsub;
    this.access = access;
  }

  /** Watches currently open in this instance (one per story with subscribers here). */
  get size(): number {
    return this.watches.size;
  }

  /**
   * The story's present list now and after every change; ends with NOT_FOUND when the story is
   * deleted or the viewer stops being a member. Access at subscribe time is the caller's to check.
   * While open, it keeps the viewer's HTTP presence (same token) in the story alive.
   */
  subscribe(viewer: PresenceViewer, storyId: string): AsyncIterableIterator<StoryPresenceSnapshot> {
    return new Repeater<StoryPresenceSnapshot>(async (push, stop) => {
      // a slow client gets the latest list, never a queue of stale ones
      let latest: StoryPresenceSnapshot | null = null;
      let delivering = false;
      const deliver = async () => {
        if (delivering) return;
        delivering = true;
        try {
          while (latest) {
            const next: StoryPresenceSnapshot = latest;
            latest = null;
            await push(next);
          }
        } finally {
          delivering = false;
        }
      };
      const listener: Listener = {
        userId: viewer.id,
        send: (snapshot) => {
          latest = snapshot;
          void deliver().catch(() => {});
        },
        fail: (error) => stop(error),
      };
      const release = this.presence.hold(viewer, storyId);
      const watch = this.watchOf(storyId);
      watch.add(listener);
      try {
        await stop;
      } finally {
        watch.remove(listener);
        release();
        if (watch.empty) {
          this.watches.delete(storyId);
          watch.close();
        }
      }
    });
  }

  /** The story's present list, read now (the answer to setPresence); SERVICE_UNAVAILABLE when the store can't be read. */
  async snapshot(storyId: string): Promise<StoryPresenceSnapshot> {
    const watch = this.watches.get(storyId) ?? new StoryWatch(storyId, this.presence, this.pubsub, this.access, false);
    let entries: Map<string, PresenceEntry>;
    try {
      entries = await this.presence.read(storyId);
    } catch {
      throw new StorySparkError("SERVICE_UNAVAILABLE", "presence can't be read right now (its store is not answering); try again shortly");
    }
    return { storyId, members: await watch.membersOf(entries), upToDate: true, version: `read:${crypto.randomUUID()}` };
  }

  close(): void {
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
  }

  private watchOf(storyId: string): StoryWatch {
    let watch = this.watches.get(storyId);
    if (!watch) {
      watch = new StoryWatch(storyId, this.presence, this.pubsub, this.access, true);
      this.watches.set(storyId, watch);
    }
    return watch;
  }
}

class StoryWatch {
  private readonly listeners = new Set<Listener>();
  private readonly users = new Map<string, User>();
  private current: StoryPresenceSnapshot | null = null;
  private lastKey = "";
  private sent = 0;
  private refreshing = false;
  private again = false;
  private closed = false;
  private readonly stops: (() => void)[] = [];

  private readonly storyId: string;
  private readonly presence: Presence;
  private readonly access: PresenceAccess;

  constructor(storyId: string, presence: Presence, pubsub: LivePubSub, access: PresenceAccess, live: boolean) {
    this.storyId = storyId;
    this.presence = presence;
    this.access = access;
    if (!live) return;
    this.follow(pubsub.subscribe("presenceChanged", storyId), () => this.refresh());
    this.follow(pubsub.subscribe("storyChanged", storyId), (message: StoryChanged) => this.storyChanged(message));
    const timer = setInterval(() => this.refresh(), presence.limits.heartbeatMs);
    timer.unref();
    this.stops.push(() => clearInterval(timer));
    this.refresh();
  }

  get empty(): boolean {
    return this.listeners.size === 0;
  }

  add(listener: Listener): void {
    this.listeners.add(listener);
    if (this.current) listener.send(this.current);
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    for (const stop of this.stops) stop();
  }

  /** One member per user: the module of the connection that set presence last. */
  async membersOf(entries: Map<string, PresenceEntry>): Promise<PresentMember[]> {
    const byUser = new Map<string, { latest: PresenceEntry; since: number; connections: number }>();
    for (const entry of entries.values()) {
      const seen = byUser.get(entry.userId);
      if (!seen) {
        byUser.set(entry.userId, { latest: entry, since: entry.since, connections: 1 });
        continue;
      }
      if (entry.lastSeenAt > seen.latest.lastSeenAt) seen.latest = entry;
      seen.since = Math.min(seen.since, entry.since);
      seen.connections++;
    }
    const missing = [...byUser.keys()].filter((id) => !this.users.has(id));
    if (missing.length > 0) for (const user of await this.access.readUsers(missing)) this.users.set(user.id, user);
    return [...byUser]
      .flatMap(([userId, { latest, since, connections }]) => {
        const user = this.users.get(userId);
        // a user deleted meanwhile is no longer anyone to show
        return user ? [{ user, module: latest.module, since: new Date(since), lastSeenAt: new Date(latest.lastSeenAt), connections }] : [];
      })
      .sort((a, b) => a.since.getTime() - b.since.getTime() || a.user.id.localeCompare(b.user.id));
  }

  /** Reads the store again and sends the list when it changed; calls that come meanwhile make one more read. */
  private refresh(): void {
    if (this.closed) return;
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.readAndSend();
        } while (this.again && !this.closed);
      } finally {
        this.refreshing = false;
      }
    })();
  }

  private async readAndSend(): Promise<void> {
    let members: PresentMember[];
    let upToDate = true;
    try {
      members = await this.membersOf(await this.presence.read(this.storyId));
    } catch {
      // the store (Redis) or the database is away: say so with the last list known, and read again at the next heartbeat
      members = this.current?.members ?? [];
      upToDate = false;
    }
    if (this.closed) return;
    const key = JSON.stringify([upToDate, members.map((m) => [m.user.id, m.module, m.since.getTime(), m.lastSeenAt.getTime(), m.connections])]);
    if (key === this.lastKey && this.current) return;
    this.lastKey = key;
    this.current = { storyId: this.storyId, members, upToDate, version: `${this.storyId}:${crypto.randomUUID()}:${++this.sent}` };
    for (const listener of this.listeners) listener.send(this.current);
  }

  /**
   * The story's own stream moved: deleted, every subscriber ends with NOT_FOUND; otherwise its
   * membership may have changed: subscribers and present users who are no longer members leave.
   */
  private async storyChanged(message: StoryChanged): Promise<void> {
    if (isStoryDeleted(message)) {
      for (const listener of this.listeners) listener.fail(notFound("story"));
      await this.presence.removeUsers(this.storyId, null);
      return;
    }
    const present = this.current?.members.map((m) => m.user.id) ?? [];
    const userIds = [...new Set([...present, ...[...this.listeners].map((l) => l.userId)])];
    const gone = new Set<string>();
    await Promise.all(
      userIds.map(async (userId) => {
        if (!(await this.access.isMember(this.storyId, userId))) gone.add(userId);
      }),
    );
    if (gone.size === 0) return;
    for (const listener of this.listeners) if (gone.has(listener.userId)) listener.fail(notFound("story"));
    await this.presence.removeUsers(this.storyId, gone);
  }

  /** Runs `handle` for each message of a pubsub subscription until the watch closes; a failing handler is retried by the next message. */
  private follow<T>(messages: AsyncIterableIterator<T>, handle: (message: T) => unknown): void {
    this.stops.push(() => void messages.return?.());
    void (async () => {
      try {
        for await (const message of messages) {
          if (this.closed) return;
          try {
            await handle(message);
          } catch {
            // the database or the store is away: the next message or heartbeat tries again
          }
        }
      } catch {
        // the subscription ended with the watch
      }
    })();
  }
}
