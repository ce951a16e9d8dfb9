// Story: its fields, the viewer's story list, and creating, updating and deleting stories (to the
// trash, restored from it, or purged for good).
import { builder } from "../builder.ts";
import { PUBLIC } from "../closedByDefault.ts";
import { loadAll, orNotFound, outsideTrash } from "../loaders.ts";
import type { GraphQLContext, SignedInContext } from "../context.ts";
import type { Story } from "../../generated/prisma/client.ts";
import { LIMITS, moduleByName } from "../../domain/catalogue.ts";
import { newStoryIds, runStoryCommand, type StoryCommandResult } from "../../commands/storyCommands.ts";
import { purgeStory, restoreStory, trashStory } from "../../commands/trashCommands.ts";
import type { StoryCommand } from "../../domain/story.ts";
import { readStream } from "../../eventstore/eventStore.ts";
import { encodeGlobalId, idOf } from "../globalIds.ts";
import { notFound } from "../../domain/errors.ts";
import { clearLoaders, primeFromCommand, versionKey } from "../loaders.ts";
import { connectionOf, CURSOR_SHAPES, decodeCursor, encodeCursor, EVENTS_PAGE, MAX_PAGE, PAGE_ARGUMENTS, pageSize } from "./paging.ts";
import { UserType } from "./user.ts";
import { ModuleNameEnum, StoryModuleType } from "./storyModule.ts";
import { StoryVersionType, versionsConnection, VersionConnection } from "./storyVersion.ts";
import { StoryEventType } from "./storyEvent.ts";
import { MetadataType, metadataOf } from "./metadata.ts";

export const StoryType = builder.objectRef<Story>("Story");

builder.node(StoryType, {
  description: "A story project, developed through five modules.",
  id: { resolve: (story) => story.id },
  loadMany: (ids, context) => loadAll(context.loaders.story, ids),
  fields: (t) => ({
    title: t.exposeString("title", { description: "The story's title; never empty." }),
    logline: t.exposeString("logline", { nullable: true, description: "The story in a sentence, as the writer gave it." }),
    genre: t.exposeString("genre", { nullable: true, description: "The story's genre, as the writer named it." }),
    isComplete: t.exposeBoolean("isComplete", { description: "Whether the writer marked the story complete." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the story was created." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the story last changed: its last event." }),
    revision: t.exposeInt("revision", { description: "The seq of the story's last event." }),
    owner: t.field({
      type: UserType,
      description: "The writer whose story it is.",
      resolve: async (story, _args, context) => orNotFound(await context.loaders.user.load(story.userId), "user"),
    }),
    activeVersion: t.field({
      type: StoryVersionType,
      description: "The version the modules show now; undo and redo move it.",
      resolve: (story, _args, context) => activeVersionOf(context, story),
    }),
    modules: t.field({
      type: [StoryModuleType],
      description: "All five modules, in order.",
      resolve: (story, _args, context) => context.loaders.modulesOfStory.load(story.id),
    }),
    module: t.field({
      type: StoryModuleType,
      description: "One of the five modules.",
      args: { name: t.arg({ type: ModuleNameEnum, required: true, description: "Which module." }) },
      resolve: async (story, { name }, context) => {
        const modules = await context.loaders.modulesOfStory.load(story.id);
        const found = modules.find((m) => m.moduleName === moduleByName(name)?.moduleName);
        return orNotFound(found, "module");
      },
    }),
    versions: t.field({
      type: VersionConnection,
      description: "Every version, newest first; only the labeled ones with `labeled: true`.",
      args: {
        first: t.arg.int({ description: PAGE_ARGUMENTS.first }),
        after: t.arg.string({ description: PAGE_ARGUMENTS.after }),
        labeled: t.arg.boolean({ description: "Only the versions with a label (labelVersion). Default false." }),
      },
      resolve: (story, args, context) => versionsConnection(context, story.id, args),
    }),
    version: t.field({
      type: StoryVersionType,
      nullable: true,
      description: "The version with this number; null when there is none.",
      args: { number: t.arg.int({ required: true, description: "A version number: 1 for the first." }) },
      resolve: (story, { number }, context) => context.loaders.versionByNumber.load(versionKey(story.id, number)),
    }),
    events: t.field({
      type: [StoryEventType],
      description: "The story's event log, oldest first: events with seq > after.",
      args: {
        after: t.arg.int({ description: "A seq: the log after this event. Default 0, the whole log." }),
        first: t.arg.int({ description: `How many events, 0 to ${MAX_PAGE}; default ${EVENTS_PAGE}.` }),
      },
      resolve: (story, { after, first }, context) =>
        readStream(context.reader, outsideTrash(story).id, { after: after ?? 0, limit: pageSize(first ?? EVENTS_PAGE) }),
    }),
    activeVersionNumber: t.exposeInt("activeVersionNumber", { description: "The number of the active version." }),
    canUndo: t.boolean({
      description:
        "Whether the viewer has a change of their own to take back (undo never takes back anyone else's). " +
        "With one writer: any active version but the first, which has no parent.",
      resolve: (story, _args, context) => hasStack(story.undoStacks, context.viewer?.id),
    }),
    canRedo: t.boolean({
      description: "Whether the viewer has an undone change to re-apply: they undid one and made no new change since.",
      resolve: (story, _args, context) => hasStack(story.redoStacks, context.viewer?.id),
    }),
    metadata: t.field({
      type: [MetadataType],
      description: "The story's metadata entries, by key.",
      resolve: (story, _args, context) => metadataOf(context, "story", story.id),
    }),
    trashedAt: t.field({
      type: "DateTime",
      nullable: true,
      description:
        "When the owner deleted the story, moving it to the trash (User.trash lists it there); null when it is not in the trash, " +
        "and for anyone but the owner.",
      resolve: (story, _args, context) => (context.viewer?.id === story.userId ? story.trashedAt : null),
    }),
    purgeAt: t.field({
      type: "DateTime",
      nullable: true,
      description:
        "When a story in the trash is erased for good unless restored first: TRASH_DAYS after trashedAt (the sweep runs hourly, " +
        "so it may go a little later). Null when it is not in the trash, and for anyone but the owner.",
      resolve: (story, _args, context) => {
        if (context.viewer?.id !== story.userId || story.trashedAt === null) return null;
        return new Date(story.trashedAt.getTime() + context.trashDays * DAY_MS);
      },
    }),
  }),
});

