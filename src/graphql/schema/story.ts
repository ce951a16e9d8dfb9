// Story: its fields, the viewer's story list, and creating, updating and deleting stories.
import { builder } from "../builder.ts";
import { loadAll, orNotFound } from "../loaders.ts";
import type { GraphQLContext } from "../context.ts";
import type { Story } from "../../generated/prisma/client.ts";
import { moduleByName } from "../../domain/catalogue.ts";
import { deleteStory, newStoryIds, runStoryCommand } from "../../commands/storyCommands.ts";
import { canUndo, type StoryCommand } from "../../domain/story.ts";
import { readStream } from "../../eventstore/eventStore.ts";
import { publishStoryDeleted } from "../../live/publish.ts";
import { idOf } from "../globalIds.ts";
import { clearLoaders, primeFromCommand, versionKey } from "../loaders.ts";
import { connectionOf, decodeCursor, encodeCursor, EVENTS_PAGE, pageSize } from "./paging.ts";
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
    title: t.exposeString("title"),
    logline: t.exposeString("logline", { nullable: true }),
    genre: t.exposeString("genre", { nullable: true }),
    isComplete: t.exposeBoolean("isComplete"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    revision: t.exposeInt("revision", { description: "The seq of the story's last event." }),
    owner: t.field({
      type: UserType,
      resolve: async (story, _args, context) => orNotFound(await context.loaders.user.load(story.userId), "user"),
    }),
    activeVersion: t.field({
      type: StoryVersionType,
      resolve: (story, _args, context) => activeVersionOf(context, story),
    }),
    modules: t.field({
      type: [StoryModuleType],
      description: "All five modules, in order.",
      resolve: (story, _args, context) => context.loaders.modulesOfStory.load(story.id),
    }),
    module: t.field({
      type: StoryModuleType,
      args: { name: t.arg({ type: ModuleNameEnum, required: true }) },
      resolve: async (story, { name }, context) => {
        const modules = await context.loaders.modulesOfStory.load(story.id);
        const found = modules.find((m) => m.moduleName === moduleByName(name)?.moduleName);
        return orNotFound(found, "module");
      },
    }),
    versions: t.field({
      type: VersionConnection,
      description: "Every version, newest first; only the labeled ones with `labeled: true`.",
      args: { first: t.arg.int(), after: t.arg.string(), labeled: t.arg.boolean() },
      resolve: (story, args, context) => versionsConnection(context, story.id, args),
    }),
    version: t.field({
      type: StoryVersionType,
      nullable: true,
      args: { number: t.arg.int({ required: true }) },
      resolve: (story, { number }, context) => context.loaders.versionByNumber.load(versionKey(story.id, number)),
    }),
    events: t.field({
      type: [StoryEventType],
      description: "The story's event log, oldest first: events with seq > after.",
      args: { after: t.arg.int(), first: t.arg.int() },
      resolve: (story, { after, first }, context) =>
        readStream(context.reader, story.id, { after: after ?? 0, limit: pageSize(first ?? EVENTS_PAGE) }),
    }),
    activeVersionNumber: t.exposeInt("activeVersionNumber"),
    canUndo: t.boolean({
      description: "Only version 1 has no parent: any other active version can be undone.",
      resolve: (story) => canUndo(story.activeVersionNumber),
    }),
    canRedo: t.boolean({ resolve: (story) => story.redoVersionNumbers.length > 0 }),
    metadata: t.field({ type: [MetadataType], resolve: (story, _args, context) => metadataOf(context, "story", story.id) }),
  }),
});

export async function activeVersionOf(context: GraphQLContext, story: Story) {
  const version = story.activeVersionId ? await context.loaders.version.load(story.activeVersionId) : null;
  if (!version) throw new Error(`story ${story.id} has no active version`);
  return version;
}

export const StoryConnection = builder.connectionObject({ type: StoryType, name: "StoryConnection" });

