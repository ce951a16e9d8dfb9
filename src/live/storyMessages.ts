// A story's live messages of one topic for one subscriber, as a Repeater: the client leaving
// stops it at once (an async generator's return() would wait behind its pending next()),
// and the story's deletion ends it with NOT_FOUND, as does the removal of the member it is for.
import { Repeater } from "graphql-yoga";
import { notFound } from "../domain/errors.ts";
import { isStoryDeleted, type LivePubSub, type ModuleDraft, type StoryAppended, type StoryDeleted } from "./pubsub.ts";

type StoryTopic = { storyChanged: StoryAppended; moduleDraft: ModuleDraft };

/** Each message of the topic becomes the values `select` answers (none, one or several). */
export function storyMessages<Topic extends keyof StoryTopic, Out>(
  pubsub: LivePubSub,
  topic: Topic,
  storyId: string,
  select: (message: StoryTopic[Topic]) => Out[],
  viewer?: { readonly userId: string; readonly isMember?: () => Promise<boolean> },
): AsyncIterableIterator<Out> {
  return new Repeater<Out>(async (push, stop) => {
    const source = topic === "storyChanged" ? pubsub.subscribe("storyChanged", storyId) : pubsub.subscribe("moduleDraft", storyId);
    const messages = (source as AsyncIterable<StoryTopic[Topic] | StoryDeleted>)[Symbol.asyncIterator]();
    let stopped = false;
    let removed = false;
    // a topic other than the story's log hears of the member's removal from the log's messages
    const changes = viewer && topic !== "storyChanged" ? pubsub.subscribe("storyChanged", storyId)[Symbol.asyncIterator]() : null;
    if (changes) {
      void (async () => {
        for (;;) {
          const next = await changes.next();
          if (next.done) return;
          if (!isStoryDeleted(next.value) && next.value.removedMember === viewer!.userId) {
            removed = true;
            void messages.return?.();
            return;
          }
        }
      })();
    }
    // ending the pubsub subscription removes its listener and wakes the loop below
    void stop.then(() => {
      stopped = true;
      void messages.return?.();
      void changes?.return?.();
    });
    try {
      // listening now: a removal that came between the subscriber's check and here is asked about once
      if (viewer?.isMember && !(await viewer.isMember())) throw notFound("story");
      for (;;) {
        const next = await messages.next();
        if (removed) throw notFound("story");
        if (next.done) return;
        if (isStoryDeleted(next.value)) throw notFound("story");
        if (viewer && topic === "storyChanged" && (next.value as StoryAppended).removedMember === viewer.userId) throw notFound("story");
        for (const value of select(next.value)) await push(value);
      }
    } catch (error) {
      if (!stopped) throw error; // after the client left, nobody is there to tell
    } finally {
      await messages.return?.();
      await changes?.return?.();
    }
  });
}
