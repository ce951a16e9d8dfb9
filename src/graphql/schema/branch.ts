// Branches of a story: making one, where a story comes from and what grew from it, comparing two
// stories of a family, and merging one into another (src/commands/branchCommands.ts).
import type { GraphQLContext } from "../context.ts";
import { builder } from "../builder.ts";
import { loadAll, orNotFound, versionKey } from "../loaders.ts";
import { encodeGlobalId, idOf } from "../globalIds.ts";
import type { StoryBranch } from "../../generated/prisma/client.ts";
import { LIMITS, type ModuleName } from "../../domain/catalogue.ts";
import type { VersionOf } from "../../domain/story.ts";
import type { MergeConflict, MergeStatus } from "../../domain/merge.ts";
import {
  branchTree,
  compareBranches,
  createBranch,
  mergeBranch,
  previewMerge,
  type BranchComparison,
  type BranchTreeNode,
  type MergePreview,
  type ModuleMergePreview,
} from "../../commands/branchCommands.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { COMMAND_TERMS, StoryChangeInterface, StoryType, storyChangeOf, type StoryChange } from "./story.ts";
import { StoryVersionType } from "./storyVersion.ts";
import { ModuleDiffType } from "./history.ts";

const NO_USER = "00000000-0000-0000-0000-000000000000";

// ------------------------------------------------------------------ where a story comes from

