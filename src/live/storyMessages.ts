// A story's live messages of one topic for one subscriber, as a Repeater: the client leaving
// stops it at once (an async generator's return() would wait behind its pending next()),
// and the story's deletion ends it with NOT_FOUND.
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
): AsyncIterableIterator<Out> {
  return new Repeater<Out>(async (push, stop) => {
    const source = topic === "storyChanged" ? pubsub.subscribe("storyChanged", storyId) : pubsub.subscribe("moduleDraft", storyId);
    const messages = (source as AsyncIterable<StoryTopic[Topic] | StoryDeleted>)[Symbol.asyncIterator]();
    let stopped = false;
    // ending the pubsub subscription removes its listener and wakes the loop below
    void stop.then(() => {
      stopped = true;
      void messages.return?.();
    });
    try {
      for (;;) {
        const next = await messages.next();
        if (next.done) return;
        if (isStoryDeleted(next.value)) throw notFound("story");
        for (const value of select(next.value)) await push(value);
      }
    } catch (error) {
      if (!stopped) throw error; // after the client left, nobody is there to tell
    } finally {
      await messages.return?.();
    }
  });
}
