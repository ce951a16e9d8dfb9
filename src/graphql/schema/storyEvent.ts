// StoryEvent: one entry of a story's append-only log.
import { builder } from "../builder.ts";
import { loadAll } from "../loaders.ts";
import type { StoredEvent } from "../../eventstore/eventStore.ts";
import { UserType } from "./user.ts";

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
