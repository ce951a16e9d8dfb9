// StoryVersion, the version connection, and undo, redo and restore.
import { builder } from "../builder.ts";
import { loadAll, orNotFound, type VersionsPageKey, type VersionSummary } from "../loaders.ts";
import type { GraphQLContext } from "../context.ts";
import type { StoryVersion } from "../../generated/prisma/client.ts";
import { LIMITS } from "../../domain/catalogue.ts";
import type { VersionContent } from "../../history/versionDiff.ts";
import { idOf } from "../globalIds.ts";
import { eventKey } from "../loaders.ts";
import { metadataOf, MetadataType } from "./metadata.ts";
import { connectionOf, CURSOR_SHAPES, decodeCursor, encodeCursor, pageSize } from "./paging.ts";
import { baseOf, changeStory, COMMAND_TERMS, StoryChangePayload, StoryType } from "./story.ts";
import { StoryEventType } from "./storyEvent.ts";

/** A whole version, or one of a page, whose content is read only when asked for. */
type VersionParent = StoryVersion | VersionSummary;
export const StoryVersionType = builder.objectRef<VersionParent>("StoryVersion");

export async function versionContent(version: Pick<VersionParent, "id">, context: GraphQLContext): Promise<VersionContent> {
  return orNotFound(await context.loaders.versionContent.load(version.id), "version");
}

builder.node(StoryVersionType, {
  description: "An immutable full snapshot of the story's five modules after a content change.",
  id: { resolve: (version) => version.id },
  loadMany: (ids, context) => loadAll(context.loaders.version, ids),
  fields: (t) => ({
    number: t.exposeInt("versionNumber", { description: "1 for the story's first version, then one more for each." }),
    snapshot: t.field({
      type: "JSON",
      description: "The five snapshot keys, each the module's output object or null.",
      resolve: async (version, _args, context) => (await versionContent(version, context)).outputs,
    }),
    inputs: t.field({
      type: "JSON",
      description: "The five snapshot keys, each the module's input text or null.",
      resolve: async (version, _args, context) => (await versionContent(version, context)).inputs,
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the change that made it was made." }),
    label: t.exposeString("label", { nullable: true, description: "A name the writer gave this version (labelVersion)." }),
    parent: t.field({
      type: StoryVersionType,
      nullable: true,
      description: "The version that was active when this one was made (undo goes back to it); null for version 1.",
      resolve: (version, _args, context) => (version.parentVersionId ? context.loaders.version.load(version.parentVersionId) : null),
    }),
    event: t.field({
      type: StoryEventType,
      description: "The event that made this version.",
      resolve: async (version, _args, context) =>
        orNotFound(await context.loaders.eventBySeq.load(eventKey(version.storyId, version.eventSeq)), "event"),
    }),
    isActive: t.boolean({
      description: "Whether it is the story's active version.",
      resolve: async (version, _args, context) => (await context.loaders.story.load(version.storyId))?.activeVersionId === version.id,
    }),
    story: t.field({
      type: StoryType,
      description: "The story the version belongs to.",
      resolve: async (version, _args, context) => orNotFound(await context.loaders.story.load(version.storyId), "story"),
    }),
    metadata: t.field({
      type: [MetadataType],
      description: "The version's metadata entries, by key.",
      resolve: (version, _args, context) => metadataOf(context, "version", version.id),
    }),
  }),
});

export const VersionConnection = builder.connectionObject(
  { type: StoryVersionType, name: "StoryVersionConnection", description: "A page of a story's versions, newest first." },
  { description: "A version and its cursor." },
);

export type VersionsArguments = { first?: number | null; after?: string | null; labeled?: boolean | null };

/** What a page of versions loads: one more than asked, to tell whether there is a next page. */
export function versionsPageKey(storyId: string, args: VersionsArguments): VersionsPageKey {
  const size = pageSize(args.first);
  const cursor = decodeCursor(args.after, CURSOR_SHAPES.version);
  return { storyId, first: size + 1, beforeNumber: cursor === null ? null : cursor[0], labeledOnly: args.labeled === true };
}

export async function versionsConnection(context: GraphQLContext, storyId: string, args: VersionsArguments) {
  const key = versionsPageKey(storyId, args);
  const rows = await context.loaders.versionsPage.load(key);
  return connectionOf(rows, key.first - 1, (v) => encodeCursor([v.versionNumber]), key.beforeNumber !== null);
}

const StoryCommandInput = builder.inputType("StoryCommandInput", {
  description: "The story to undo or redo in.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    baseVersionNumber: t.int({ description: COMMAND_TERMS.baseVersionNumber }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const LabelVersionInput = builder.inputType("LabelVersionInput", {
  description: "A version and its new label.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    number: t.int({ required: true, description: "The version's number." }),
    label: t.string({ description: `Up to ${LIMITS.labelChars} characters; null or empty removes the label.` }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const RestoreVersionInput = builder.inputType("RestoreVersionInput", {
  description: "The version to restore.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    number: t.int({ required: true, description: "The number of the version whose content comes back." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    baseVersionNumber: t.int({ description: COMMAND_TERMS.baseVersionNumber }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

builder.mutationFields((t) => ({
  undo: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description:
      "Takes back the viewer's own latest change that is not undone, never anyone else's. When that change made the active version, " +
      "its parent becomes active (with one writer, every undo). When others changed the story since, a new version is made in which " +
      "only the modules that change touched are as they were before it — provided nobody changed them since (a write, clear, restore " +
      "or redo by someone else; an undo that gave them back is no change); otherwise " +
      "UNDO_CONFLICT says who changed them and when, and nothing changes. NOTHING_TO_UNDO when the viewer has nothing to take back.",
    args: { input: t.arg({ type: StoryCommandInput, required: true, description: "The story." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "Undo",
        actorId: context.viewer.id,
        versionId: crypto.randomUUID(),
        ...baseOf(input),
      }),
  }),
  redo: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description:
      "Re-applies the viewer's latest undone change, by undo's rule: the version it made becomes active again when the story is where " +
      "the undo left it, else a new version re-applies it to the modules it touched, provided nobody changed them since " +
      "(UNDO_CONFLICT otherwise). A new change of the viewer's empties their redo; others' changes do not. NOTHING_TO_REDO when there is none.",
    args: { input: t.arg({ type: StoryCommandInput, required: true, description: "The story." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "Redo",
        actorId: context.viewer.id,
        versionId: crypto.randomUUID(),
        ...baseOf(input),
      }),
  }),
  restoreVersion: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Makes a new version whose snapshot equals version `number`'s.",
    args: { input: t.arg({ type: RestoreVersionInput, required: true, description: "The story and the version." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "RestoreVersion",
        number: input.number,
        versionId: crypto.randomUUID(),
        ...baseOf(input),
      }),
  }),
  labelVersion: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Names a version (or removes its name). An event in the log; no new version.",
    args: { input: t.arg({ type: LabelVersionInput, required: true, description: "The version and its label." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "LabelVersion",
        number: input.number,
        label: input.label ?? null,
      }),
  }),
}));
