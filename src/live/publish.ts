// Announces a committed command's events to the story's subscribers, one message per event.
import type { StoryCommandResult } from "../commands/storyCommands.ts";
import type { LivePubSub } from "./pubsub.ts";

export function publishStoryChanges(pubsub: LivePubSub, result: StoryCommandResult): void {
  for (const { event, modules } of result.changes) {
    pubsub.publish("storyChanged", result.storyId, {
      storyId: result.storyId,
      eventId: event.id,
      seq: event.seq,
      type: event.type,
      activeVersionNumber: event.activeVersionNumber,
      modules,
      ...(event.type === "CollaboratorRemoved" ? { removedMember: event.payload.userId } : {}),
    });
  }
}

/** Ends every subscription to the story, on every topic, with NOT_FOUND. */
export function publishStoryDeleted(pubsub: LivePubSub, storyId: string): void {
  pubsub.publish("storyChanged", storyId, { storyId, deleted: true });
  pubsub.publish("moduleDraft", storyId, { storyId, deleted: true });
  pubsub.publish("storyComments", storyId, { storyId, deleted: true });
}
