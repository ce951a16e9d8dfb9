// StoryEvent: one entry of a story's append-only log.
import { builder } from "../builder.ts";
import { loadAll, loadersForMessage, orNotFound, viewerOf } from "../loaders.ts";
import { idOf } from "../globalIds.ts";
import { storyEventFeed } from "../../live/storyEventFeed.ts";
import type { StoredEvent } from "../../eventstore/eventStore.ts";
import { UserType } from "./user.ts";
import { retryingLostConnections } from "../../database/connectionErrors.ts";
import { publicPayload } from "../../domain/membership.ts";

export const StoryEventType = builder.objectRef<StoredEvent>("StoryEvent");

builder.node(StoryEventType, {
  description: "One entry of a story's append-only event log.",
  id: { resolve: (event) => event.id },
  loadMany: (ids, context) => loadAll(context.loaders.event, ids),
  fields: (t) => ({
    seq: t.exposeInt("seq", { description: "Position in the story's log: 1, 2, 3, … with no gaps." }),
    type: t.exposeString("type", { description: "What happened, e.g. StoryCreated, ModuleWritten, Undone." }),
    schemaVersion: t.exposeInt("schemaVersion", { description: "The version of this event type's payload shape." }),
    payload: t.field({
      type: "JSON",
      description:
        "What the event records, as its type and schema version shape it. An invitation's email and token are never shown " +
        "(the owner sees pending invitations on Story.invitations).",
      resolve: (event) => publicPayload(event.type, event.payload),
    }),
    actor: t.field({
      type: UserType,
      nullable: true,
      description:
        "Who made the change (membership changes too: who invited, accepted, removed…): a member of the story, or the viewer; " +
        "null when that user no longer shares the story with the viewer.",
      resolve: (event, _args, context) => (event.actorId ? context.loaders.user.load(event.actorId) : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the event was appended." }),
    activeVersionNumber: t.exposeInt("activeVersionNumber", { description: "The story's active version after this event." }),
  }),
});

builder.subscriptionField("storyEvents", (t) =>
  t.field({
    type: StoryEventType,
    description: "Every event of the story with seq > after, in order, then live ones: no gap, no duplicate.",
    args: {
      storyId: t.arg.id({ required: true, description: "The story's global id." }),
      after: t.arg.int({ description: "A seq: the events after it come first. Default 0: the whole log." }),
    },
    subscribe: async (_root, args, context) => {
      const storyId = idOf("Story", args.storyId);
      orNotFound(await context.loaders.story.load(storyId), "story");
      return storyEventFeed(retryingLostConnections(context.db.prisma), context.pubsub, storyId, args.after ?? 0, viewerOf(context));
    },
    resolve: (event, _args, context) => {
      context.loaders = loadersForMessage(context.db, context.viewer, event.id);
      return event;
    },
  }),
);
