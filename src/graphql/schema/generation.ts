// AI generation: generateModule, the streamed draft, cancelling, provenance on versions, and spend.
import { roleInStory } from "../../commands/storyAccess.ts";
import { builder } from "../builder.ts";
import type { GraphQLContext } from "../context.ts";
import { clearLoaders, loadAll, orNotFound, outsideTrash, versionKey, viewerOf } from "../loaders.ts";
import { encodeGlobalId, idOf } from "../globalIds.ts";
import type { AiGeneration } from "../../generated/prisma/client.ts";
import type { ModuleName } from "../../domain/catalogue.ts";
import type { ModuleDraft } from "../../live/pubsub.ts";
import type { GeneratedAlternative } from "../../ai/generations.ts";
import { storyMessages } from "../../live/storyMessages.ts";
import { aiUsage, type AiUsageTotals } from "../../analytics/usage.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { COMMAND_TERMS, StoryChangeInterface, StoryType } from "./story.ts";
import { StoryVersionType } from "./storyVersion.ts";
import { UserType } from "./user.ts";
import { PAGE_ARGUMENTS, pageSize } from "./paging.ts";
import { ErrorCodeEnum } from "./errorCode.ts";
import { StorySparkError, type ErrorCode } from "../../domain/errors.ts";

export const GenerationType = builder.objectRef<AiGeneration>("Generation");

const GENERATION_STATUSES = {
  running: { description: "The model is writing; the draft streams to moduleDraft." },
  succeeded: { description: "It made a new version (versionNumber)." },
  failed: { description: "It ended with an error (errorCode); nothing was appended." },
  cancelled: { description: "cancelGeneration stopped it; nothing was appended." },
} as const;
type GenerationStatus = keyof typeof GENERATION_STATUSES;

const GenerationStatusEnum = builder.enumType("GenerationStatus", {
  description: "Where a generation stands.",
  values: GENERATION_STATUSES,
});

builder.node(GenerationType, {
  description: "One AI generation of a module: what was sent, what it cost, how it ended.",
  id: { resolve: (generation) => generation.id },
  loadMany: (ids, context) => loadAll(context.loaders.generation, ids),
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, description: "The module it wrote.", resolve: (g) => g.moduleName as ModuleName }),
    status: t.field({ type: GenerationStatusEnum, description: "Where it stands.", resolve: (g) => g.status as GenerationStatus }),
    model: t.exposeString("model", { description: "The model it asked." }),
    promptVersion: t.exposeString("promptVersion", { description: "The version of the module instructions used." }),
    messages: t.field({ type: "JSON", description: "The exact messages sent to the model (the last attempt's).", resolve: (g) => g.messages }),
    inputText: t.exposeString("inputText", { description: "The writer's notes or prompt it was given." }),
    contextVersionNumber: t.exposeInt("contextVersionNumber", {
      description: "The story's active version whose upstream modules the prompt was built from.",
    }),
    attempts: t.exposeInt("attempts", { description: "Model calls: 2 when the first answer needed a repair." }),
    promptTokens: t.exposeInt("promptTokens", { description: "Tokens sent, over all attempts, as the provider counted them." }),
    completionTokens: t.exposeInt("completionTokens", { description: "Tokens the model wrote, over all attempts." }),
    totalTokens: t.int({ description: "promptTokens + completionTokens.", resolve: (g) => g.promptTokens + g.completionTokens }),
    costUsd: t.float({
      nullable: true,
      description: "From the operator's price table; null when the model has no price.",
      resolve: (g) => (g.costUsd === null ? null : Number(g.costUsd)),
    }),
    durationMs: t.exposeInt("durationMs", { nullable: true, description: "How long it took; null while it runs." }),
    finishReason: t.exposeString("finishReason", {
      nullable: true,
      description: "Why the model stopped, as the provider said (e.g. stop, length).",
    }),
    errorCode: t.exposeString("errorCode", { nullable: true, description: "The ErrorCode it failed with; null unless it failed or was cancelled." }),
    versionNumber: t.exposeInt("versionNumber", {
      nullable: true,
      description: "The version it made, when it succeeded: in `branch` for an alternative draft, else in the story it was asked on.",
    }),
    branch: t.field({
      type: StoryType,
      nullable: true,
      description: "An alternative draft's branch (generateModule with `alternatives`), which holds its version; null otherwise, or when the viewer can't see it.",
      resolve: (g, _args, context) => (g.branchId ? context.loaders.story.load(g.branchId) : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it started." }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true, description: "When it ended; null while it runs." }),
  }),
});

