// storyActivity: one subscription for everything that happens in a story — comments, membership
// changes and content changes — each saying who did it and when.
import { builder } from "../builder.ts";
import { loadersForMessage, orNotFound } from "../loaders.ts";
import { idOf } from "../globalIds.ts";
import { roleInStory } from "../../commands/storyAccess.ts";
import { notFound } from "../../domain/errors.ts";
import type { CommentEventType } from "../../domain/comments.ts";
import { retryingLostConnections } from "../../database/connectionErrors.ts";
import { storyActivityFeed, type StoryActivityItem } from "../../live/storyActivityFeed.ts";
import { StoryType } from "./story.ts";
import { StoryEventType } from "./storyEvent.ts";
import { StoryCommentType } from "./comment.ts";
import { UserType } from "./user.ts";

const StoryActivityKindEnum = builder.enumType("StoryActivityKind", {
  description: "What kind of thing happened in a story.",
  values: {
    CONTENT: { description: "The story's content or details changed: an event of its log (write, clear, undo, redo, restore, label, details, a branch merged in, the story made as a branch)." },
    MEMBERSHIP: { description: "Who is in the story changed: an invitation, a role, someone leaving or removed, a new owner." },
    COMMENT: { description: "A comment was made, replied to, edited, deleted, resolved or reopened." },
  } as const,
});

/** What each comment event did, as the CommentAction enum names it. */
const COMMENT_ACTIONS = {
  CommentAdded: "ADDED",
  CommentEdited: "EDITED",
  CommentDeleted: "DELETED",
  CommentResolved: "RESOLVED",
  CommentReopened: "REOPENED",
} as const satisfies Record<CommentEventType, string>;

const CommentActionEnum = builder.enumType("CommentAction", {
  description: "What was done to a comment.",
  values: {
    ADDED: { description: "Made: a new thread, or a reply (its `parent` is set)." },
    EDITED: { description: "Its body changed." },
    DELETED: { description: "Deleted." },
    RESOLVED: { description: "Its thread was resolved." },
    REOPENED: { description: "Its thread was reopened." },
  } as const,
});

const StoryActivityType = builder.objectRef<StoryActivityItem>("StoryActivity").implement({
  description: "Something that happened in a story: what kind, who did it and when, and the comment or event it concerns.",
  fields: (t) => ({
    kind: t.field({ type: StoryActivityKindEnum, description: "What kind of thing happened.", resolve: (item) => item.kind }),
    actor: t.field({
      type: UserType,
      nullable: true,
      description: "Who did it (their username; never their email); null when that account is gone.",
      resolve: (item, _args, context) => (item.actorId === null ? null : context.loaders.storyPeer.load(item.actorId)),
    }),
    at: t.field({ type: "DateTime", description: "When it happened.", resolve: (item) => item.at }),
    story: t.field({
      type: StoryType,
      description: "The story.",
      resolve: async (item, _args, context) => orNotFound(await context.loaders.story.load(item.storyId), "story"),
    }),
    comment: t.field({
      type: StoryCommentType,
      nullable: true,
      description: "For COMMENT: the comment, as it is now (for resolve and reopen, the thread's first comment).",
      resolve: (item, _args, context) => (item.kind === "COMMENT" ? context.loaders.comment.load(item.commentId) : null),
    }),
    commentAction: t.field({
      type: CommentActionEnum,
      nullable: true,
      description: "For COMMENT: what was done to the comment.",
      resolve: (item) => (item.kind === "COMMENT" ? COMMENT_ACTIONS[item.commentEvent] : null),
    }),
    event: t.field({
      type: StoryEventType,
      nullable: true,
      description: "For CONTENT and MEMBERSHIP: the event of the story's log.",
      resolve: (item, _args, context) => (item.kind === "COMMENT" ? null : context.loaders.event.load(item.id)),
    }),
  }),
});

builder.subscriptionField("storyActivity", (t) =>
  t.withAuth({ signedIn: true }).field({
    type: StoryActivityType,
    description:
      "Everything that happens in the story from now on — comments, membership changes and content changes — each with who did it " +
      "and when; each story event and each comment event once, each stream in order. NOT_FOUND for a story that is not there or not " +
      "shared with the viewer; ends with NOT_FOUND when the story is deleted.",
    args: { storyId: t.arg.id({ required: true, description: "The story's global id." }) },
    subscribe: async (_root, args, context) => {
      const storyId = idOf("Story", args.storyId);
      // any member may watch; a stranger gets what a missing story gets
      if ((await roleInStory(context.db.prisma, storyId, context.viewer.id)) === null) throw notFound("story");
      return storyActivityFeed(retryingLostConnections(context.db.prisma), context.pubsub, storyId, { userId: context.viewer.id });
    },
    resolve: (item, _args, context) => {
      context.loaders = loadersForMessage(context.db, context.viewer, item.id); // each message reads afresh
      return item;
    },
  }),
);