const DAY_MS = 24 * 60 * 60 * 1000;

export async function activeVersionOf(context: GraphQLContext, story: Story) {
  const version = story.activeVersionId ? await context.loaders.version.load(story.activeVersionId) : null;
  // a story in the trash (User.trash) shows its details only: its content is gone until restored
  if (!version && story.trashedAt !== null) throw notFound("story");
  if (!version) throw new Error(`story ${story.id} has no active version`);
  return version;
}

// public: a user's stories are in what signing up answers (none yet)
export const StoryConnection = builder.connectionObject(
  { type: StoryType, name: "StoryConnection", authScopes: PUBLIC, description: "A page of stories, newest first." },
  { authScopes: PUBLIC, description: "A story and its cursor." },
);

export async function storiesConnection(
  context: GraphQLContext,
  userId: string,
  args: { first?: number | null; after?: string | null },
) {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after, CURSOR_SHAPES.story);
  if (context.viewer?.id !== userId) return connectionOf([], 0, () => "", false);
  const rows = await context.reader.story.findMany({
    where: {
      // the stories the viewer owns and those shared with them, in any role (Story.viewerRole); none in the trash
      collaborators: { some: { userId } },
      trashedAt: null,
      ...(cursor ? { OR: [{ createdAt: { lt: new Date(cursor[0]) } }, { createdAt: new Date(cursor[0]), id: { lt: cursor[1] } }] } : {}),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: size + 1,
  });
  for (const story of rows) context.loaders.story.prime(story.id, story);
  return connectionOf(rows, size, (s) => encodeCursor([s.createdAt.toISOString(), s.id]), cursor !== null);
}

/**
 * The stories the user owns in the trash, the most recently trashed first; none for anyone but
 * the user. Not primed into the story loader: in the trash, a story is missing to every other field.
 */
