// StoryModule, the ModuleName enum, writing and clearing a module, and moduleUpdated.
import { builder } from "../builder.ts";
import { loadAll, loadersForMessage, orNotFound, viewerOf } from "../loaders.ts";
import { UserType } from "./user.ts";
import { moduleUpdateFeed, type ModuleChange } from "../../live/moduleUpdateFeed.ts";
import type { StoryModule } from "../../generated/prisma/client.ts";
import { LIMITS, MODULES, type ModuleName } from "../../domain/catalogue.ts";
import { idOf } from "../globalIds.ts";
import { metadataOf, MetadataType } from "./metadata.ts";
import { baseOf, changeStory, COMMAND_TERMS, StoryChangeInterface, StoryChangePayload, StoryType, type StoryChange } from "./story.ts";
import type { SignedInContext } from "../context.ts";
import { recordModuleRun } from "../../analytics/usage.ts";
import { isConnectionLost } from "../../database/connectionErrors.ts";
import { StorySparkError } from "../../domain/errors.ts";
import { retryingLostConnections } from "../../database/connectionErrors.ts";

export const ModuleNameEnum = builder.enumType("ModuleName", {
  description: "The five modules, in the order a story is developed.",
  values: Object.fromEntries(MODULES.map((m) => [m.name, { value: m.name, description: `${m.order}. ${m.title}` }])) as Record<
    ModuleName,
    { value: ModuleName; description: string }
  >,
});

const byModuleName = new Map<string, (typeof MODULES)[number]>(MODULES.map((m) => [m.moduleName, m]));

export const StoryModuleType = builder.objectRef<StoryModule>("StoryModule");

builder.node(StoryModuleType, {
  description: "One module of a story: the writer's input and the module's output, as of the active version.",
  id: { resolve: (module) => module.id },
  loadMany: (ids, context) => loadAll(context.loaders.module, ids),
  fields: (t) => ({
    name: t.field({ type: ModuleNameEnum, description: "Which module it is.", resolve: (module) => byModuleName.get(module.moduleName)!.name }),
    order: t.exposeInt("moduleOrder", { description: "Its place in the story's development: 1 to 5." }),
    inputText: t.exposeString("inputText", { nullable: true, description: "The writer's notes or prompt; null when there are none." }),
    output: t.field({ type: "JSON", nullable: true, description: "A JSON object; null when empty.", resolve: (module) => module.outputText }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the story, and so the module, was created." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the module last changed." }),
    story: t.field({
      type: StoryType,
      description: "The story the module belongs to.",
      resolve: async (module, _args, context) => orNotFound(await context.loaders.story.load(module.storyId), "story"),
    }),
    metadata: t.field({
      type: [MetadataType],
      description: "The module's metadata entries, by key.",
      resolve: (module, _args, context) => metadataOf(context, "module", module.id),
    }),
  }),
});

/** A hand-made module run, kept in module_usage_logs beside the generated ones. */
async function withModuleRun(context: SignedInContext, module: ModuleName, outcome: "written" | "cleared", run: () => Promise<StoryChange>) {
  const started = performance.now();
  const change = await run();
  if (!change.replayed) {
    // analytics: off the request's path; a failure here is logged, not the writer's problem
    void recordModuleRun(context.db.prisma, {
      userId: context.viewer.id,
      storyId: change.storyId,
      module,
      source: "manual",
      outcome,
      durationMs: performance.now() - started,
    }).catch((error: unknown) =>
      // a lost connection was reported by the pool already; anything else is unexpected
      isConnectionLost(error) ? context.logger.warn("module usage log lost its connection") : context.logger.error("module usage log failed", error),
    );
  }
  return change;
}

