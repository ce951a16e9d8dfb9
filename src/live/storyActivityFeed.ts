// What happens in a story from now on, for one subscriber: content and membership changes from
// the story's own log (storyLogFeed), comments from its comment stream, merged. Both halves read
// their log by seq and use live messages only to wake up, so a message lost or late (Redis away)
// leaves no gap; the story's deletion ends the feed with NOT_FOUND.
import { Repeater } from "graphql-yoga";
import type { DbClient } from "../database/types.ts";
import { notFound } from "../domain/errors.ts";
import { commentIdOf, type CommentEventType } from "../domain/comments.ts";
import { commentStreamRevision, readCommentStream } from "../eventstore/commentStream.ts";
import type { StoredEvent } from "../eventstore/eventStore.ts";
import { isStoryDeleted, type LivePubSub } from "./pubsub.ts";
import { storyLogFeed, type FeedViewer } from "./storyEventFeed.ts";
import { roleInStory } from "../commands/storyAccess.ts";
import { MEMBERSHIP_EVENT_TYPES as MEMBERSHIP_EVENTS } from "../domain/membership.ts";

/** The story's own events that change who is in it (design decision 1 of issue 13); every other one changes its content. */
export const MEMBERSHIP_EVENT_TYPES: ReadonlySet<string> = new Set(MEMBERSHIP_EVENTS);

export type StoryActivityItem =
  | {
      kind: "CONTENT" | "MEMBERSHIP";
      /** unique per item: the event's id */
      id: string;
      storyId: string;
      actorId: string | null;
      at: Date;
      event: StoredEvent;
    }
  | {
      kind: "COMMENT";
      id: string;
      storyId: string;
      actorId: string | null;
      at: Date;
      commentId: string;
      commentEvent: CommentEventType;
    };

/** Re-reads the comment stream this often when no message came, in case one was lost on the way. */
const SAFETY_POLL_MS = 5_000;
const PAGE = 200;

/**
 * The viewer's membership ends the feed: the story half ends at the event removing them, and the
 * comment half asks before each page it sends, so a removed member is shown no comment made after.
 */
export function storyActivityFeed(db: DbClient, pubsub: LivePubSub, storyId: string, viewer: FeedViewer): AsyncIterableIterator<StoryActivityItem> {
  const story = storyLogFeed<StoryActivityItem>(
    db,
    pubsub,
    storyId,
    "now",
    async (page) =>
      page.map((event) => ({
        kind: MEMBERSHIP_EVENT_TYPES.has(event.type) ? "MEMBERSHIP" : "CONTENT",
        id: event.id,
        storyId,
        actorId: event.actorId,
        at: event.createdAt,
        event,
      })),
    // the item shows the event through its loader: no content read per page here
    "references",
    viewer,
  );
  return Repeater.merge([story, commentFeed(db, pubsub, storyId, viewer)]) as AsyncIterableIterator<StoryActivityItem>;
}

/** The story's comment events from now on, in order, each once. */
function commentFeed(db: DbClient, pubsub: LivePubSub, storyId: string, viewer: FeedViewer): AsyncIterableIterator<StoryActivityItem> {
  return new Repeater<StoryActivityItem>(async (push, stop) => {
    // subscribe before the first read: whatever commits from here on either is read or wakes us
    const live = pubsub.subscribe("storyComments", storyId)[Symbol.asyncIterator]();
    const reconnected = pubsub.subscribe("brokerReconnected")[Symbol.asyncIterator]();
    let stopped = false;
    let deleted = false;
    let wake: (() => void) | null = null;
    let raised = false;
    const raise = () => {
      raised = true;
      wake?.();
    };
    void stop.then(() => {
      stopped = true;
      raise();
      void live.return?.();
      void reconnected.return?.();
    });
    void (async () => {
      for (;;) {
        const next = await live.next();
        if (next.done) break;
        if (isStoryDeleted(next.value)) deleted = true;
        raise();
      }
      raise();
    })();
    void (async () => {
      for (;;) {
        const next = await reconnected.next();
        if (next.done) break;
        raise();
      }
    })();
    try {
      let last = await commentStreamRevision(db, storyId);
      while (!stopped) {
        for (;;) {
          const page = await readCommentStream(db, storyId, { after: last, limit: PAGE });
          if (page.length > 0 && (await roleInStory(db, storyId, viewer.userId)) === null) throw notFound("story");
          for (const event of page) {
            if (stopped) return;
            last = event.seq;
            await push({ kind: "COMMENT", id: event.id, storyId, actorId: event.actorId, at: event.createdAt, commentId: commentIdOf(event), commentEvent: event.type });
          }
          if (page.length < PAGE) break;
        }
        if (stopped) return;
        if (deleted) throw notFound("story");
        if (!raised) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, SAFETY_POLL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
        raised = false;
      }
    } catch (error) {
      if (!stopped) throw error; // after the client left, nobody is there to tell
    } finally {
      await live.return?.();
      await reconnected.return?.();
    }
  });
}