export async function trashConnection(
  context: GraphQLContext,
  userId: string,
  args: { first?: number | null; after?: string | null },
) {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after, CURSOR_SHAPES.story);
  if (context.viewer?.id !== userId) return connectionOf([], 0, () => "", false);
  const rows = await context.reader.story.findMany({
    where: {
      userId,
      trashedAt: { not: null },
      ...(cursor ? { OR: [{ trashedAt: { lt: new Date(cursor[0]) } }, { trashedAt: new Date(cursor[0]), id: { lt: cursor[1] } }] } : {}),
    },
    orderBy: [{ trashedAt: "desc" }, { id: "desc" }],
    take: size + 1,
  });
  return connectionOf(rows, size, (s) => encodeCursor([s.trashedAt!.toISOString(), s.id]), cursor !== null);
}

builder.queryFields((t) => ({
  story: t.field({
    type: StoryType,
    nullable: true,
    description: "A story the viewer is a member of; null when there is none with this id, or it is not shared with the viewer.",
    args: { id: t.arg.id({ required: true, description: "The story's global id." }) },
    resolve: (_root, { id }, context) => {
      try {
        return context.loaders.story.load(idOf("Story", id));
      } catch {
        return null; // a malformed id is a missing story
      }
    },
  }),
  stories: t.withAuth({ signedIn: true }).field({
    type: StoryConnection,
    description: "The viewer's stories, newest first: those they own and those shared with them (Story.viewerRole says in what role).",
    args: { first: t.arg.int({ description: PAGE_ARGUMENTS.first }), after: t.arg.string({ description: PAGE_ARGUMENTS.after }) },
    resolve: (_root, args, context) => storiesConnection(context, context.viewer.id, args),
  }),
}));

// ------------------------------------------------------------------ mutations

/** What a content-changing mutation answers: the story, its active version after the change, and the event. */
export type StoryChange = { storyId: string; eventId: string; activeVersionNumber: number; replayed: boolean };

/** What identifies a change: enough to resolve its story, version and event. */
export type StoryChangeRef = { storyId: string; eventId: string; activeVersionNumber: number };

export const StoryChangeInterface = builder.interfaceRef<StoryChangeRef>("StoryChange").implement({
  description: "A change to a story: the story, its active version after the change, and the event that made it.",
  fields: (t) => ({
    story: t.field({
      type: StoryType,
      description: "The story as it is after the change.",
      resolve: async (change, _args, context) => orNotFound(await context.loaders.story.load(change.storyId), "story"),
    }),
    version: t.field({
      type: StoryVersionType,
      description: "The story's active version after the change.",
      resolve: async (change, _args, context) =>
        orNotFound(await context.loaders.versionByNumber.load(versionKey(change.storyId, change.activeVersionNumber)), "version"),
    }),
    event: t.field({
      type: StoryEventType,
      description: "The event the change appended to the story's log (the earlier one, when replayed).",
      resolve: async (change, _args, context) => orNotFound(await context.loaders.event.load(change.eventId), "event"),
    }),
  }),
});

export const StoryChangePayload = builder.objectRef<StoryChange>("StoryChangePayload").implement({
  description: "What a change to a story answers.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed", {
      description: "True when this answers an earlier request with the same idempotency key; nothing new was appended.",
    }),
  }),
});

type CommandArgs = { storyId: string; expectedRevision?: number | null; idempotencyKey?: string | null };

/** What the two terms of every story command mean: they make a change safe to race and to retry. */
export const COMMAND_TERMS = {
  expectedRevision:
    "The story's `revision` this change was made against: when the story has moved on since, nothing is written and the answer is " +
    "REVISION_CONFLICT with `extensions.actualRevision`. Omit to change the story as it is.",
  baseVersionNumber:
    "The version the writer's edit started from (the active version they saw). The change is refused with MODULE_CONFLICT only " +
    "when a module it writes holds other content now than in that version; `extensions` carry the module's current `output` and " +
    "`inputText`, who changed it (`changedBy`) and when (`changedAt`), the active `versionNumber`, and every such module in " +
    "`modules`. Changes to other modules since do not matter. Omit to write whatever the module holds.",
  idempotencyKey:
    "Makes a retry safe: the same key sent again for the same story with the same request appends nothing and answers the first " +
    "result (`replayed: true`); with another request it is BAD_USER_INPUT. Any string of the client's choosing, one per change " +
    "(e.g. a UUID).",
  newStoryIdempotencyKey:
    "Makes a retry safe: the same key sent again by the same writer with the same request makes nothing new and answers the " +
    "story the first made (`replayed: true`; NOT_FOUND once that story is in the trash); with another request it is " +
    "BAD_USER_INPUT. Keys are the writer's own: another writer's same key makes their own story. E.g. a UUID.",
} as const;

