// StoryComment: comments on a story, a module or a field of a module's output, in threads; the
// comment mutations; Story.comments and StoryModule.comments. The rules are the comment decider's
// (src/domain/comments.ts); the stream and its handler are src/commands/commentCommands.ts.
import { builder } from "../builder.ts";
import { loadAll, orNotFound, clearLoaders, outsideTrash } from "../loaders.ts";
import type { GraphQLContext, SignedInContext } from "../context.ts";
import type { StoryComment } from "../../generated/prisma/client.ts";
import { MODULES, moduleByName, type JsonObject } from "../../domain/catalogue.ts";
import { COMMENT_LIMITS, isDetached } from "../../domain/comments.ts";
import { notFound } from "../../domain/errors.ts";
import { runCommentCommand, type CommentRequest } from "../../commands/commentCommands.ts";
import { COMMENT_SELECT, commentRow } from "../../projection/commentRows.ts";
import { decodeGlobalId, idOf } from "../globalIds.ts";
import { connectionOf, CURSOR_SHAPES, DEFAULT_PAGE, decodeCursor, encodeCursor, MAX_PAGE, PAGE_ARGUMENTS, pageSize } from "./paging.ts";
import { COMMAND_TERMS, StoryType } from "./story.ts";
import { ModuleNameEnum, StoryModuleType } from "./storyModule.ts";
import { UserType } from "./user.ts";

export const StoryCommentType = builder.objectRef<StoryComment>("StoryComment");

const byModuleName = new Map<string, (typeof MODULES)[number]>(MODULES.map((m) => [m.moduleName, m]));

const CommentRangeType = builder.objectRef<{ start: number; end: number }>("CommentRange").implement({
  description: "A character range of a string field: UTF-16 code units (as JavaScript counts them), `end` exclusive.",
  fields: (t) => ({
    start: t.exposeInt("start", { description: "The first character's offset." }),
    end: t.exposeInt("end", { description: "The offset just past the last character." }),
  }),
});

/** The root of a comment's thread: itself, or the comment it replies to. */
async function threadRoot(comment: StoryComment, context: GraphQLContext): Promise<StoryComment> {
  if (comment.parentId === null) return comment;
  return orNotFound(await context.loaders.comment.load(comment.parentId), "comment");
}