export async function storiesConnection(
  context: GraphQLContext,
  userId: string,
  args: { first?: number | null; after?: string | null },
) {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after);
  const [createdAt, id] = cursor ?? [];
  if (cursor && (typeof createdAt !== "string" || typeof id !== "string")) decodeCursor("!");
  if (context.viewer?.id !== userId) return connectionOf([], 0, () => "", false);
  const rows = await context.reader.story.findMany({
    where: {
      userId,
      ...(cursor
        ? { OR: [{ createdAt: { lt: new Date(createdAt as string) } }, { createdAt: new Date(createdAt as string), id: { lt: id as string } }] }
        : {}),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: size + 1,
  });
  for (const story of rows) context.loaders.story.prime(story.id, story);
  return connectionOf(rows, size, (s) => encodeCursor([s.createdAt.toISOString(), s.id]), cursor !== null);
}

builder.queryFields((t) => ({
  story: t.field({
    type: StoryType,
    nullable: true,
    authScopes: { signedIn: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => {
      try {
        return context.loaders.story.load(idOf("Story", id));
      } catch {
        return null; // a malformed id is a missing story
      }
    },
  }),
  stories: t.field({
    type: StoryConnection,
    authScopes: { signedIn: true },
    description: "The viewer's stories, newest first.",
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: (_root, args, context) => storiesConnection(context, context.viewer!.id, args),
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
      resolve: async (change, _args, context) => orNotFound(await context.loaders.event.load(change.eventId), "event"),
    }),
  }),
});

export const StoryChangePayload = builder.objectRef<StoryChange>("StoryChangePayload").implement({
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed", {
      description: "True when this answers an earlier request with the same idempotency key; nothing new was appended.",
    }),
  }),
});

type CommandArgs = { storyId: string; expectedRevision?: number | null; idempotencyKey?: string | null };

/** Runs a story command for the viewer and shapes its answer. */
export async function changeStory(
  context: GraphQLContext,
  args: CommandArgs,
  command: StoryCommand,
): Promise<StoryChange> {
  const result = await runStoryCommand(context, {
    storyId: args.storyId,
    actorId: context.viewer!.id,
    command,
    expectedRevision: args.expectedRevision ?? null,
    idempotencyKey: args.idempotencyKey ?? null,
  });
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
  fields: (t) => ({
    title: t.string({ required: true }),
    logline: t.string(),
    genre: t.string(),
  }),
});

const UpdateStoryInput = builder.inputType("UpdateStoryInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    title: t.string(),
    logline: t.string(),
    genre: t.string(),
    isComplete: t.boolean(),
    expectedRevision: t.int(),
    idempotencyKey: t.string(),
  }),
});

const DeleteStoryInput = builder.inputType("DeleteStoryInput", {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const DeleteStoryPayload = builder.objectRef<{ deletedStoryId: string }>("DeleteStoryPayload").implement({
  fields: (t) => ({ deletedStoryId: t.exposeID("deletedStoryId") }),
});

builder.mutationFields((t) => ({
  createStory: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: CreateStoryInput, required: true }) },
    resolve: (_root, { input }, context) => {
      const { storyId, versionId, moduleIds } = newStoryIds();
      return changeStory(context, { storyId }, {
        type: "CreateStory",
        ownerId: context.viewer!.id,
        title: input.title,
        logline: input.logline ?? null,
        genre: input.genre ?? null,
        versionId,
        moduleIds,
      });
    },
  }),
  updateStory: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Changes the story's details; makes no new version.",
    args: { input: t.arg({ type: UpdateStoryInput, required: true }) },
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
  deleteStory: t.field({
    type: DeleteStoryPayload,
    authScopes: { signedIn: true },
    description: "Deletes the story with its whole history and metadata.",
    args: { input: t.arg({ type: DeleteStoryInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const storyId = idOf("Story", input.id);
      await deleteStory(context.db, storyId, context.viewer!.id);
      publishStoryDeleted(context.pubsub, storyId);
      clearLoaders(context.loaders);
      return { deletedStoryId: input.id };
    },
  }),
}));