/** Whether the user's undo or redo stack (a story row's `undo_stacks` or `redo_stacks`) holds a change. */
function hasStack(stacks: unknown, userId: string | undefined): boolean {
  if (userId === undefined || typeof stacks !== "object" || stacks === null) return false;
  const stack = (stacks as Record<string, unknown>)[userId];
  return Array.isArray(stack) && stack.length > 0;
}

/**
 * The command's `baseVersionNumber`, when the client gave one: absent otherwise, so that a
 * command without one is the same request (idempotency key fingerprint) as before there were bases.
 */
export function baseOf(input: { baseVersionNumber?: number | null }): { baseVersionNumber?: number } {
  return input.baseVersionNumber === null || input.baseVersionNumber === undefined ? {} : { baseVersionNumber: input.baseVersionNumber };
}

/** Runs a story command for the viewer and shapes its answer. */
export async function changeStory(
  context: SignedInContext,
  args: CommandArgs,
  command: StoryCommand,
): Promise<StoryChange> {
  const result = await runStoryCommand(context, {
    storyId: args.storyId,
    actorId: context.viewer.id,
    command,
    expectedRevision: args.expectedRevision ?? null,
    idempotencyKey: args.idempotencyKey ?? null,
  });
  return storyChangeOf(context, result);
}

/** A command's result as a mutation answers it; what it wrote is what the request reads next. */
export function storyChangeOf(context: SignedInContext, result: StoryCommandResult): StoryChange {
  clearLoaders(context.loaders);
  if (result.after) primeFromCommand(context.loaders, result.after, result.events);
  return {
    storyId: result.storyId,
    eventId: result.event.id,
    activeVersionNumber: result.event.activeVersionNumber,
    replayed: result.replayed,
  };
}

const CreateStoryInput = builder.inputType("CreateStoryInput", {
  description: "A new story.",
  fields: (t) => ({
    title: t.string({ required: true, description: `Not empty once trimmed; at most ${LIMITS.titleChars} characters.` }),
    logline: t.string({ description: `The story in a sentence; at most ${LIMITS.loglineChars} characters.` }),
    genre: t.string({ description: `At most ${LIMITS.genreChars} characters.` }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.newStoryIdempotencyKey }),
  }),
});