builder.node(StoryCommentType, {
  description:
    "A comment on a story, on one of its modules, or on a field of a module's output (optionally a character range of it), " +
    "made on a version. Threads are one level deep: replies belong to the thread's first comment.",
  id: { resolve: (comment) => comment.id },
  loadMany: (ids, context) => loadAll(context.loaders.comment, ids),
  fields: (t) => ({
    story: t.field({
      type: StoryType,
      description: "The story commented on.",
      resolve: async (comment, _args, context) => orNotFound(await context.loaders.story.load(comment.storyId), "story"),
    }),
    module: t.field({
      type: ModuleNameEnum,
      nullable: true,
      description: "The module commented on; null for a comment on the whole story.",
      resolve: (comment) => (comment.moduleName === null ? null : byModuleName.get(comment.moduleName)!.name),
    }),
    fieldPath: t.exposeString("fieldPath", {
      nullable: true,
      description: "The field of the module's output commented on, e.g. `characters.0.need`; null for the whole module.",
    }),
    range: t.field({
      type: CommentRangeType,
      nullable: true,
      description: "The part of the string at `fieldPath` commented on; null for all of it.",
      resolve: (comment) => (comment.rangeStart === null || comment.rangeEnd === null ? null : { start: comment.rangeStart, end: comment.rangeEnd }),
    }),
    versionNumber: t.exposeInt("versionNumber", { description: "The story version the comment was made on (a reply: its thread's)." }),
    body: t.string({
      nullable: true,
      description: "What the comment says; null once deleted.",
      resolve: (comment) => (comment.deletedAt === null ? comment.body : null),
    }),
    author: t.field({
      type: UserType,
      nullable: true,
      description: "Who wrote it (their username; never their email); null when that account is gone.",
      resolve: (comment, _args, context) => context.loaders.storyPeer.load(comment.authorId),
    }),
    parent: t.field({
      type: StoryCommentType,
      nullable: true,
      description: "The thread's first comment, for a reply; null for a thread's first comment.",
      resolve: (comment, _args, context) => (comment.parentId === null ? null : context.loaders.comment.load(comment.parentId)),
    }),
    replies: t.field({
      type: [StoryCommentType],
      description: "The thread's replies, oldest first, deleted ones left out; empty for a reply.",
      args: { first: t.arg.int({ description: `How many replies, 0 to ${MAX_PAGE}; default ${DEFAULT_PAGE}.` }) },
      resolve: async (comment, { first }, context) =>
        comment.parentId !== null ? [] : (await context.loaders.repliesOf.load(comment.id)).slice(0, pageSize(first)),
    }),
    replyCount: t.int({
      description: "How many replies the thread has, deleted ones left out.",
      resolve: async (comment, _args, context) => (comment.parentId !== null ? 0 : (await context.loaders.repliesOf.load(comment.id)).length),
    }),
    resolved: t.boolean({
      description: "Whether the comment's thread is resolved.",
      resolve: async (comment, _args, context) => (await threadRoot(comment, context)).resolvedAt !== null,
    }),
    resolvedBy: t.field({
      type: UserType,
      nullable: true,
      description: "Who resolved the thread; null while it is open.",
      resolve: async (comment, _args, context) => {
        const root = await threadRoot(comment, context);
        return root.resolvedBy === null || root.resolvedAt === null ? null : context.loaders.storyPeer.load(root.resolvedBy);
      },
    }),
    resolvedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the thread was resolved; null while it is open.",
      resolve: async (comment, _args, context) => (await threadRoot(comment, context)).resolvedAt,
    }),
    editedAt: t.expose("editedAt", { type: "DateTime", nullable: true, description: "When its author last edited it; null if never." }),
    deleted: t.boolean({
      description: "Whether it was deleted: a deleted comment with replies stays in its thread, without its body.",
      resolve: (comment) => comment.deletedAt !== null,
    }),
    detached: t.boolean({
      description:
        "Whether its field path no longer leads anywhere in the module's current output (the field was removed or the module cleared). " +
        "The comment is kept.",
      resolve: async (comment, _args, context) => {
        if (comment.fieldPath === null) return false;
        const modules = await context.loaders.modulesOfStory.load(comment.storyId);
        const module = modules.find((m) => m.moduleName === comment.moduleName);
        return isDetached(comment, (module?.outputText ?? null) as JsonObject | null);
      },
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was made." }),
  }),
});

export const StoryCommentConnection = builder.connectionObject(
  { type: StoryCommentType, name: "StoryCommentConnection", description: "A page of comment threads, oldest first." },
  { description: "A thread's first comment and its cursor." },
);

/**
 * A story's threads (their first comments), oldest first: of one module when given, open or
 * resolved ones when `open` says. A deleted first comment is listed while its thread has replies.
 */
async function commentThreads(
  context: GraphQLContext,
  storyId: string,
  args: { open?: boolean | null; module?: string | null; first?: number | null; after?: string | null },
) {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after, CURSOR_SHAPES.comment);
  const moduleName = args.module ? (moduleByName(args.module)?.moduleName ?? null) : null;
  const open = args.open ?? null;
  const rows = await context.reader.$queryRaw<StoryComment[]>`
    SELECT ${COMMENT_SELECT} FROM story_comments c
     WHERE c.story_id = ${storyId}::uuid AND c.parent_id IS NULL
       AND (${moduleName}::text IS NULL OR c.module_name = ${moduleName}::text)
       AND (${open}::boolean IS NULL OR (c.resolved_at IS NULL) = ${open}::boolean)
       AND (c.deleted_at IS NULL OR EXISTS (SELECT 1 FROM story_comments r WHERE r.parent_id = c.id AND r.deleted_at IS NULL))
       AND (${cursor?.[0] ?? null}::timestamptz IS NULL OR (c.created_at, c.id) > (${cursor?.[0] ?? null}::timestamptz, ${cursor?.[1] ?? null}::uuid))
     ORDER BY c.created_at, c.id
     LIMIT ${size + 1}`;
  for (const row of rows) context.loaders.comment.prime(row.id, row);
  return connectionOf(rows, size, (c) => encodeCursor([c.createdAt.toISOString(), c.id]), cursor !== null);
}

const OPEN_ARGUMENT = "Only open threads (true) or only resolved ones (false); every thread when omitted.";