builder.objectField(StoryVersionType, "generation", (t) =>
  t.field({
    type: GenerationType,
    nullable: true,
    description: "The AI generation that wrote this version, if one did.",
    resolve: (version, _args, context) => (version.generationId ? context.loaders.generation.load(version.generationId) : null),
  }),
);

// ------------------------------------------------------------------ spend

const AiModelUsage = builder.objectRef<AiUsageTotals["byModel"][number]>("AiModelUsage").implement({
  description: "The part of AI spend that went to one model.",
  fields: (t) => ({
    model: t.exposeString("model", { description: "The model." }),
    calls: t.exposeInt("calls", { description: "Calls to it, repair attempts included." }),
    promptTokens: t.exposeInt("promptTokens", { description: "Tokens sent to it." }),
    completionTokens: t.exposeInt("completionTokens", { description: "Tokens it wrote." }),
    costUsd: t.exposeFloat("costUsd", { description: "What its calls cost, in US dollars; 0 when it has no price." }),
  }),
});

const AiUsage = builder.objectRef<AiUsageTotals>("AiUsage").implement({
  description: "Tokens and cost of AI generations, as the provider reported them and the price table prices them.",
  fields: (t) => ({
    since: t.expose("since", { type: "DateTime", nullable: true, description: "The moment counted from; null: from the start." }),
    generations: t.exposeInt("generations", { description: "Generations started." }),
    calls: t.exposeInt("calls", { description: "Model calls, repair attempts included." }),
    promptTokens: t.exposeInt("promptTokens", { description: "Tokens sent." }),
    completionTokens: t.exposeInt("completionTokens", { description: "Tokens the models wrote." }),
    totalTokens: t.int({ description: "promptTokens + completionTokens.", resolve: (u) => u.promptTokens + u.completionTokens }),
    costUsd: t.exposeFloat("costUsd", { description: "What the priced calls cost, in US dollars." }),
    unpricedCalls: t.exposeInt("unpricedCalls", { description: "Calls to models without a price: their cost is not in costUsd." }),
    byModel: t.field({ type: [AiModelUsage], description: "The same, model by model.", resolve: (u) => u.byModel }),
  }),
});

builder.objectField(UserType, "aiUsage", (t) =>
  t.field({
    type: AiUsage,
    description:
      "The user's AI spend (all of it, or since a moment): the viewer's own only; FORBIDDEN for a co-member's. A generation is paid " +
      "from the budget of the user who runs it, whoever owns the story.",
    args: { since: t.arg({ type: "DateTime", description: "Count from this moment; default: from the start." }) },
    resolve: (user, { since }, context) => {
      // co-members see each other (Story.collaborators), but each one's spend is their own
      if (context.viewer?.id !== user.id) throw new StorySparkError("FORBIDDEN", "a user's AI spend is shown to that user only");
      return aiUsage(context.reader, { userId: user.id }, since ?? null);
    },
  }),
);

builder.objectField(StoryType, "aiUsage", (t) =>
  t.field({
    type: AiUsage,
    description: "The story's AI spend (all of it, or since a moment), whoever generated: any member sees it.",
    args: { since: t.arg({ type: "DateTime", description: "Count from this moment; default: from the start." }) },
    resolve: (story, { since }, context) => aiUsage(context.reader, { storyId: outsideTrash(story).id }, since ?? null),
  }),
);

// ------------------------------------------------------------------ generating

