// Live messages between the server processes: in-process, or through Redis when
// REDIS_URL is set, so a write served by one instance reaches subscribers of another.
import { setMaxListeners } from "node:events";
import { createPubSub, type PubSub, type PubSubEventTarget } from "graphql-yoga";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { Redis } from "ioredis";
import type { ModuleName } from "../domain/catalogue.ts";

/** One appended event: a wake-up for feeds and the modules it changed. Subscribers read the data afresh. */
export type StoryAppended = {
  storyId: string;
  eventId: string;
  seq: number;
  type: string;
  activeVersionNumber: number;
  modules: ModuleName[];
};

/** The story is gone: its subscriptions end with NOT_FOUND. Sent on every topic of the story. */
export type StoryDeleted = { storyId: string; deleted: true };

export type StoryChanged = StoryAppended | StoryDeleted;

/** A generation's draft as it streams; the last message has done: true (and an error when it failed). */
export type ModuleDraft = {
  storyId: string;
  generationId: string;
  module: ModuleName;
  /** 1, or 2 for the repair attempt (whose text starts afresh) */
  attempt: number;
  delta: string;
  text: string;
  done: boolean;
  error: { code: string; message: string } | null;
};

export type LiveTopics = {
  storyChanged: [storyId: string, message: StoryChanged];
  moduleDraft: [storyId: string, message: ModuleDraft | StoryDeleted];
  /** asks whichever instance runs the generation to stop it */
  generationCancelled: [message: { generationId: string }];
};
export type LivePubSub = PubSub<LiveTopics>;

export function isStoryDeleted(message: StoryChanged | ModuleDraft): message is StoryDeleted {
  return "deleted" in message && message.deleted === true;
}

export type LiveMessaging = {
  pubsub: LivePubSub;
  /** listeners now attached, all topics together: zero once every subscriber has left */
  listenerCount(): number;
  close(): Promise<void>;
};

export function createLiveMessaging(redisUrl: string | undefined): LiveMessaging {
  if (!redisUrl) {
    const target = new EventTarget();
    // a popular story has many subscribers on one topic; the subscription caps bound them, not Node's leak warning
    setMaxListeners(0, target);
    const counted = countingListeners(target);
    return { pubsub: createPubSub<LiveTopics>({ eventTarget: counted.target }), listenerCount: counted.count, close: async () => {} };
  }
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false });
  const counted = countingListeners(createRedisEventTarget<CustomEvent>({ publishClient, subscribeClient }));
  return {
    pubsub: createPubSub<LiveTopics>({ eventTarget: counted.target }),
    listenerCount: counted.count,
    async close() {
      // quit, not disconnect: unsubscribes still on their way are answered first
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}

/** Counts the listeners a target holds, so a test (or an operator) can see that nothing is left behind. */
function countingListeners(target: PubSubEventTarget<LiveTopics>) {
  let listeners = 0;
  const counted: PubSubEventTarget<LiveTopics> = {
    addEventListener(type, callback) {
      if (callback) listeners++;
      target.addEventListener(type, callback);
    },
    removeEventListener(type, callback) {
      if (callback) listeners--;
      target.removeEventListener(type, callback);
    },
    dispatchEvent: (event) => target.dispatchEvent(event),
  };
  return { target: counted, count: () => listeners };
}
