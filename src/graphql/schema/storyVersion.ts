// StoryVersion, the version connection, and undo, redo and restore.
import { builder } from "../builder.ts";
import { loadAll, orNotFound } from "../loaders.ts";
import type { GraphQLContext } from "../context.ts";
import type { StoryVersion } from "../../generated/prisma/client.ts";
import { inStoryOrder } from "../../domain/catalogue.ts";
import { idOf } from "../globalIds.ts";
import { eventKey } from "../loaders.ts";
import { metadataOf, MetadataType } from "./metadata.ts";
import { connectionOf, decodeCursor, encodeCursor, pageSize } from "./paging.ts";
import { changeStory, StoryChangePayload, StoryType } from "./story.ts";
import { StoryEventType } from "./storyEvent.ts";

export const StoryVersionType = builder.objectRef<StoryVersion>("StoryVersion");

builder.node(StoryVersionType, {
  description: "An immutable full snapshot of the story's five modules after a content change.",
  id: { resolve: (version) => version.id },
  loadMany: (ids, context) => loadAll(context.loaders.version, ids),
  fields: (t) => ({
    number: t.exposeInt("versionNumber"),
    snapshot: t.field({
      type: "JSON",
      description: "The five snapshot keys, each the module's output object or null.",
      resolve: (version) => inStoryOrder(version.fullSnapshot),
    }),
    inputs: t.field({
      type: "JSON",
      description: "The five snapshot keys, each the module's input text or null.",
      resolve: (version) => inStoryOrder(version.inputs),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    label: t.exposeString("label", { nullable: true, description: "A name the writer gave this version (labelVersion)." }),
    parent: t.field({
      type: StoryVersionType,
      nullable: true,
      resolve: (version, _args, context) => (version.parentVersionId ? context.loaders.version.load(version.parentVersionId) : null),
    }),
    event: t.field({
      type: StoryEventType,
      description: "The event that made this version.",
      resolve: async (version, _args, context) =>
        orNotFound(await context.loaders.eventBySeq.load(eventKey(version.storyId, version.eventSeq)), "event"),
    }),
    isActive: t.boolean({
      resolve: async (version, _args, context) => (await context.loaders.story.load(version.storyId))?.activeVersionId === version.id,
    }),
    story: t.field({
      type: StoryType,
      resolve: async (version, _args, context) => orNotFound(await context.loaders.story.load(version.storyId), "story"),
    }),
    metadata: t.field({ type: [MetadataType], resolve: (version, _args, context) => metadataOf(context, "version", version.id) }),
  }),
});

export const VersionConnection = builder.connectionObject({ type: StoryVersionType, name: "StoryVersionConnection" });

export async function versionsConnection(
  context: GraphQLContext,
  storyId: string,
  args: { first?: number | null; after?: string | null; labeled?: boolean | null },
) {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after);
  const beforeNumber = cursor === null ? null : Number(cursor[0]);
  if (beforeNumber !== null && !Number.isInteger(beforeNumber)) decodeCursor("!");
  const rows = await context.loaders.versionsPage.load({ storyId, first: size + 1, beforeNumber, labeledOnly: args.labeled === true });
  for (const v of rows) context.loaders.version.prime(v.id, v);
  return connectionOf(rows, size, (v) => encodeCursor([v.versionNumber]), cursor !== null);
}

const StoryCommandInput = builder.inputType("StoryCommandInput", {
  fields: (t) => ({
    storyId: t.id({ required: true }),
    expectedRevision: t.int(),
    idempotencyKey: t.string(),
  }),
});

const LabelVersionInput = builder.inputType("LabelVersionInput", {
  fields: (t) => ({
    storyId: t.id({ required: true }),
    number: t.int({ required: true }),
    label: t.string({ description: "Up to 100 characters; null or empty removes the label." }),
    expectedRevision: t.int(),
    idempotencyKey: t.string(),
  }),
});

const RestoreVersionInput = builder.inputType("RestoreVersionInput", {
  fields: (t) => ({
    storyId: t.id({ required: true }),
    number: t.int({ required: true }),
    expectedRevision: t.int(),
    idempotencyKey: t.string(),
  }),
});

builder.mutationFields((t) => ({
  undo: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Makes the active version's parent active. NOTHING_TO_UNDO at version 1.",
    args: { input: t.arg({ type: StoryCommandInput, required: true }) },
    resolve: (_root, { input }, context) => changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, { type: "Undo" }),
  }),
  redo: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Makes active again the version the latest undo left. NOTHING_TO_REDO when there is none.",
    args: { input: t.arg({ type: StoryCommandInput, required: true }) },
    resolve: (_root, { input }, context) => changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, { type: "Redo" }),
  }),
  restoreVersion: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Makes a new version whose snapshot equals version `number`'s.",
    args: { input: t.arg({ type: RestoreVersionInput, required: true }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "RestoreVersion",
        number: input.number,
        versionId: crypto.randomUUID(),
      }),
  }),
  labelVersion: t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Names a version (or removes its name). An event in the log; no new version.",
    args: { input: t.arg({ type: LabelVersionInput, required: true }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "LabelVersion",
        number: input.number,
        label: input.label ?? null,
      }),
  }),
}));