const GenerateModuleInput = builder.inputType("GenerateModuleInput", {
  description: "The module to write with the AI, and what from.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    module: t.field({ type: ModuleNameEnum, required: true, description: "Which module." }),
    inputText: t.string({ required: true, description: "The writer's notes or prompt for this module." }),
    model: t.string({ description: "A model of the configured provider; default: the module's or the server's." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    baseVersionNumber: t.int({
      description: `${COMMAND_TERMS.baseVersionNumber} Checked before the model is asked, and again when its output is written.`,
    }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
    alternatives: t.int({
      description:
        "1 to 4: that many drafts of the module, generated at once, each written to a new branch of the story (from its active version, " +
        "labelled from its generation) instead of to the story; the story itself is not changed. Their drafts stream to moduleDraft " +
        "with their `branchId`; merge the one you like (mergeBranch). A draft that fails leaves no branch; the request fails only when " +
        "all do. Not with idempotencyKey. Each draft's spend is recorded as a generation of this story.",
    }),
  }),
});

type Generated = {
  storyId: string;
  eventId: string;
  activeVersionNumber: number;
  replayed: boolean;
  generationId: string | null;
  alternatives: GeneratedAlternative[] | null;
};

const AlternativeDraft = builder.objectRef<GeneratedAlternative>("AlternativeDraft").implement({
  description: "One of generateModule's alternative drafts: the branch it was written to, or why it failed.",
  fields: (t) => ({
    generation: t.field({
      type: GenerationType,
      description: "The draft's generation record (its cost, model, prompt).",
      resolve: async (a, _args, context) => orNotFound(await context.loaders.generation.load(a.generationId), "generation"),
    }),
    branch: t.field({
      type: StoryType,
      nullable: true,
      description: "The new branch holding the draft (its label names the draft); null when the draft failed.",
      resolve: (a, _args, context) => (a.branchId ? context.loaders.story.load(a.branchId) : null),
    }),
    version: t.field({
      type: StoryVersionType,
      nullable: true,
      description: "The branch's version the draft made; null when it failed.",
      resolve: (a, _args, context) =>
        a.branchId && a.versionNumber !== null ? context.loaders.versionByNumber.load(versionKey(a.branchId, a.versionNumber)) : null,
    }),
    error: t.field({
      type: DraftError,
      nullable: true,
      description: "Why the draft failed; null when it succeeded.",
      resolve: (a) => (a.error ? { code: a.error.code, message: a.error.message } : null),
    }),
  }),
});

const GenerateModulePayload = builder.objectRef<Generated>("GenerateModulePayload").implement({
  description: "Like writeModule's answer, with the generation's record.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed", {
      description: "True when this answers an earlier request with the same idempotency key; nothing new was generated or appended.",
    }),
    generation: t.field({
      type: GenerationType,
      nullable: true,
      description: "The generation's record; null when replayed from a change that no generation made.",
      resolve: (g, _args, context) => (g.generationId ? context.loaders.generation.load(g.generationId) : null),
    }),
    alternatives: t.field({
      type: [AlternativeDraft],
      nullable: true,
      description: "With `alternatives`: each draft, in order (the story, version and event are then the story's own, unchanged); null otherwise.",
      resolve: (g) => g.alternatives,
    }),
  }),
});

const CancelGenerationInput = builder.inputType("CancelGenerationInput", {
  description: "The generation to stop.",
  fields: (t) => ({
    generationId: t.id({ required: true, description: "The generation's global id (GenerateModulePayload.generation, ModuleDraft.generationId)." }),
  }),
});

const CancelGenerationPayload = builder.objectRef<{ generation: AiGeneration }>("CancelGenerationPayload").implement({
  description: "What cancelling a generation answers.",
  fields: (t) => ({
    generation: t.field({ type: GenerationType, description: "As it was when the cancel was sent.", resolve: (p) => p.generation }),
  }),
});

builder.mutationFields((t) => ({
  generateModule: t.withAuth({ signedIn: true }).field({
    type: GenerateModulePayload,
    description:
      "Writes a module with the AI: from the writer's notes and the story's upstream modules; streams its draft to moduleDraft; " +
      "makes one new version (undo takes it back). Nothing is appended when it fails.",
    args: { input: t.arg({ type: GenerateModuleInput, required: true, description: "The module, the writer's notes and the model." }) },
    resolve: async (_root, { input }, context): Promise<Generated> => {
      const result = await context.ai.generate(context.viewer.id, {
        storyId: idOf("Story", input.storyId),
        module: input.module,
        inputText: input.inputText,
        model: input.model ?? null,
        expectedRevision: input.expectedRevision ?? null,
        baseVersionNumber: input.baseVersionNumber ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
        alternatives: input.alternatives ?? null,
      });
      clearLoaders(context.loaders);
      return {
        storyId: result.storyId,
        eventId: result.event.id,
        activeVersionNumber: result.event.activeVersionNumber,
        replayed: result.replayed,
        generationId: result.generationId,
        alternatives: result.alternatives ?? null,
      };
    },
  }),
  cancelGeneration: t.withAuth({ signedIn: true }).field({
    type: CancelGenerationPayload,
    description: "Stops a running generation: nothing is appended, and its draft ends with GENERATION_CANCELLED.",
    args: { input: t.arg({ type: CancelGenerationInput, required: true, description: "The generation." }) },
    resolve: async (_root, { input }, context) => ({
      generation: await context.ai.cancel(context.viewer.id, idOf("Generation", input.generationId)),
    }),
  }),
}));