const BranchOriginType = builder.objectRef<StoryBranch>("BranchOrigin").implement({
  description: "The story and version a branch was made from.",
  fields: (t) => ({
    story: t.field({
      type: StoryType,
      nullable: true,
      description: "The story the branch was made from; null when the viewer is not a member of it, or it is gone.",
      resolve: (origin, _args, context) => context.loaders.story.load(origin.branchParentId),
    }),
    version: t.field({
      type: StoryVersionType,
      nullable: true,
      description: "The version of it the branch began at; null as for `story`.",
      resolve: (origin, _args, context) => context.loaders.versionByNumber.load(versionKey(origin.branchParentId, origin.parentVersionNumber)),
    }),
    versionNumber: t.exposeInt("parentVersionNumber", { description: "The number of the version the branch began at." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the branch was made." }),
  }),
});

const BranchTreeNodeType = builder.objectRef<BranchTreeNode>("BranchTreeNode").implement({
  description: "A story of a branch tree, with where it hangs.",
  fields: (t) => ({
    story: t.field({
      type: StoryType,
      description: "The story.",
      resolve: async (node, _args, context) => orNotFound(await context.loaders.story.load(node.storyId), "story"),
    }),
    parentId: t.id({
      nullable: true,
      description: "The global id of the nearest story above it in the tree that the viewer can see; null at the top.",
      resolve: (node) => (node.parentId === null ? null : encodeGlobalId("Story", node.parentId)),
    }),
    depth: t.exposeInt("depth", { description: "How many stories the viewer can see above it: 0 at the top." }),
  }),
});

/**
 * The story's row in story_branches. A story in the trash is missing to every loader; its owner's
 * trash list (viewer.trash) still tells a branch by its label.
 */
async function originOf(story: { id: string; userId: string; trashedAt: Date | null }, context: GraphQLContext) {
  if (story.trashedAt === null) return context.loaders.branchOrigin.load(story.id);
  return story.userId === context.viewer?.id ? context.reader.storyBranch.findUnique({ where: { storyId: story.id } }) : null;
}

builder.objectFields(StoryType, (t) => ({
  isBranch: t.boolean({
    description: "Whether the story is a branch: made from a version of another (createBranch).",
    resolve: async (story, _args, context) => (await originOf(story, context)) !== null,
  }),
  branchOf: t.field({
    type: BranchOriginType,
    nullable: true,
    description: "Where the branch was made from; null for a story that is no branch.",
    resolve: (story, _args, context) => context.loaders.branchOrigin.load(story.id),
  }),
  branchLabel: t.string({
    nullable: true,
    description: "The branch's label, as given to createBranch; null for a story that is no branch.",
    resolve: async (story, _args, context) => (await originOf(story, context))?.branchLabel ?? null,
  }),
  branches: t.field({
    type: [StoryType],
    description: "The branches made from this story (not their branches), oldest first: those the viewer is a member of.",
    resolve: async (story, _args, context) => {
      const branches = await context.loaders.branchesOf.load(story.id);
      return (await loadAll(context.loaders.story, branches.map((b) => b.storyId))).filter((s) => s !== null);
    },
  }),
  branchTree: t.field({
    type: [BranchTreeNodeType],
    description:
      "The story's whole family from its root (the story everything was branched from), as a flat list in depth-first order, each " +
      "story's branches oldest first: only the stories the viewer is a member of, each under the nearest one above it they can see.",
    // a story is only ever shown to a member: there is a viewer
    resolve: (story, _args, context) => branchTree(context.reader, story.id, context.viewer?.id ?? NO_USER),
  }),
}));

// ------------------------------------------------------------------ compare

const VersionRefType = builder.objectRef<VersionOf>("StoryVersionRef").implement({
  description: "A version of a story, by number: the story may be one the viewer can't see.",
  fields: (t) => ({
    storyId: t.id({ description: "The story's global id.", resolve: (v) => encodeGlobalId("Story", v.storyId) }),
    versionNumber: t.exposeInt("versionNumber", { description: "The version's number." }),
    version: t.field({
      type: StoryVersionType,
      nullable: true,
      description: "The version; null when the viewer is not a member of its story.",
      resolve: (v, _args, context) => context.loaders.versionByNumber.load(versionKey(v.storyId, v.versionNumber)),
    }),
  }),
});

const BranchComparisonType = builder.objectRef<BranchComparison>("BranchComparison").implement({
  description: "Two stories of one family compared: what differs between their active versions, and what each changed since their base.",
  fields: (t) => ({
    base: t.field({
      type: VersionRefType,
      description:
        "The version both last shared: the version of one the other merged last (while that merge is in its active history), else " +
        "their common ancestor (for a story and its branch, the version the branch was made from).",
      resolve: (c) => c.base,
    }),
    a: t.field({ type: VersionRefType, description: "a's active version.", resolve: (c) => c.a }),
    b: t.field({ type: VersionRefType, description: "b's active version.", resolve: (c) => c.b }),
    differences: t.field({ type: [ModuleDiffType], description: "From a's active version to b's: all five modules, in order.", resolve: (c) => c.differences }),
    changesInA: t.field({ type: [ModuleDiffType], description: "What a changed since the base: all five modules.", resolve: (c) => c.changesInA }),
    changesInB: t.field({ type: [ModuleDiffType], description: "What b changed since the base: all five modules.", resolve: (c) => c.changesInB }),
  }),
});

// ------------------------------------------------------------------ merge

const MergeStatusEnum = builder.enumType("MergeStatus", {
  description: "What a three-way merge makes of a module.",
  values: {
    UNCHANGED: { description: "Both sides hold the same content." },
    OURS: { description: "Only the target changed it since the base: the target's stays." },
    THEIRS: { description: "Only the branch changed it since the base: the branch's is taken." },
    MERGED: { description: "Both changed it, in different places: the two are combined." },
    CONFLICT: { description: "Both changed the same place differently: a resolution is needed." },
  } satisfies Record<MergeStatus, { description: string }>,
});

const MergeChoiceEnum = builder.enumType("MergeChoice", {
  description: "How a conflict (or a whole module) is resolved.",
  values: {
    OURS: { description: "The target's content." },
    THEIRS: { description: "The branch's content." },
    CONTENT: { description: "The content given in `content`." },
  } as const,
});

const MergeConflictType = builder.objectRef<MergeConflict>("MergeConflict").implement({
  description: "A place both sides changed differently since the base.",
  fields: (t) => ({
    path: t.exposeString("path", {
      description:
        'Where, as mergeBranch\'s resolutions name it: "output", "inputText", a path into the output such as "output.logline", ' +
        '"output.characters[name=\"Mara\"].need" (named items by name) or "output.themes[3]" (other lists by position), or one ' +
        'conflicting hunk of a many-line text, numbered from 1: "output.prose@2".',
    }),
    base: t.field({ type: "JSON", nullable: true, description: "The value at the base.", resolve: (c) => c.base ?? null }),
    ours: t.field({ type: "JSON", nullable: true, description: "The target's value.", resolve: (c) => c.ours ?? null }),
    theirs: t.field({ type: "JSON", nullable: true, description: "The branch's value.", resolve: (c) => c.theirs ?? null }),
  }),
});

const ModuleMergeType = builder.objectRef<ModuleMergePreview>("ModuleMerge").implement({
  description: "What the merge makes of one module.",
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, description: "Which module.", resolve: (m) => m.module }),
    status: t.field({ type: MergeStatusEnum, description: "What the merge makes of it.", resolve: (m) => m.status }),
    conflicts: t.field({ type: [MergeConflictType], description: "Its conflicts; empty unless the status is CONFLICT.", resolve: (m) => [...m.conflicts] }),
    output: t.field({ type: "JSON", nullable: true, description: "The merged output (with conflicts: the target's where they are).", resolve: (m) => m.merged.output }),
    inputText: t.string({ nullable: true, description: "The merged input text.", resolve: (m) => m.merged.inputText }),
  }),
});