const WriteModuleInput = builder.inputType("WriteModuleInput", {
  description: "A module's new content.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    module: t.field({ type: ModuleNameEnum, required: true, description: "Which module." }),
    inputText: t.string({ description: "The writer's notes or prompt; left as it was when omitted." }),
    output: t.field({
      type: "JSON",
      required: true,
      description:
        "A JSON object with any of the module's fields (at every level), each of its type, and fields of the writer's own; " +
        `at most ${LIMITS.outputBytes} bytes.`,
    }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    baseVersionNumber: t.int({ description: COMMAND_TERMS.baseVersionNumber }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const ClearModuleInput = builder.inputType("ClearModuleInput", {
  description: "The module to empty.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    module: t.field({ type: ModuleNameEnum, required: true, description: "Which module." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    baseVersionNumber: t.int({ description: COMMAND_TERMS.baseVersionNumber }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

builder.mutationFields((t) => ({
  writeModule: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Sets a module's output (and input text): one new version.",
    args: { input: t.arg({ type: WriteModuleInput, required: true, description: "The module and its new content." }) },
    resolve: (_root, { input }, context) =>
      withModuleRun(context, input.module, "written", () =>
        changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
          type: "WriteModule",
          module: input.module,
          ...(input.inputText === undefined ? {} : { inputText: input.inputText }),
          output: input.output,
          versionId: crypto.randomUUID(),
          ...baseOf(input),
        }),
      ),
  }),
  clearModule: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Empties a module: one new version.",
    args: { input: t.arg({ type: ClearModuleInput, required: true, description: "The module to empty." }) },
    resolve: (_root, { input }, context) =>
      withModuleRun(context, input.module, "cleared", () =>
        changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
          type: "ClearModule",
          module: input.module,
          versionId: crypto.randomUUID(),
          ...baseOf(input),
        }),
      ),
  }),
}));

// ------------------------------------------------------------------ live updates

const ModuleUpdate = builder.objectRef<ModuleChange>("ModuleUpdate").implement({
  description: "A module's content changed: by a write, a clear, undo, redo, a restore or a generation.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    module: t.field({
      type: StoryModuleType,
      description: "The module as it is now.",
      resolve: async (update, _args, context) => {
        const modules = await context.loaders.modulesOfStory.load(update.storyId);
        return orNotFound(modules.find((m) => byModuleName.get(m.moduleName)?.name === update.module), "module");
      },
    }),
    actor: t.field({
      type: UserType,
      nullable: true,
      description: "Who made the change (the event's actor, as StoryEvent.actor); null when that user is gone.",
      resolve: (update, _args, context) => (update.actorId ? context.loaders.user.load(update.actorId) : null),
    }),
  }),
});

builder.subscriptionField("moduleUpdated", (t) =>
  t.field({
    type: ModuleUpdate,
    description:
      "One message per module whose content changes in the story (of one module, when given), in the log's order, each exactly once. " +
      "With `after`, the changes made by events with seq > after come first, then live ones.",
    args: {
      storyId: t.arg.id({ required: true, description: "The story's global id." }),
      module: t.arg({ type: ModuleNameEnum, description: "Only this module's changes; default: every module's." }),
      after: t.arg.int({ description: "A story revision (an event's seq); default: from now on." }),
    },
    subscribe: async (_root, args, context) => {
      const storyId = idOf("Story", args.storyId);
      orNotFound(await context.loaders.story.load(storyId), "story");
      if (args.after !== null && args.after !== undefined && args.after < 0) {
        throw new StorySparkError("BAD_USER_INPUT", "after: a revision, 0 or more", { field: "after" });
      }
      // read from the log, not from the messages, so that a message lost while Redis was away leaves no gap
      return moduleUpdateFeed(retryingLostConnections(context.db.prisma), context.pubsub, storyId, {
        after: args.after ?? "now",
        only: args.module ?? null,
        viewer: viewerOf(context),
      });
    },
    resolve: (update, _args, context) => {
      context.loaders = loadersForMessage(context.db, context.viewer, update.eventId); // each message reads afresh
      return update;
    },
  }),
);
