// Presence: setPresence, clearPresence and the storyPresence subscription — who is in a story and on
// which module, now. Ephemeral, not event-sourced (src/live/presence.ts says why and how it ends).
import { builder } from "../builder.ts";
import type { GraphQLContext, SignedInContext } from "../context.ts";
import { idOf } from "../globalIds.ts";
import { loadersForMessage, orNotFound } from "../loaders.ts";
import { roleInStory } from "../../commands/storyAccess.ts";
import { notFound } from "../../domain/errors.ts";
import { requireRole } from "../../domain/roles.ts";
import type { PresenceInitialContext } from "../../live/presence.ts";
import type { PresentMember, StoryPresenceSnapshot } from "../../live/storyPresenceFeed.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { StoryType } from "./story.ts";
import { UserType } from "./user.ts";

const StoryPresenceMemberType = builder.objectRef<PresentMember>("StoryPresenceMember").implement({
  description: "A user present in the story: once, however many tabs and devices they are present on.",
  fields: (t) => ({
    user: t.field({ type: UserType, description: "Who (their username is visible to the story's members).", resolve: (m) => m.user }),
    module: t.field({
      type: ModuleNameEnum,
      nullable: true,
      description: "The module they are on, as their latest setPresence on any connection said; null: in the story, on no module.",
      resolve: (m) => m.module,
    }),
    since: t.field({ type: "DateTime", description: "Since when they have been in the story (their earliest present connection).", resolve: (m) => m.since }),
    lastSeenAt: t.field({ type: "DateTime", description: "Their latest setPresence, on any connection.", resolve: (m) => m.lastSeenAt }),
    connections: t.exposeInt("connections", { description: "How many of their connections (tabs, devices) are present in the story." }),
  }),
});

const StoryPresenceType = builder.objectRef<StoryPresenceSnapshot>("StoryPresence").implement({
  description:
    "Who is in the story now. A storyPresence message is always the whole list (never a difference): a client replaces what it shows with it.",
  fields: (t) => ({
    story: t.field({
      type: StoryType,
      description: "The story.",
      resolve: async (p, _args, context) => orNotFound(await context.loaders.story.load(p.storyId), "story"),
    }),
    members: t.field({
      type: [StoryPresenceMemberType],
      description: "One entry per present user, the earliest to arrive first; empty when nobody is.",
      resolve: (p) => p.members,
    }),
    upToDate: t.exposeBoolean("upToDate", {
      description:
        "False while presence can't be read (its store, Redis, is not answering): members is then the last list known, " +
        "and a message with upToDate true follows once it can be read again.",
    }),
  }),
});

const SetPresenceInput = builder.inputType("SetPresenceInput", {
  description: "Where the viewer is in a story.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    module: t.field({ type: ModuleNameEnum, description: "The module the viewer is on; null or omitted: in the story, on no module." }),
  }),
});

const ClearPresenceInput = builder.inputType("ClearPresenceInput", {
  description: "The story the viewer leaves.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
  }),
});

type PresenceAnswer = { presence: StoryPresenceSnapshot; expiresAt: Date | null };

const SetPresencePayload = builder.objectRef<PresenceAnswer>("SetPresencePayload").implement({
  description: "What setPresence answers.",
  fields: (t) => ({
    presence: t.field({ type: StoryPresenceType, description: "Who is in the story now, the viewer included.", resolve: (p) => p.presence }),
    expiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description:
        "When this presence ends unless setPresence is sent again. Null over a WebSocket: it lasts as long as the socket. " +
        "Over HTTP it also lasts while a storyPresence subscription with the same token is open on the story.",
      resolve: (p) => p.expiresAt,
    }),
  }),
});

const ClearPresencePayload = builder.objectRef<PresenceAnswer>("ClearPresencePayload").implement({
  description: "What clearPresence answers.",
  fields: (t) => ({
    presence: t.field({ type: StoryPresenceType, description: "Who is in the story now.", resolve: (p) => p.presence }),
  }),
});

/** Any member may be present and see who is; a stranger gets what a missing story gets. */
async function requirePresenceAccess(context: GraphQLContext, userId: string, storyId: string): Promise<void> {
  const role = await roleInStory(context.reader, storyId, userId);
  if (role === null) throw notFound("story");
  requireRole(role, "viewer", "presence");
}

/** The WebSocket the operation came on (its presence is the socket's), or null over HTTP. */
function socketOf(context: SignedInContext) {
  return (context as SignedInContext & PresenceInitialContext).presenceSocket ?? null;
}

builder.mutationFields((t) => ({
  setPresence: t.withAuth({ signedIn: true }).field({
    type: SetPresencePayload,
    description:
      "Says the viewer is in the story, on a module or on none; storyPresence subscribers see it at once. Sent over a WebSocket, " +
      "it lasts as long as that socket (closed, or gone without a word: ended within a few seconds). Sent over HTTP, it lasts " +
      "while a storyPresence subscription with the same token is open on the story (over SSE or WebSocket; the last one closing " +
      "ends it), else until expiresAt: send it again before then. Any member may; RATE_LIMITED past the presence limits; " +
      "SERVICE_UNAVAILABLE (safe to retry) while presence's store, Redis, does not answer.",
    args: { input: t.arg({ type: SetPresenceInput, required: true, description: "The story and the module." }) },
    resolve: async (_root, { input }, context): Promise<PresenceAnswer> => {
      const storyId = idOf("Story", input.storyId);
      await requirePresenceAccess(context, context.viewer.id, storyId);
      const { expiresAt } = await context.presence.store.set(context.viewer, storyId, input.module ?? null, socketOf(context));
      return { presence: await context.presence.feeds.snapshot(storyId), expiresAt };
    },
  }),
  clearPresence: t.withAuth({ signedIn: true }).field({
    type: ClearPresencePayload,
    description: "The viewer leaves the story on this connection (a WebSocket, or the token over HTTP); their other connections stay.",
    args: { input: t.arg({ type: ClearPresenceInput, required: true, description: "The story." }) },
    resolve: async (_root, { input }, context): Promise<PresenceAnswer> => {
      const storyId = idOf("Story", input.storyId);
      await requirePresenceAccess(context, context.viewer.id, storyId);
      await context.presence.store.clear(context.viewer, storyId, socketOf(context));
      return { presence: await context.presence.feeds.snapshot(storyId), expiresAt: null };
    },
  }),
}));

builder.subscriptionField("storyPresence", (t) =>
  t.withAuth({ signedIn: true }).field({
    type: StoryPresenceType,
    description:
      "Who is in the story and on which module: the whole list at once when subscribing, then again whenever it changes " +
      "(someone arrives, leaves, changes module, or sets presence again). Watching does not make the viewer present " +
      "(setPresence does), but keeps the viewer's HTTP presence in the story alive. Ends with NOT_FOUND when the story is " +
      "deleted or the viewer is no longer a member.",
    args: { storyId: t.arg.id({ required: true, description: "The story's global id." }) },
    subscribe: async (_root, args, context) => {
      const storyId = idOf("Story", args.storyId);
      await requirePresenceAccess(context, context.viewer.id, storyId);
      return context.presence.feeds.subscribe(context.viewer, storyId);
    },
    resolve: (snapshot, _args, context) => {
      context.loaders = loadersForMessage(context.db, context.viewer, `presence:${snapshot.version}`); // each list reads the story afresh
      return snapshot;
    },
  }),
);