const MergePreviewType = builder.objectRef<MergePreview>("MergePreview").implement({
  description: "What merging a branch into a story would do, module by module.",
  fields: (t) => ({
    base: t.field({
      type: VersionRefType,
      description: "The common base: the branch's version merged last (while that merge is in the target's active history), else the stories' common ancestor.",
      resolve: (p) => p.base,
    }),
    ours: t.field({ type: VersionRefType, description: "The target's active version, merged into.", resolve: (p) => p.ours }),
    theirs: t.field({ type: VersionRefType, description: "The branch's active version, merged from.", resolve: (p) => p.theirs }),
    hasConflicts: t.boolean({ description: "Whether any module is in conflict.", resolve: (p) => p.modules.some((m) => m.status === "CONFLICT") }),
    modules: t.field({ type: [ModuleMergeType], description: "All five modules, in order.", resolve: (p) => p.modules }),
  }),
});

builder.queryFields((t) => ({
  compareBranches: t.withAuth({ signedIn: true }).field({
    type: BranchComparisonType,
    description: "Compares two stories of one family (a story and its branch, two branches …); NOT_FOUND unless the viewer is a member of both.",
    args: {
      a: t.arg.id({ required: true, description: "A story's global id." }),
      b: t.arg.id({ required: true, description: "Another story's global id." }),
    },
    resolve: (_root, { a, b }, context) => compareBranches(context.reader, context.viewer.id, idOf("Story", a), idOf("Story", b)),
  }),
  previewMerge: t.withAuth({ signedIn: true }).field({
    type: MergePreviewType,
    description: "What mergeBranch would do, without doing it; NOT_FOUND unless the viewer is a member of both stories.",
    args: {
      branchId: t.arg.id({ required: true, description: "The global id of the story merged from (usually a branch)." }),
      intoStoryId: t.arg.id({ required: true, description: "The global id of the story merged into." }),
    },
    resolve: (_root, args, context) => previewMerge(context.reader, context.viewer.id, idOf("Story", args.branchId), idOf("Story", args.intoStoryId)),
  }),
}));

// ------------------------------------------------------------------ mutations

const CreateBranchInput = builder.inputType("CreateBranchInput", {
  description: "A branch of a story: a new story beginning at one of its versions.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The global id of the story to branch (the viewer needs the editor role in it)." }),
    fromVersionNumber: t.int({ description: "The version to begin at; default: the active version." }),
    label: t.string({ required: true, description: `What the branch tries, e.g. "the mentor dies in act two"; 1 to ${LIMITS.labelChars} characters.` }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.newStoryIdempotencyKey }),
  }),
});

