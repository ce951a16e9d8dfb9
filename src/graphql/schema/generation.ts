// AI generation: generateModule, the streamed draft, cancelling, provenance on versions, and spend.
import { builder } from "../builder.ts";
import type { GraphQLContext } from "../context.ts";
import { clearLoaders, loadAll, orNotFound } from "../loaders.ts";
import { encodeGlobalId, idOf } from "../globalIds.ts";
import type { AiGeneration } from "../../generated/prisma/client.ts";
import type { ModuleName } from "../../domain/catalogue.ts";
import type { ModuleDraft } from "../../live/pubsub.ts";
import { storyMessages } from "../../live/storyMessages.ts";
import { aiUsage, type AiUsageTotals } from "../../analytics/usage.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { StoryChangeInterface, StoryType } from "./story.ts";
import { StoryVersionType } from "./storyVersion.ts";
import { UserType } from "./user.ts";
import { pageSize } from "./paging.ts";

export const GenerationType = builder.objectRef<AiGeneration>("Generation");

builder.node(GenerationType, {
  description: "One AI generation of a module: what was sent, what it cost, how it ended.",
  id: { resolve: (generation) => generation.id },
  loadMany: (ids, context) => loadAll(context.loaders.generation, ids),
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, resolve: (g) => g.moduleName as ModuleName }),
    status: t.exposeString("status", { description: "running, succeeded, failed or cancelled" }),
    model: t.exposeString("model"),
    promptVersion: t.exposeString("promptVersion", { description: "The version of the module instructions used." }),
    messages: t.field({ type: "JSON", description: "The exact messages sent to the model (the last attempt's).", resolve: (g) => g.messages }),
    inputText: t.exposeString("inputText"),
    contextVersionNumber: t.exposeInt("contextVersionNumber", {
      description: "The story's active version whose upstream modules the prompt was built from.",
    }),
    attempts: t.exposeInt("attempts", { description: "Model calls: 2 when the first answer needed a repair." }),
    promptTokens: t.exposeInt("promptTokens"),
    completionTokens: t.exposeInt("completionTokens"),
    totalTokens: t.int({ resolve: (g) => g.promptTokens + g.completionTokens }),
    costUsd: t.float({
      nullable: true,
      description: "From the operator's price table; null when the model has no price.",
      resolve: (g) => (g.costUsd === null ? null : Number(g.costUsd)),
    }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    finishReason: t.exposeString("finishReason", { nullable: true }),
    errorCode: t.exposeString("errorCode", { nullable: true }),
    versionNumber: t.exposeInt("versionNumber", { nullable: true, description: "The version it made, when it succeeded." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
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
  fields: (t) => ({
    model: t.exposeString("model"),
    calls: t.exposeInt("calls"),
    promptTokens: t.exposeInt("promptTokens"),
    completionTokens: t.exposeInt("completionTokens"),
    costUsd: t.exposeFloat("costUsd"),
  }),
});

const AiUsage = builder.objectRef<AiUsageTotals>("AiUsage").implement({
  description: "Tokens and cost of AI generations, as the provider reported them and the price table prices them.",
  fields: (t) => ({
    since: t.expose("since", { type: "DateTime", nullable: true }),
    generations: t.exposeInt("generations"),
    calls: t.exposeInt("calls", { description: "Model calls, repair attempts included." }),
    promptTokens: t.exposeInt("promptTokens"),
    completionTokens: t.exposeInt("completionTokens"),
    totalTokens: t.int({ resolve: (u) => u.promptTokens + u.completionTokens }),
    costUsd: t.exposeFloat("costUsd"),
    unpricedCalls: t.exposeInt("unpricedCalls", { description: "Calls to models without a price: their cost is not in costUsd." }),
    byModel: t.field({ type: [AiModelUsage], resolve: (u) => u.byModel }),
  }),
});

builder.objectField(UserType, "aiUsage", (t) =>
  t.field({
    type: AiUsage,
    description: "The user's AI spend (all of it, or since a moment).",
    args: { since: t.arg({ type: "DateTime" }) },
    resolve: (user, { since }, context) => {
      if (context.viewer?.id !== user.id) throw new Error("aiUsage of another user");
      return aiUsage(context.reader, { userId: user.id }, since ?? null);
    },
  }),
);

builder.objectField(StoryType, "aiUsage", (t) =>
  t.field({
    type: AiUsage,
    args: { since: t.arg({ type: "DateTime" }) },
    resolve: (story, { since }, context) => aiUsage(context.reader, { storyId: story.id }, since ?? null),
  }),
);

// ------------------------------------------------------------------ generating

const GenerateModuleInput = builder.inputType("GenerateModuleInput", {
  fields: (t) => ({
    storyId: t.id({ required: true }),
    module: t.field({ type: ModuleNameEnum, required: true }),
    inputText: t.string({ required: true, description: "The writer's notes or prompt for this module." }),
    model: t.string({ description: "A model of the configured provider; default: the module's or the server's." }),
    expectedRevision: t.int(),
    idempotencyKey: t.string(),
  }),
});

type Generated = { storyId: string; eventId: string; activeVersionNumber: number; replayed: boolean; generationId: string | null };

const GenerateModulePayload = builder.objectRef<Generated>("GenerateModulePayload").implement({
  description: "Like writeModule's answer, with the generation's record.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    replayed: t.exposeBoolean("replayed"),
    generation: t.field({
      type: GenerationType,
      nullable: true,
      resolve: (g, _args, context) => (g.generationId ? context.loaders.generation.load(g.generationId) : null),
    }),
  }),
});