builder.objectField(StoryType, "comments", (t) =>
  t.field({
    type: StoryCommentConnection,
    description: "The story's comment threads (on the story and on its modules), oldest first; replies are under each.",
    args: {
      open: t.arg.boolean({ description: OPEN_ARGUMENT }),
      module: t.arg({ type: ModuleNameEnum, description: "Only the threads on this module." }),
      first: t.arg.int({ description: PAGE_ARGUMENTS.first }),
      after: t.arg.string({ description: PAGE_ARGUMENTS.after }),
    },
    resolve: (story, args, context) => commentThreads(context, outsideTrash(story).id, args),
  }),
);

builder.objectField(StoryModuleType, "comments", (t) =>
  t.field({
    type: StoryCommentConnection,
    description: "The comment threads on this module (on it and on its fields), oldest first.",
    args: {
      open: t.arg.boolean({ description: OPEN_ARGUMENT }),
      first: t.arg.int({ description: PAGE_ARGUMENTS.first }),
      after: t.arg.string({ description: PAGE_ARGUMENTS.after }),
    },
    resolve: (module, args, context) => commentThreads(context, module.storyId, { ...args, module: byModuleName.get(module.moduleName)!.name }),
  }),
);

// ------------------------------------------------------------------ mutations

const StoryCommentPayload = builder.objectRef<{ comment: StoryComment; replayed: boolean }>("StoryCommentPayload").implement({
  description: "What a comment mutation answers: the comment as it is after it (for resolve and reopen, the thread's first comment).",
  fields: (t) => ({
    comment: t.field({ type: StoryCommentType, description: "The comment.", resolve: (payload) => payload.comment }),
    replayed: t.exposeBoolean("replayed", {
      description: "True when this answers an earlier request with the same idempotency key; nothing new was appended.",
    }),
  }),
});

const CommentRangeInput = builder.inputType("CommentRangeInput", {
  description: "A character range of the string at `fieldPath`: UTF-16 code units, 0 ≤ start ≤ end ≤ the string's length.",
  fields: (t) => ({
    start: t.int({ required: true, description: "The first character's offset." }),
    end: t.int({ required: true, description: "The offset just past the last character." }),
  }),
});

const IDEMPOTENCY = COMMAND_TERMS.idempotencyKey;
const BODY = `What the comment says: not empty once trimmed, at most ${COMMENT_LIMITS.bodyChars} characters.`;
const COMMENT_ID = "The comment's global id.";

const AddCommentInput = builder.inputType("AddCommentInput", {
  description: "A new comment thread on a story, a module, or a field of a module's output. Needs the commenter role or above.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    module: t.field({ type: ModuleNameEnum, description: "The module commented on; omit for a comment on the whole story." }),
    fieldPath: t.string({
      description:
        `A field of the module's output, as dot-separated keys and indexes (e.g. \`characters.0.need\`; at most ` +
        `${COMMENT_LIMITS.fieldPathChars} characters and ${COMMENT_LIMITS.fieldPathSegments} parts). It must be in the output of the ` +
        "version commented on. Omit for the whole module.",
    }),
    range: t.field({ type: CommentRangeInput, description: "A part of the string at `fieldPath`; omit for all of it." }),
    versionNumber: t.int({ description: "The version commented on; default the story's active version." }),
    body: t.string({ required: true, description: BODY }),
    idempotencyKey: t.string({ description: IDEMPOTENCY }),
  }),
});

const ReplyToCommentInput = builder.inputType("ReplyToCommentInput", {
  description: "A reply in a comment's thread (a reply to a reply joins the same thread). Needs the commenter role or above.",
  fields: (t) => ({
    commentId: t.id({ required: true, description: COMMENT_ID }),
    body: t.string({ required: true, description: BODY }),
    idempotencyKey: t.string({ description: IDEMPOTENCY }),
  }),
});

const EditCommentInput = builder.inputType("EditCommentInput", {
  description: "A comment's new body. Only its author may edit it.",
  fields: (t) => ({
    commentId: t.id({ required: true, description: COMMENT_ID }),
    body: t.string({ required: true, description: BODY }),
    idempotencyKey: t.string({ description: IDEMPOTENCY }),
  }),
});

