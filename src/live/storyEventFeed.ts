// A story's events for a subscriber: every event after a position, in order, then
// live ones, exactly once. Live messages only wake the reader; the events are always
// read from the log by seq, so a message lost or late leaves no gap. A Repeater, so the
// client leaving stops it at once, even while it waits for the next wake-up; the story's
// deletion ends it with NOT_FOUND.
import { Repeater } from "graphql-yoga";
import type { DbClient } from "../database/types.ts";
import { readStream, type StoredEvent } from "../eventstore/eventStore.ts";
import { notFound } from "../domain/errors.ts";
import { isStoryDeleted, type LivePubSub } from "./pubsub.ts";

const PAGE = 500;
/** Re-reads the log this often when no message came, in case one was lost on the way. */
const SAFETY_POLL_MS = 5_000;

export function storyEventFeed(db: DbClient, pubsub: LivePubSub, storyId: string, after: number): AsyncIterableIterator<StoredEvent> {
  return new Repeater<StoredEvent>(async (push, stop) => {
    // Subscribe before the first read: whatever commits from here on either is read or wakes us.
    const live = pubsub.subscribe("storyChanged", storyId)[Symbol.asyncIterator]();
    const wakeUp = new Signal();
    let stopped = false;
    let liveEnded = false;
    let deleted = false;
    void stop.then(() => {
      stopped = true;
      wakeUp.raise();
      void live.return?.();
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

    let last = after;
    try {
      while (!stopped) {
        for (;;) {
          const page = await readStream(db, storyId, { after: last, limit: PAGE });
          for (const event of page) {
            if (stopped) return;
            last = event.seq;
            await push(event);
          }
          if (page.length < PAGE || stopped) break;
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
    }
  });
}

async function storyExists(db: DbClient, storyId: string): Promise<boolean> {
  return (await db.story.findUnique({ where: { id: storyId }, select: { id: true } })) !== null;
}

/** A level-triggered wake-up: raised any number of times, consumed by one wait. */
class Signal {
  private raised = false;
  private waiter: (() => void) | null = null;

  raise(): void {
    this.raised = true;
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
