// A story's events for a subscriber: every event after a position, in order, then
// live ones, exactly once. Live messages only wake the reader; the events are always
// read from the log by seq, so a message lost or late leaves no gap, and the reader
// re-reads when the connection to Redis comes back and every few seconds anyway. A
// Repeater, so the client leaving stops it at once, even while it waits for the next
// wake-up; the story's deletion ends it with NOT_FOUND. Reading history for a subscriber
// that is behind is paged small and bounded process-wide (catchUpLimiter.ts), so many
// catch-ups at once leave the writers their share.
import { setImmediate } from "node:timers/promises";
import { Repeater } from "graphql-yoga";
import type { DbClient } from "../database/types.ts";
import { readStream, streamRevision, type EventContent, type StoredEvent } from "../eventstore/eventStore.ts";
import { notFound } from "../domain/errors.ts";
import { isStoryDeleted, type LivePubSub } from "./pubsub.ts";
import { catchUpLimiter } from "./catchUpLimiter.ts";
import { roleInStory } from "../commands/storyAccess.ts";

/** Small pages: one subscriber's page read holds a connection and the event loop only briefly. */
const PAGE = 200;
/** How long a catch-up keeps its place while its page goes out to the client. */
const PERMIT_PUSH_MS = 250;
/** Re-reads the log this often when no message came, in case one was lost on the way. */
const SAFETY_POLL_MS = 5_000;

/** Where a feed starts: after this seq, or after the story's revision when it subscribes ("now"). */
export type FeedStart = number | "now";

/**
 * Whom a feed is for: a member, whose feed ends (NOT_FOUND, as for a stranger) at the event that
 * removes them, before it is shown. Removals wake every subscriber of the story like any event,
 * so a removed member stops receiving as soon as the removal is read; the others go on.
 */
export type FeedViewer = { readonly userId: string };

export function storyEventFeed(db: DbClient, pubsub: LivePubSub, storyId: string, after: FeedStart, viewer?: FeedViewer): AsyncIterableIterator<StoredEvent> {
  return storyLogFeed(db, pubsub, storyId, after, async (page) => page, "content", viewer);
}

/**
 * The feed's technique, for whatever a subscriber makes of the events: each page read
 * from the log becomes the values `expand` answers (none, one or several per event). A feed
 * that shows no payload reads the events' outputs as `references` (no content read per page).
 */
export function storyLogFeed<Out>(
  db: DbClient,
  pubsub: LivePubSub,
  storyId: string,
  after: FeedStart,
  expand: (page: StoredEvent[]) => Promise<Out[]>,
  content: EventContent = "content",
  viewer?: FeedViewer,
): AsyncIterableIterator<Out> {
  return new Repeater<Out>(async (push, stop) => {
    // Subscribe before the first read: whatever commits from here on either is read or wakes us.
    const live = pubsub.subscribe("storyChanged", storyId)[Symbol.asyncIterator]();
    const reconnected = pubsub.subscribe("brokerReconnected")[Symbol.asyncIterator]();
    const wakeUp = new Signal();
    let stopped = false;
    let liveEnded = false;
    let deleted = false;
    void stop.then(() => {
      stopped = true;
      wakeUp.raise();
      void live.return?.();
      void reconnected.return?.();
    });
    void (async () => {
      try {
        for (;;) {
          const next = await live.next();
          if (next.done) break;
          if (isStoryDeleted(next.value)) deleted = true;
          wakeUp.raise();
        }
      } finally {
        liveEnded = true;
        wakeUp.raise();
      }
    })();
    // messages published while Redis was away are lost: read the log as soon as it is back
    void (async () => {
      for (;;) {
        const next = await reconnected.next();
        if (next.done) break;
        wakeUp.raise();
      }
    })();

    try {
      // A member's feed reads from no later than where the story stood before their membership was
      // checked, whatever `after` they asked for: a removal committed since is in what it reads, and
      // ends it. Events up to `after` are read for that, not sent.
      const floor = viewer ? await streamRevision(db, storyId) : null;
      if (viewer && (await roleInStory(db, storyId, viewer.userId)) === null) throw notFound("story");
      const requested = after === "now" ? (floor ?? (await streamRevision(db, storyId))) : after;
      let last = floor === null ? requested : Math.min(requested, floor);
      // behind: reading history, which waits its turn; caught up: a wake-up's few new events, read at once
      let behind = after !== "now";
      while (!stopped) {
        for (;;) {
          const permit = behind ? await catchUpLimiter.acquire() : null;
          let timer: NodeJS.Timeout | undefined;
          let page: StoredEvent[];
          try {
            page = await sharedRead(pubsub, db, storyId, { after: last, limit: PAGE, content }, wakeUp.lastRaisedAt);
            const removedAt = viewer ? await removalIn(db, storyId, viewer.userId, page) : -1;
            const shown = (removedAt === -1 ? page : page.slice(0, removedAt)).filter((event) => event.seq > requested);
            // the page itself when all of it is shown: subscribers sharing it share what is made of it
            const values = await expand(shown.length === page.length ? page : shown);
            if (stopped) return;
            last = page.at(-1)?.seq ?? last;
            // a client slow to take its page gives the place back to the others
            if (permit) timer = setTimeout(permit.release, PERMIT_PUSH_MS);
            // push resolves when the value is taken: a slow client slows its own reads, and
            // the server holds one page of its history, never the whole log
            for (const value of values) {
              if (stopped) return;
              await push(value);
            }
            if (removedAt !== -1) throw notFound("story");
          } finally {
            clearTimeout(timer);
            permit?.release();
          }
          behind = page.length === PAGE;
          if (!behind || stopped) break;
          await setImmediate(); // between pages, the writers' turn on the event loop
        }
        if (stopped || liveEnded) return;
        if (deleted) throw notFound("story");
        const woken = await wakeUp.wait(SAFETY_POLL_MS);
        // no message for a while: the deletion's may have been lost too
        if (!woken && !stopped && !(await storyExists(db, storyId))) throw notFound("story");
      }
    } catch (error) {
      if (!stopped) throw error; // after the client left, nobody is there to tell
    } finally {
      await live.return?.();
      await reconnected.return?.();
    }
  });
}