// ------------------------------------------------------------------ the draft, live

const DraftError = builder.objectRef<{ code: string; message: string }>("DraftError").implement({
  description: "Why a generation failed, as its last draft message says.",
  fields: (t) => ({
    // a draft's error is a StorySparkError's, sent as JSON through the live messages
    code: t.field({ type: ErrorCodeEnum, description: "What went wrong.", resolve: (e) => e.code as ErrorCode }),
    message: t.exposeString("message", { description: "What went wrong, in words." }),
  }),
});

const ModuleDraftType = builder.objectRef<ModuleDraft>("ModuleDraft").implement({
  description: "A generation's draft as it streams. The last message has done: true, with an error when it failed.",
  fields: (t) => ({
    generationId: t.id({
      description: "The generation's global id: cancelGeneration takes it.",
      resolve: (d) => encodeGlobalId("Generation", d.generationId),
    }),
    module: t.field({ type: ModuleNameEnum, description: "The module it writes.", resolve: (d) => d.module }),
    attempt: t.exposeInt("attempt", { description: "2 for the repair attempt, whose text starts afresh." }),
    delta: t.exposeString("delta", { description: "The text added since the previous message." }),
    text: t.exposeString("text", { description: "The draft so far (the model's JSON as it streams)." }),
    done: t.exposeBoolean("done", { description: "True on the generation's last message." }),
    error: t.field({
      type: DraftError,
      nullable: true,
      description: "Why it failed, on the last message; null otherwise.",
      resolve: (d) => d.error,
    }),
    actor: t.field({
      type: UserType,
      nullable: true,
      description: "Who asked for the generation; null when that user is gone.",
      resolve: (d, _args, context) => (d.actorId ? context.loaders.user.load(d.actorId) : null),
    }),
    branchId: t.id({
      nullable: true,
      description: "An alternative draft's branch (global Story id), which its output is written to; null for a generation that writes the story itself.",
      resolve: (d) => (d.branchId ? encodeGlobalId("Story", d.branchId) : null),
    }),
  }),
});

builder.subscriptionField("moduleDraft", (t) =>
  t.field({
    type: ModuleDraftType,
    description: "The drafts of generations running on the story (of one module, when given), to every client watching it.",
    args: {
      storyId: t.arg.id({ required: true, description: "The story's global id." }),
      module: t.arg({ type: ModuleNameEnum, description: "Only this module's drafts; default: every module's." }),
    },
    subscribe: async (_root, args, context: GraphQLContext) => {
      const storyId = idOf("Story", args.storyId);
      orNotFound(await context.loaders.story.load(storyId), "story");
      const only = args.module ?? null;
      const viewer = viewerOf(context);
      const member = viewer && { ...viewer, isMember: async () => (await roleInStory(context.db.prisma, storyId, viewer.userId)) !== null };
      return storyMessages(context.pubsub, "moduleDraft", storyId, (draft) => (only === null || draft.module === only ? [draft] : []), member);
    },
    resolve: (draft) => draft,
  }),
);

builder.objectField(StoryType, "generations", (t) =>
  t.field({
    type: [GenerationType],
    description: "The story's AI generations, newest first.",
    args: {
      first: t.arg.int({ description: PAGE_ARGUMENTS.first }),
      status: t.arg.string({ description: "Only generations with this GenerationStatus: running, succeeded, failed or cancelled." }),
    },
    resolve: (story, { first, status }, context) =>
      context.reader.aiGeneration.findMany({
        where: { storyId: outsideTrash(story).id, ...(status ? { status } : {}) },
        orderBy: { createdAt: "desc" },
        take: pageSize(first),
      }),
  }),
);
