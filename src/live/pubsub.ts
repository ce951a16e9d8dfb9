// Live messages between the server processes: in-process, or through Redis when
// REDIS_URL is set, so a write served by one instance reaches subscribers of another.
import { createPubSub, type PubSub } from "graphql-yoga";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { Redis } from "ioredis";
import type { ModuleName } from "../domain/catalogue.ts";

/** One appended event: a wake-up for feeds and the modules it changed. Subscribers read the data afresh. */
export type StoryChanged = {
  storyId: string;
  eventId: string;
  seq: number;
  type: string;
  activeVersionNumber: number;
  modules: ModuleName[];
};

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
  moduleDraft: [storyId: string, message: ModuleDraft];
  /** asks whichever instance runs the generation to stop it */
  generationCancelled: [message: { generationId: string }];
};
export type LivePubSub = PubSub<LiveTopics>;

export type LiveMessaging = { pubsub: LivePubSub; close(): Promise<void> };

export function createLiveMessaging(redisUrl: string | undefined): LiveMessaging {
  if (!redisUrl) return { pubsub: createPubSub<LiveTopics>(), close: async () => {} };
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false });
  const eventTarget = createRedisEventTarget<CustomEvent>({ publishClient, subscribeClient });
  return {
    pubsub: createPubSub<LiveTopics>({ eventTarget }),
    async close() {
      // quit, not disconnect: unsubscribes still on their way are answered first
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
    },
  };
}
