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
  /** a CollaboratorRemoved's member: their live messages of the story end (see storyMessages.ts) */
  removedMember?: string;
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
  /** who asked for the generation (absent in messages of servers from before it was sent) */
  actorId?: string | null;
  /** an alternative draft's branch, which its output is written to (absent otherwise) */
  branchId?: string | null;
};

/** One appended comment event (src/eventstore/commentStream.ts): a wake-up for comment feeds. */
export type StoryCommentAppended = { storyId: string; eventId: string; seq: number; type: string; commentId: string };

export type LiveTopics = {
  storyChanged: [storyId: string, message: StoryChanged];
  /** a story's comment stream, apart from its events: comments never wake the story's feeds */
  storyComments: [storyId: string, message: StoryCommentAppended | StoryDeleted];
  moduleDraft: [storyId: string, message: ModuleDraft | StoryDeleted];
  /** someone's presence in the story changed (src/live/presence.ts): its subscribers read it again */
  presenceChanged: [storyId: string, message: { storyId: string }];
  /** asks whichever instance runs the generation to stop it */
  generationCancelled: [message: { generationId: string }];
  /**
   * This instance only, never through Redis: its connection to Redis is back (and its channels
   * subscribed again), so messages may have been missed meanwhile: feeds re-read the log.
   */
  brokerReconnected: [message: { at: number }];
};
export type LivePubSub = PubSub<LiveTopics>;

export function isStoryDeleted(message: StoryChanged | ModuleDraft | StoryCommentAppended): message is StoryDeleted {
  return "deleted" in message && message.deleted === true;
}

export type LiveMessaging = {
  pubsub: LivePubSub;
  /** listeners now attached, all topics together: zero once every subscriber has left */
  listenerCount(): number;
  /** publishes Redis refused or could not take (the writes were unaffected; subscribers recover from the log) */
  publishFailures(): number;
  /** Resolves when Redis answers a PING within the time, rejects otherwise; in-process messaging always answers. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
};

/** Redis errors are logged at most this often (ioredis reports every reconnection attempt). */
const REDIS_ERROR_LOG_MS = 10_000;

/** Reconnection attempts back off up to this interval, and never stop. */
const REDIS_RECONNECT_MAX_MS = 2_000;

export function createLiveMessaging(
  redisUrl: string | undefined,
  onError: (message: string, error: unknown) => void = (message, error) => console.warn(message, error instanceof Error ? error.message : error),
): LiveMessaging {
  if (!redisUrl) {
    const target = new EventTarget();
    // a popular story has many subscribers on one topic; the subscription caps bound them, not Node's leak warning
    setMaxListeners(0, target);
    const counted = countingListeners(target);
    return {
      pubsub: createPubSub<LiveTopics>({ eventTarget: counted.target }),
      listenerCount: counted.count,
      publishFailures: () => 0,
      ping: async () => {},
      close: async () => {},
    };
  }
  const retryStrategy = (attempt: number) => Math.min(attempt * 100, REDIS_RECONNECT_MAX_MS);
  // Publishes are never on a write's path: queued only until the first connection (so a server's
  // first writes are not lost to a connection still opening), then refused at once while Redis is
  // away rather than piling up in memory; subscribers catch up from the log.
  const publishClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3, retryStrategy });
  publishClient.once("ready", () => {
    publishClient.options.enableOfflineQueue = false;
  });
  // (un)subscribes wait for the connection however long it takes: there are few, bounded by the subscription caps
  const subscribeClient = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: null, retryStrategy, autoResubscribe: true });
  // the event target sends its commands without waiting for them: a failure must be logged, never left unhandled
  const report = onceEvery(REDIS_ERROR_LOG_MS, (error: unknown) => onError("live messages through Redis failed", error));
  let publishFailures = 0;
  const publishFailed = (error: unknown) => {
    publishFailures++;
    report(error);
  };
  // ioredis emits "error" at every reconnection attempt (and prints "[ioredis] Unhandled error
  // event" itself where no one listens): an outage is one line when it starts and one when it ends
  const where = redisAddress(redisUrl);
  let down = false;
  let lastFailure = "";
  const connectionFailed = (error: unknown) => {
    if (!isUnreachable(error)) return report(error);
    lastFailure = reasonOf(error);
    if (down) return;
    down = true;
    onError(`Redis at ${where} unreachable (${reasonOf(error)}); retrying with back-off up to ${REDIS_RECONNECT_MAX_MS / 1000} s, live messages stay in this instance meanwhile`, undefined);
  };
  for (const client of [publishClient, subscribeClient]) client.on("error", connectionFailed);
  publishClient.on("ready", () => {
    if (!down) return;
    down = false;
    onError(`Redis at ${where} answers again`, undefined);
  });
  const reconnected = new EventTarget();
  setMaxListeners(0, reconnected);
  subscribeClient.on("ready", () => {
    // (the first connection too: subscribers that came before it may have missed messages)
    // ioredis has sent the channels' SUBSCRIBE again; the PING's answer comes after theirs, so once it is
    // here, every message from now on arrives, and what was missed is in the log
    subscribeClient
      .ping()
      .then(() => reconnected.dispatchEvent(new CustomEvent("brokerReconnected", { detail: { at: Date.now() } })))
      .catch(report);
  });
  const counted = countingListeners(
    localTopic(
      "brokerReconnected",
      reconnected,
      createRedisEventTarget<CustomEvent>({
        publishClient: catching(publishClient, { publish: publishFailed, subscribe: report, unsubscribe: report }),
        subscribeClient: catching(subscribeClient, { publish: report, subscribe: report, unsubscribe: report }),
      }),
    ),
  );
  return {
    pubsub: createPubSub<LiveTopics>({ eventTarget: counted.target }),
    listenerCount: counted.count,
    publishFailures: () => publishFailures,
    async ping(timeoutMs) {
      // down: say why at once, rather than wait in the queue of a connection being retried
      if (down) throw new Error(`unreachable (${lastFailure})`);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          publishClient.ping(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([leave(publishClient), leave(subscribeClient)]);
    },
  };
}

