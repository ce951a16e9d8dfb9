// A story's events for a subscriber: every event after a position, in order, then
// live ones, exactly once. Live messages only wake the reader; the events are always
// read from the log by seq, so a message lost or late leaves no gap.
import type { DbClient } from "../database/types.ts";
import { readStream, type StoredEvent } from "../eventstore/eventStore.ts";
import type { LivePubSub } from "./pubsub.ts";

const PAGE = 500;
/** Re-reads the log this often when no message came, in case one was lost on the way. */
const SAFETY_POLL_MS = 5_000;

export function storyEventFeed(db: DbClient, pubsub: LivePubSub, storyId: string, after: number): AsyncGenerator<StoredEvent> {
  // Subscribe before the first read: whatever commits from here on either is read or wakes us.
  const live = pubsub.subscribe("storyChanged", storyId)[Symbol.asyncIterator]();
  const wakeUp = new Signal();
  let liveEnded = false;
  void (async () => {
    try {
      for (;;) {
        const next = await live.next();
        if (next.done) break;
        wakeUp.raise();
      }
    } finally {
      liveEnded = true;
      wakeUp.raise();
    }
  })();

  return (async function* () {
    let last = after;
    try {
      for (;;) {
        for (;;) {
          const page = await readStream(db, storyId, { after: last, limit: PAGE });
          for (const event of page) {
            last = event.seq;
            yield event;
          }
          if (page.length < PAGE) break;
        }
        if (liveEnded) return;
        await wakeUp.wait(SAFETY_POLL_MS);
      }
    } finally {
      await live.return?.();
    }
  })();
}

/** A level-triggered wake-up: raised any number of times, consumed by one wait. */
class Signal {
  private raised = false;
  private waiter: (() => void) | null = null;

  raise(): void {
    this.raised = true;
    this.waiter?.();
  }

  async wait(timeoutMs: number): Promise<void> {
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
    this.raised = false;
  }
}