/**
 * A page of the log, read once for every subscriber of the story in this process that wants the
 * same page: a write wakes them all at once, and a thousand subscribers would otherwise read the
 * same new event a thousand times. A subscriber shares a read only if it began after the wake-up
 * that subscriber is acting on (`notBefore`), so the read sees what that wake-up announced
 * (messages are published after their commit). Keyed by the server's pubsub: one cache a server.
 */
type SharedPage = { startedAt: number; page: Promise<StoredEvent[]> };
const sharedPages = new WeakMap<LivePubSub, Map<string, SharedPage>>();
/** How long a page read stays shareable after it started: late subscribers of the same wake-up */
const SHARED_PAGE_MS = 1_000;

function sharedRead(
  pubsub: LivePubSub,
  db: DbClient,
  storyId: string,
  options: { after: number; limit: number; content: EventContent },
  notBefore: number,
): Promise<StoredEvent[]> {
  let pages = sharedPages.get(pubsub);
  if (!pages) sharedPages.set(pubsub, (pages = new Map()));
  const key = `${storyId}:${options.after}:${options.limit}:${options.content}`;
  const shared = pages.get(key);
  if (shared && shared.startedAt >= notBefore) return shared.page;
  const entry: SharedPage = { startedAt: performance.now(), page: readStream(db, storyId, options) };
  pages.set(key, entry);
  const forget = () => {
    if (pages.get(key) === entry) pages.delete(key);
  };
  // a failed read is not shared with anyone who comes later
  entry.page.then(() => setTimeout(forget, SHARED_PAGE_MS).unref(), forget);
  return entry.page;
}

/**
 * Where in the page the viewer's membership ends for good: the index of the event removing them,
 * or moving the story to the trash, when they are not a member now (one removed and invited back
 * since, or a story restored since, reads on); -1 otherwise.
 */
async function removalIn(db: DbClient, storyId: string, userId: string, page: readonly StoredEvent[]): Promise<number> {
  const index = page.findIndex((event) => (event.type === "CollaboratorRemoved" && event.payload.userId === userId) || event.type === "StoryTrashed");
  if (index === -1) return -1;
  return (await roleInStory(db, storyId, userId)) === null ? index : -1;
}

/** A story in the trash is gone as a deleted one is. */
async function storyExists(db: DbClient, storyId: string): Promise<boolean> {
  return (await db.story.findFirst({ where: { id: storyId, trashedAt: null }, select: { id: true } })) !== null;
}

/** A level-triggered wake-up: raised any number of times, consumed by one wait. */
class Signal {
  private raised = false;
  private waiter: (() => void) | null = null;
  /** when it was last raised (performance.now()): a read begun since sees what the raise announced */
  lastRaisedAt = performance.now();

  raise(): void {
    this.raised = true;
    this.lastRaisedAt = performance.now();
    this.waiter?.();
  }

  /** true when raised, false when the time ran out */
  async wait(timeoutMs: number): Promise<boolean> {
    if (!this.raised) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    const raised = this.raised;
    this.raised = false;
    return raised;
  }
}