const CancelGenerationInput = builder.inputType("CancelGenerationInput", {
  fields: (t) => ({ generationId: t.id({ required: true }) }),
});

const CancelGenerationPayload = builder.objectRef<{ generation: AiGeneration }>("CancelGenerationPayload").implement({
  fields: (t) => ({
    generation: t.field({ type: GenerationType, description: "As it was when the cancel was sent.", resolve: (p) => p.generation }),
  }),
});

builder.mutationFields((t) => ({
  generateModule: t.field({
    type: GenerateModulePayload,
    authScopes: { signedIn: true },
    description:
      "Writes a module with the AI: from the writer's notes and the story's upstream modules; streams its draft to moduleDraft; " +
      "makes one new version (undo takes it back). Nothing is appended when it fails.",
    args: { input: t.arg({ type: GenerateModuleInput, required: true }) },
    resolve: async (_root, { input }, context): Promise<Generated> => {
      const result = await context.ai.generate(context.viewer!.id, {
        storyId: idOf("Story", input.storyId),
        module: input.module,
        inputText: input.inputText,
        model: input.model ?? null,
        expectedRevision: input.expectedRevision ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
      });
      clearLoaders(context.loaders);
      return {
        storyId: result.storyId,
        eventId: result.event.id,
        activeVersionNumber: result.event.activeVersionNumber,
        replayed: result.replayed,
        generationId: result.generationId,
      };
    },
  }),
  cancelGeneration: t.field({
    type: CancelGenerationPayload,
    authScopes: { signedIn: true },
    description: "Stops a running generation: nothing is appended, and its draft ends with GENERATION_CANCELLED.",
    args: { input: t.arg({ type: CancelGenerationInput, required: true }) },
    resolve: async (_root, { input }, context) => ({
      generation: await context.ai.cancel(context.viewer!.id, idOf("Generation", input.generationId)),
    }),
  }),
}));

// ------------------------------------------------------------------ the draft, live

const DraftError = builder.objectRef<{ code: string; message: string }>("DraftError").implement({
  fields: (t) => ({ code: t.exposeString("code"), message: t.exposeString("message") }),
});

const ModuleDraftType = builder.objectRef<ModuleDraft>("ModuleDraft").implement({
  description: "A generation's draft as it streams. The last message has done: true, with an error when it failed.",
  fields: (t) => ({
    generationId: t.id({ resolve: (d) => encodeGlobalId("Generation", d.generationId) }),
    module: t.field({ type: ModuleNameEnum, resolve: (d) => d.module }),
    attempt: t.exposeInt("attempt", { description: "2 for the repair attempt, whose text starts afresh." }),
    delta: t.exposeString("delta", { description: "The text added since the previous message." }),
    text: t.exposeString("text", { description: "The draft so far (the model's JSON as it streams)." }),
    done: t.exposeBoolean("done"),
    error: t.field({ type: DraftError, nullable: true, resolve: (d) => d.error }),
  }),
});

builder.subscriptionField("moduleDraft", (t) =>
  t.field({
    type: ModuleDraftType,
    authScopes: { signedIn: true },
    description: "The drafts of generations running on the story (of one module, when given), to every client watching it.",
    args: { storyId: t.arg.id({ required: true }), module: t.arg({ type: ModuleNameEnum }) },
    subscribe: async (_root, args, context: GraphQLContext) => {
      const storyId = idOf("Story", args.storyId);
      orNotFound(await context.loaders.story.load(storyId), "story");
      const only = args.module ?? null;
      return storyMessages(context.pubsub, "moduleDraft", storyId, (draft) => (only === null || draft.module === only ? [draft] : []));
    },
    resolve: (draft) => draft,
  }),
);

builder.objectField(StoryType, "generations", (t) =>
  t.field({
    type: [GenerationType],
    description: "The story's AI generations, newest first.",
    args: { first: t.arg.int(), status: t.arg.string({ description: "running, succeeded, failed or cancelled" }) },
    resolve: (story, { first, status }, context) =>
      context.reader.aiGeneration.findMany({
        where: { storyId: story.id, ...(status ? { status } : {}) },
        orderBy: { createdAt: "desc" },
        take: pageSize(first),
      }),
  }),
);