const commentRefInput = (name: string, description: string) =>
  builder.inputType(name, {
    description,
    fields: (t) => ({
      commentId: t.id({ required: true, description: COMMENT_ID }),
      idempotencyKey: t.string({ description: IDEMPOTENCY }),
    }),
  });

const DeleteCommentInput = commentRefInput("DeleteCommentInput", "The comment to delete: the author's own; the story's owner may delete any.");
const ResolveCommentInput = commentRefInput("ResolveCommentInput", "A comment whose thread to resolve (editor or owner).");
const ReopenCommentInput = commentRefInput("ReopenCommentInput", "A comment whose thread to reopen (editor or owner).");

/** A comment's uuid from its global id; a malformed one is as missing as a comment never made. */
function commentIdFrom(globalId: string): string {
  const decoded = decodeGlobalId(globalId);
  if (!decoded || decoded.typename !== "StoryComment") throw notFound("comment");
  return decoded.id;
}

async function runComment(context: SignedInContext, request: CommentRequest, idempotencyKey: string | null | undefined) {
  const result = await runCommentCommand(context, context.viewer.id, request, idempotencyKey ?? null);
  clearLoaders(context.loaders);
  const comment = commentRow(result.comment) as StoryComment;
  context.loaders.comment.prime(comment.id, comment);
  return { comment, replayed: result.replayed };
}

builder.mutationFields((t) => ({
  addComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description:
      "Starts a comment thread. Never changes the story's revision or versions: it never conflicts with a writer's expectedRevision. " +
      "NOT_FOUND for a story that is not there or not shared with the viewer; FORBIDDEN below the commenter role.",
    args: { input: t.arg({ type: AddCommentInput, required: true, description: "Where the comment goes and what it says." }) },
    resolve: (_root, { input }, context) =>
      runComment(
        context,
        {
          type: "AddComment",
          storyId: idOf("Story", input.storyId),
          module: input.module ?? null,
          fieldPath: input.fieldPath ?? null,
          range: input.range ?? null,
          versionNumber: input.versionNumber ?? null,
          body: input.body,
        },
        input.idempotencyKey,
      ),
  }),
  replyToComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description: "Replies in a comment's thread. FORBIDDEN below the commenter role.",
    args: { input: t.arg({ type: ReplyToCommentInput, required: true, description: "The comment replied to and the reply." }) },
    resolve: (_root, { input }, context) =>
      runComment(context, { type: "ReplyToComment", commentId: commentIdFrom(input.commentId), body: input.body }, input.idempotencyKey),
  }),
  editComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description: "Changes a comment's body: its author only (FORBIDDEN for anyone else).",
    args: { input: t.arg({ type: EditCommentInput, required: true, description: "The comment and its new body." }) },
    resolve: (_root, { input }, context) =>
      runComment(context, { type: "EditComment", commentId: commentIdFrom(input.commentId), body: input.body }, input.idempotencyKey),
  }),
  deleteComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description:
      "Deletes a comment: its author, or the story's owner (FORBIDDEN for anyone else). A deleted comment with replies stays in its " +
      "thread without its body.",
    args: { input: t.arg({ type: DeleteCommentInput, required: true, description: "The comment to delete." }) },
    resolve: (_root, { input }, context) => runComment(context, { type: "DeleteComment", commentId: commentIdFrom(input.commentId) }, input.idempotencyKey),
  }),
  resolveComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description: "Resolves a comment's thread (editor or owner; FORBIDDEN below). Resolving a resolved thread changes nothing.",
    args: { input: t.arg({ type: ResolveCommentInput, required: true, description: "A comment of the thread." }) },
    resolve: (_root, { input }, context) => runComment(context, { type: "ResolveComment", commentId: commentIdFrom(input.commentId) }, input.idempotencyKey),
  }),
  reopenComment: t.withAuth({ signedIn: true }).field({
    type: StoryCommentPayload,
    description: "Reopens a resolved thread (editor or owner; FORBIDDEN below). Reopening an open thread changes nothing.",
    args: { input: t.arg({ type: ReopenCommentInput, required: true, description: "A comment of the thread." }) },
    resolve: (_root, { input }, context) => runComment(context, { type: "ReopenComment", commentId: commentIdFrom(input.commentId) }, input.idempotencyKey),
  }),
}));