/** How long a closing client waits for Redis to answer its QUIT. */
const QUIT_WAIT_MS = 1_000;

/**
 * Quit, not disconnect, when connected: unsubscribes still on their way are answered first. While
 * Redis is away a QUIT would wait in the offline queue for ever: then, and after a while, just disconnect.
 */
async function leave(client: Redis): Promise<void> {
  if (client.status === "ready") {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, QUIT_WAIT_MS)))]);
    clearTimeout(timer);
  }
  client.disconnect();
}

/** The target, except that one topic stays in this process (on `local`). */
function localTopic(topic: string, local: PubSubEventTarget<LiveTopics>, target: PubSubEventTarget<LiveTopics>): PubSubEventTarget<LiveTopics> {
  return {
    addEventListener: (type, callback) => (type === topic ? local.addEventListener(type, callback) : target.addEventListener(type, callback)),
    removeEventListener: (type, callback) =>
      type === topic ? local.removeEventListener(type, callback) : target.removeEventListener(type, callback),
    dispatchEvent: (event) => (event.type === topic ? local.dispatchEvent(event) : target.dispatchEvent(event)),
  };
}

type Unawaited = "publish" | "subscribe" | "unsubscribe";

/** The client, with the commands the event target sends unawaited answering their failures to `reports`. */
function catching(client: Redis, reports: Record<Unawaited, (error: unknown) => void>): Redis {
  const isUnawaited = (name: string): name is Unawaited => Object.hasOwn(reports, name);
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== "string" || !isUnawaited(property) || typeof value !== "function") return value;
      const report = reports[property];
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(target, args);
          if (result instanceof Promise) result.catch(report);
          return result;
        } catch (error) {
          report(error); // never into the caller: a write's answer does not depend on its announcement
          return undefined;
        }
      };
    },
  });
}

/** host:port of a Redis URL, never its password. */
function redisAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 6379}`;
  } catch {
    return "(REDIS_URL)";
  }
}

/** Errors that say Redis can't be reached (as opposed to one command failing). */
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE"]);

function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === "string" && UNREACHABLE.has(code)) || (error instanceof Error && /connect ETIMEDOUT|Connection is closed/.test(error.message));
}

/** The short reason: an errno code when there is one. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return error instanceof Error ? error.message : String(error);
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
