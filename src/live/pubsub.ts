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

/** Redis errors are logged at most this often (ioredis reports every reconnection attempt). */
const REDIS_ERROR_LOG_MS = 10_000;

export function createLiveMessaging(
  redisUrl: string | undefined,
  onError: (message: string, error: unknown) => void = (message, error) => console.warn(message, error instanceof Error ? error.message : error),
): LiveMessaging {
  if (!redisUrl) {
    const target = new EventTarget();
    // a popular story has many subscribers on one topic; the subscription caps bound them, not Node's leak warning
    setMaxListeners(0, target);
    const counted = countingListeners(target);
    return { pubsub: createPubSub<LiveTopics>({ eventTarget: counted.target }), listenerCount: counted.count, close: async () => {} };
  }
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false });
  // the event target sends its commands without waiting for them: a failure must be logged, never left unhandled
  const report = onceEvery(REDIS_ERROR_LOG_MS, (error: unknown) => onError("live messages through Redis failed", error));
  for (const client of [publishClient, subscribeClient]) client.on("error", report);
  const counted = countingListeners(
    createRedisEventTarget<CustomEvent>({ publishClient: catching(publishClient, report), subscribeClient: catching(subscribeClient, report) }),
  );
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

/** The client, with the commands the event target sends unawaited answering failures to `report`. */
function catching(client: Redis, report: (error: unknown) => void): Redis {
  const unawaited = new Set(["publish", "subscribe", "unsubscribe"]);
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== "string" || !unawaited.has(property) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (result instanceof Promise) result.catch(report);
        return result;
      };
    },
  });
}

function onceEvery(intervalMs: number, log: (error: unknown) => void): (error: unknown) => void {
  let last = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    log(error);
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