const UpdateStoryInput = builder.inputType("UpdateStoryInput", {
  description: "New details of a story: each field given is changed, each omitted is left as it is.",
  fields: (t) => ({
    id: t.id({ required: true, description: "The story's global id." }),
    title: t.string({ description: `Not empty once trimmed; at most ${LIMITS.titleChars} characters. Null leaves it.` }),
    logline: t.string({ description: `At most ${LIMITS.loglineChars} characters. Null removes it.` }),
    genre: t.string({ description: `At most ${LIMITS.genreChars} characters. Null removes it.` }),
    isComplete: t.boolean({ description: "Marks the story complete, or not. Null leaves it." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const DeleteStoryInput = builder.inputType("DeleteStoryInput", {
  description: "The story to delete.",
  fields: (t) => ({ id: t.id({ required: true, description: "The story's global id." }) }),
});

const DeleteStoryPayload = builder.objectRef<{ deletedStoryId: string }>("DeleteStoryPayload").implement({
  description: "What deleting a story answers.",
  fields: (t) => ({ deletedStoryId: t.exposeID("deletedStoryId", { description: "The global id of the story deleted." }) }),
});

const RestoreStoryInput = builder.inputType("RestoreStoryInput", {
  description: "The story to bring back from the trash.",
  fields: (t) => ({ id: t.id({ required: true, description: "The story's global id (as User.trash lists it)." }) }),
});

const PurgeStoryInput = builder.inputType("PurgeStoryInput", {
  description: "The story in the trash to erase for good.",
  fields: (t) => ({ id: t.id({ required: true, description: "The story's global id (as User.trash lists it)." }) }),
});

const PurgeStoryPayload = builder.objectRef<{ purgedStoryIds: string[] }>("PurgeStoryPayload").implement({
  description: "What purging a story answers.",
  fields: (t) => ({
    purgedStoryIds: t.exposeIDList("purgedStoryIds", { description: "The global ids of the stories erased: the story, and those that went to the trash with it." }),
  }),
});

builder.mutationFields((t) => ({
  createStory: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Makes a story of the viewer's, at version 1: five empty modules.",
    args: { input: t.arg({ type: CreateStoryInput, required: true, description: "The new story." }) },
    resolve: async (_root, { input }, context) => {
      const actorId = context.viewer.id;
      const { storyId, versionId, moduleIds } = newStoryIds({ actorId, idempotencyKey: input.idempotencyKey });
      const details = { title: input.title, logline: input.logline ?? null, genre: input.genre ?? null };
      const result = await runStoryCommand(context, {
        storyId,
        actorId,
        command: { type: "CreateStory", ownerId: actorId, ...details, versionId, moduleIds },
        idempotencyKey: input.idempotencyKey ?? null,
        // what the writer asked, without the ids made up for it
        requestIdentity: { type: "CreateStory", ...details },
      });
      return storyChangeOf(context, result);
    },
  }),
  updateStory: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Changes the story's details; makes no new version.",
    args: { input: t.arg({ type: UpdateStoryInput, required: true, description: "The story and its new details." }) },
    resolve: (_root, { input }, context) => {
      const details: Record<string, unknown> = {};
      for (const field of ["title", "logline", "genre", "isComplete"] as const) {
        if (input[field] !== undefined) details[field] = input[field];
      }
      if (details.title === null) delete details.title; // title cannot be removed; null means "leave it"
      if (details.isComplete === null) delete details.isComplete;
      return changeStory(context, { ...input, storyId: idOf("Story", input.id) }, { type: "ChangeStoryDetails", details });
    },
  }),
  deleteStory: t.withAuth({ signedIn: true }).field({
    type: DeleteStoryPayload,
    description:
      "Moves the story to the trash: the owner only (FORBIDDEN for other members). There it is a missing story to everyone, the " +
      "owner included, and its open subscriptions end with NOT_FOUND; User.trash lists it. restoreStory brings it back as it was; " +
      "purgeStory, or TRASH_DAYS later the server, erases it for good. A story already in the trash is NOT_FOUND.",
    args: { input: t.arg({ type: DeleteStoryInput, required: true, description: "The story to delete." }) },
    resolve: async (_root, { input }, context) => {
      await trashStory(context, idOf("Story", input.id), context.viewer.id);
      clearLoaders(context.loaders);
      return { deletedStoryId: input.id };
    },
  }),
  restoreStory: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description:
      "Brings a story back from the trash as it was: its content, versions, members, comments and undo history. The owner only " +
      "(FORBIDDEN for other members; NOT_FOUND for anyone else). BAD_USER_INPUT on `id` when the story is not in the trash.",
    args: { input: t.arg({ type: RestoreStoryInput, required: true, description: "The story to restore." }) },
    resolve: async (_root, { input }, context) => {
      const result = await restoreStory(context, idOf("Story", input.id), context.viewer.id);
      clearLoaders(context.loaders);
      if (result.after) primeFromCommand(context.loaders, result.after, result.events);
      return { storyId: result.storyId, eventId: result.event.id, activeVersionNumber: result.event.activeVersionNumber, replayed: false };
    },
  }),
  purgeStory: t.withAuth({ signedIn: true }).field({
    type: PurgeStoryPayload,
    description:
      "Erases a story in the trash for good, with its whole history, comments, members, metadata and generations (spend and usage " +
      "figures stay, without it). The owner only (FORBIDDEN for other members; NOT_FOUND for anyone else). BAD_USER_INPUT on `id` " +
      "when the story is not in the trash: deleteStory first.",
    args: { input: t.arg({ type: PurgeStoryInput, required: true, description: "The story to purge." }) },
    resolve: async (_root, { input }, context) => {
      const purged = await purgeStory(context, idOf("Story", input.id), context.viewer.id);
      clearLoaders(context.loaders);
      return { purgedStoryIds: purged.map((id) => encodeGlobalId("Story", id)) };
    },
  }),
}));
