// StoryEvent: one entry of a story's append-only log.
import { builder } from "../builder.ts";
import { loadAll, loadersForMessage, orNotFound } from "../loaders.ts";
import { idOf } from "../globalIds.ts";
import { storyEventFeed } from "../../live/storyEventFeed.ts";
import type { StoredEvent } from "../../eventstore/eventStore.ts";
import { UserType } from "./user.ts";
import { retryingLostConnections } from "../../database/connectionErrors.ts";

export const StoryEventType = builder.objectRef<StoredEvent>("StoryEvent");

builder.node(StoryEventType, {
  description: "One entry of a story's append-only event log.",
  id: { resolve: (event) => event.id },
  loadMany: (ids, context) => loadAll(context.loaders.event, ids),
  fields: (t) => ({
    seq: t.exposeInt("seq", { description: "Position in the story's log: 1, 2, 3, … with no gaps." }),
    type: t.exposeString("type"),
    schemaVersion: t.exposeInt("schemaVersion"),
    payload: t.field({ type: "JSON", resolve: (event) => event.payload }),
    actor: t.field({
      type: UserType,
      nullable: true,
      resolve: (event, _args, context) => (event.actorId ? context.loaders.user.load(event.actorId) : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    activeVersionNumber: t.exposeInt("activeVersionNumber", { description: "The story's active version after this event." }),
  }),
});

builder.subscriptionField("storyEvents", (t) =>
  t.field({
    type: StoryEventType,
    authScopes: { signedIn: true },
    description: "Every event of the story with seq > after, in order, then live ones: no gap, no duplicate.",
    args: { storyId: t.arg.id({ required: true }), after: t.arg.int({ description: "Default 0: the whole log." }) },
    subscribe: async (_root, args, context) => {
      const storyId = idOf("Story", args.storyId);
      orNotFound(await context.loaders.story.load(storyId), "story");
      return storyEventFeed(retryingLostConnections(context.db.prisma), context.pubsub, storyId, args.after ?? 0);
    },
    resolve: (event, _args, context) => {
      context.loaders = loadersForMessage(context.db, context.viewer, event.id);
      return event;
    },
  }),
);