const MergeResolutionInput = builder.inputType("MergeResolutionInput", {
  description: "The writer's choice for a conflict, or for a whole module.",
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, required: true, description: "The module." }),
    path: t.string({ description: "The conflict's path (MergeConflict.path); null: the whole module, whatever the merge made of it." }),
    choice: t.field({ type: MergeChoiceEnum, required: true, description: "Which side, or the content given." }),
    content: t.field({
      type: "JSON",
      description: "With CONTENT: the value at the path; for a whole module, `{ output, inputText }`.",
    }),
  }),
});

const MergeBranchInput = builder.inputType("MergeBranchInput", {
  description: "A merge of one story of a family (usually a branch) into another.",
  fields: (t) => ({
    branchId: t.id({ required: true, description: "The global id of the story merged from (the viewer needs to be a member of it)." }),
    intoStoryId: t.id({ required: true, description: "The global id of the story merged into (the viewer needs the editor role in it)." }),
    resolutions: t.field({ type: [MergeResolutionInput], description: "A choice for each conflict (or module); conflicts left without one refuse the merge with MERGE_CONFLICT." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const MergeBranchPayload = builder.objectRef<StoryChange>("MergeBranchPayload").implement({
  description: "What merging answers: the target, its new version (the merge) and the BranchMerged event.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed", { description: "True when this answers an earlier request with the same idempotency key; nothing new was appended." }),
  }),
});

const CreateBranchPayload = builder.objectRef<StoryChange>("CreateBranchPayload").implement({
  description: "What making a branch answers: the branch (a new story), its version 1 and its BranchCreated event.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed", { description: "True when this answers an earlier request with the same idempotency key; no new branch was made." }),
  }),
});

builder.mutationFields((t) => ({
  createBranch: t.withAuth({ signedIn: true }).field({
    type: CreateBranchPayload,
    description:
      "Makes a branch of the story: a new story (the viewer's) whose version 1 holds the content of version `fromVersionNumber`, with the " +
      "story's title, logline, genre and members (the story's owner becomes an editor; pending invitations stay behind). Needs the editor role.",
    args: { input: t.arg({ type: CreateBranchInput, required: true, description: "The story, the version and the label." }) },
    resolve: async (_root, { input }, context) =>
      storyChangeOf(
        context,
        await createBranch(context, {
          actorId: context.viewer.id,
          storyId: idOf("Story", input.storyId),
          fromVersionNumber: input.fromVersionNumber ?? null,
          label: input.label,
          idempotencyKey: input.idempotencyKey ?? null,
        }),
      ),
  }),
  mergeBranch: t.withAuth({ signedIn: true }).field({
    type: MergeBranchPayload,
    description:
      "Merges the branch's active version into the story, three-way, module by module (see previewMerge), as one new version of the " +
      "story (a BranchMerged event): undoable like any change. Conflicts without a resolution: MERGE_CONFLICT, `extensions.conflicts` " +
      "listing { module, path, base, ours, theirs }. A merged output that does not fit its module: BAD_USER_INPUT naming it.",
    args: { input: t.arg({ type: MergeBranchInput, required: true, description: "The two stories and the resolutions." }) },
    resolve: async (_root, { input }, context) =>
      storyChangeOf(
        context,
        await mergeBranch(context, {
          actorId: context.viewer.id,
          branchId: idOf("Story", input.branchId),
          intoId: idOf("Story", input.intoStoryId),
          resolutions: (input.resolutions ?? []).map((r) => ({
            module: r.module as ModuleName,
            path: r.path ?? null,
            choice: r.choice,
            ...(r.content === undefined || r.content === null ? {} : { content: r.content }),
          })),
          expectedRevision: input.expectedRevision ?? null,
          idempotencyKey: input.idempotencyKey ?? null,
        }),
      ),
  }),
}));
