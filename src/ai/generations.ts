// Runs AI generations of modules: checks the request as a command would and admits it under
// the writer's limits, builds the prompt from the writer's notes and the upstream modules,
// streams the draft to subscribers, validates (one repair attempt), then runs one WriteModule
// command through the application service. Every outcome is recorded: provenance, cost per
// call, usage, errors.
import { randomUUID } from "node:crypto";
import OpenAI from "openai";
import { isRole, requireRole } from "../domain/roles.ts";
import { roleInStory } from "../commands/storyAccess.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import { LIMITS, moduleByName, type JsonObject, type ModuleDefinition, type ModuleName } from "../domain/catalogue.ts";
import { StorySparkError, badInput, notFound } from "../domain/errors.ts";
import { checkCommand, checkRequest, eraseStory, requestTerms, runStoryCommand } from "../commands/storyCommands.ts";
import { createBranch } from "../commands/branchCommands.ts";
import { forgetState } from "../commands/recentStates.ts";
import type { DbClient } from "../database/types.ts";
import type { StoredEvent } from "../eventstore/eventStore.ts";
import type { LivePubSub, ModuleDraft } from "../live/pubsub.ts";
import { allowedModels, costOf, type AiConfig } from "./config.ts";
import { announceGenerationEnded } from "../analytics/signals.ts";
import { outputJsonSchema } from "./outputSchema.ts";
import { PROMPT_VERSION, buildPromptMessages, repairMessage, upstreamModulesOf } from "./prompts.ts";
import { streamCompletion, type CompletionResult, type ProviderMessage, type StopReason } from "./provider.ts";

export type GenerateRequest = {
  storyId: string;
  module: ModuleName;
  inputText: string;
  model?: string | null;
  expectedRevision?: number | null;
  /** the version the writer's notes started from: MODULE_CONFLICT when the module changed after it */
  baseVersionNumber?: number | null;
  idempotencyKey?: string | null;
  /**
   * 1 to 4: that many drafts of the module, each written to a new branch of the story (from its
   * active version) instead of to the story itself; the writer merges the one they like
   */
  alternatives?: number | null;
};

/** One of a request's alternative drafts: the branch it was written to, or why it failed. */
export type GeneratedAlternative = {
  generationId: string;
  /** the branch the draft was written to; null when it failed (the branch is erased) */
  branchId: string | null;
  /** the branch's version the draft made */
  versionNumber: number | null;
  error: StorySparkError | null;
};

export type GenerateResult = {
  storyId: string;
  /** the ModuleWritten event (or the earlier one, replayed); with `alternatives`, the story's last event, which they leave as it was */
  event: Pick<StoredEvent, "id" | "activeVersionNumber">;
  replayed: boolean;
  generationId: string | null;
  /** with `alternatives`: each draft, in order; the story itself is not changed */
  alternatives?: GeneratedAlternative[];
};

const MAX_ALTERNATIVES = 4;
const MAX_ATTEMPTS = 2;
/** A running generation older than its timeout plus this is a leftover of a crash, not running. */
const STALE_AFTER_MS = 60_000;

export class GenerationService {
  private readonly client: OpenAI | null;
  private readonly running = new Map<string, AbortController>();
  private readonly stopListening: () => Promise<void>;
  private readonly db: Database;
  private readonly pubsub: LivePubSub;
  readonly config: AiConfig;

  constructor(db: Database, pubsub: LivePubSub, config: AiConfig) {
    this.db = db;
    this.pubsub = pubsub;
    this.config = config;
    this.client = config.apiKey
      ? new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL ?? null, maxRetries: config.maxRetries, timeout: config.timeoutMs })
      : null;
    // a cancel may arrive at any instance: the one running the generation stops it
    const cancels = pubsub.subscribe("generationCancelled")[Symbol.asyncIterator]();
    let listening = true;
    void (async () => {
      while (listening) {
        const next = await cancels.next();
        if (next.done) break;
        this.running.get(next.value.generationId)?.abort("cancelled" satisfies StopReason);
      }
    })();
    this.stopListening = async () => {
      listening = false;
      await cancels.return?.();
    };
  }

  async close(): Promise<void> {
    for (const controller of this.running.values()) controller.abort("cancelled" satisfies StopReason);
    await this.stopListening();
  }

  /** The model to run: the client's choice when it is one the operator allows, else BAD_USER_INPUT naming `model`. */
  modelFor(module: ModuleName, requested?: string | null): string {
    const chosen = requested?.trim();
    if (!chosen) return this.config.modelFor[module] || this.config.defaultModel;
    // the list is the operator's to publish: the refusal does not repeat it
    if (!allowedModels(this.config).has(chosen)) throw badInput("model", "is not a model this server offers; leave it out for the default");
    return chosen;
  }

  async generate(userId: string, request: GenerateRequest): Promise<GenerateResult> {
    const module = moduleByName(request.module);
    if (!module) throw badInput("module", `unknown module "${request.module}"`);
    if (Buffer.byteLength(request.inputText, "utf8") > LIMITS.inputTextBytes) {
      throw badInput("inputText", `must be at most ${LIMITS.inputTextBytes} bytes`);
    }
    if (request.model && request.model.length > 100) throw badInput("model", "must be at most 100 characters");
    const alternatives = request.alternatives ?? null;
    if (alternatives !== null) {
      if (!Number.isInteger(alternatives) || alternatives < 1 || alternatives > MAX_ALTERNATIVES) {
        throw badInput("alternatives", `must be 1 to ${MAX_ALTERNATIVES}`);
      }
      // each draft is a new branch: a retry would make new ones, so there is no earlier answer to give
      if (request.idempotencyKey != null) throw badInput("idempotencyKey", "can't be used with alternatives: each draft makes its own branch");
    }
    const model = this.modelFor(module.name, request.model);
    const identity = { type: "GenerateModule", module: module.name, inputText: request.inputText, model };

    // a stranger gets what a missing story gets; an editor may generate, and the spend is the
    // generating user's (their daily budget, their usage), whoever owns the story
    const story = await this.db.prisma.story.findFirst({
      where: { id: request.storyId, trashedAt: null, collaborators: { some: { userId } } },
      include: { modules: true, collaborators: { where: { userId }, select: { role: true } } },
    });
    if (!story) throw notFound("story");
    const role = story.collaborators[0]?.role;
    requireRole(role !== undefined && isRole(role) ? role : "viewer", "editor", "generating a module");
    if (!this.client) throw new StorySparkError("AI_NOT_CONFIGURED", "AI generation is not configured on this server (OPENAI_API_KEY)");
    // checked again under the story's lock when the output is written; checked now so that no
    // tokens are spent on a request that would be refused
    const terms = requestTerms({ expectedRevision: request.expectedRevision, idempotencyKey: request.idempotencyKey, requestIdentity: identity });
    const earlier = await checkRequest(this.db.prisma, story, terms);
    if (earlier) return { storyId: story.id, event: earlier, replayed: true, generationId: generationIdOf(earlier) };
    const base = request.baseVersionNumber ?? null;
    const write = { type: "WriteModule", module: module.name, inputText: request.inputText, versionId: randomUUID(), ...(base === null ? {} : { baseVersionNumber: base }) } as const;
    if (base !== null) await checkCommand(this.db, story.id, { ...write, output: {} });

    const upstream = upstreamModulesOf(module).map((m) => {
      const row = story.modules.find((r) => r.moduleName === m.moduleName);
      return { module: m, inputText: row?.inputText ?? null, output: (row?.outputText ?? null) as JsonObject | null };
    });
    const messages: ProviderMessage[] = buildPromptMessages({
      module,
      inputText: request.inputText,
      story: { title: story.title, logline: story.logline, genre: story.genre },
      upstream,
    });
    const context = { userId, storyId: story.id, module, model, messages, inputText: request.inputText, contextVersionNumber: story.activeVersionNumber };
    if (alternatives !== null) return this.generateAlternatives(context, alternatives);

    const [generationId] = (await this.start(context, 1)).ids;
    const { calls, started, messages: sent, outcome, end } = await this.run(context, generationId!, null, async (output) =>
      runStoryCommand({ db: this.db, pubsub: this.pubsub }, {
        storyId: story.id,
        actorId: userId,
        command: { ...write, output, generation: { id: generationId!, model, promptVersion: PROMPT_VERSION } },
        expectedRevision: request.expectedRevision ?? null,
        idempotencyKey: request.idempotencyKey ?? null,
        requestIdentity: identity,
      }),
    );
    if (outcome.status !== "succeeded") {
      await this.recordOutcome(generationId!, userId, story.id, module, model, calls, sent, started, outcome).finally(end);
      throw outcome.failure;
    }
    const result = outcome.result;
    await this.recordOutcome(generationId!, userId, story.id, module, model, calls, sent, started, { status: "succeeded", versionNumber: result.event.activeVersionNumber });
    end();
    return { storyId: story.id, event: result.event, replayed: result.replayed, generationId: generationId! };
  }

  /**
   * `alternatives` drafts of the module at once, each written to its own new branch of the story
   * (from the version the prompt was built from), labelled from its generation. Their drafts
   * stream to the story's moduleDraft with their branch ids. The story itself is not changed; a
   * draft that fails leaves no branch behind. Admitted as one request of the writer's.
   */
  private async generateAlternatives(context: GenerationContext, count: number): Promise<GenerateResult> {
    const { ids: generationIds, places } = await this.start(context, count);
    // no more at once than the places the writer had free; each later one checks today's budget first
    const results = await inTurns(generationIds, places, async (generationId, i): Promise<GeneratedAlternative> => {
      const label = `${context.module.title} draft ${i + 1} of ${count} (${context.model})`;
      // the branch is made before the first word streams: its id goes with every draft message
      const made: { branchId: string | null } = { branchId: null };
      const { calls, started, messages, outcome, end } = await this.run(context, generationId, () => made.branchId, async (output) => {
        return runStoryCommand({ db: this.db, pubsub: this.pubsub }, {
          storyId: made.branchId!,
          actorId: context.userId,
          command: {
            type: "WriteModule",
            module: context.module.name,
            inputText: context.inputText,
            output,
            versionId: randomUUID(),
            generation: { id: generationId, model: context.model, promptVersion: PROMPT_VERSION },
          },
        });
      }, async () => {
        if (i >= places) await this.checkBudget(this.db.prisma, context.userId);
        const branch = { storyId: context.storyId, actorId: context.userId, fromVersionNumber: context.contextVersionNumber, label };
        made.branchId = (await createBranch({ db: this.db, pubsub: this.pubsub }, branch)).storyId;
      });
      const { branchId } = made;
      if (outcome.status === "succeeded") {
        // written to the branch: it was made
        const written = { status: "succeeded", versionNumber: outcome.result.event.activeVersionNumber, branchId: branchId! } as const;
        await this.recordOutcome(generationId, context.userId, context.storyId, context.module, context.model, calls, messages, started, written);
        end();
        return { generationId, branchId, versionNumber: written.versionNumber, error: null };
      }
      // a draft that failed leaves no branch behind
      // (were the database away now, the empty branch would stay: the writer can delete it)
      if (branchId !== null) await discardBranch(this.db, branchId).catch(() => undefined);
      await this.recordOutcome(generationId, context.userId, context.storyId, context.module, context.model, calls, messages, started, outcome).finally(end);
      return { generationId, branchId: null, versionNumber: null, error: outcome.failure };
    });
    const succeeded = results.filter((r) => r.branchId !== null);
    // all failed: the request failed, as one generation's would
    if (succeeded.length === 0) throw results[0]!.error!;
    const last = await this.db.prisma.storyEvent.findFirst({ where: { storyId: context.storyId }, orderBy: { seq: "desc" }, select: { id: true, activeVersionNumber: true } });
    if (!last) throw notFound("story");
    return { storyId: context.storyId, event: last, replayed: false, generationId: succeeded[0]!.generationId, alternatives: results };
  }

  /**
   * Admits `count` generations as one request of the writer's and records them as running (those
   * that wait for a place too, so that they hold it): their ids, and how many places the writer
   * had free, which they may run at once.
   */
  private async start(context: GenerationContext, count: number): Promise<{ ids: string[]; places: number }> {
    const ids = Array.from({ length: count }, () => randomUUID());
    const places = await this.db.prisma.$transaction(async (tx) => {
      const free = await this.admit(tx, context.userId);
      for (const id of ids) await recordStarted(tx, { ...context, id });
      return free;
    });
    return { ids, places };
  }

  /**
   * Runs one generation: streams its draft (with the branch it writes to, if any), validates the
   * model's answer and hands it to `write`. `prepare` runs first (making the branch).
   */
  private async run<T>(
    context: GenerationContext,
    generationId: string,
    branch: (() => string | null) | null,
    write: (output: JsonObject) => Promise<T>,
    prepare?: () => Promise<void>,
  ): Promise<{
    calls: CompletionResult[];
    started: number;
    messages: ProviderMessage[];
    outcome: { status: "succeeded"; result: T } | { status: "failed" | "cancelled"; failure: StorySparkError; cause: unknown };
    /** sends the draft's last message: once the outcome is recorded */
    end: () => void;
  }> {
    const { storyId, module, userId, model } = context;
    // each generation keeps its own copy: a repair attempt adds to it
    const messages = [...context.messages];
    const started = performance.now();
    const controller = new AbortController();
    this.running.set(generationId, controller);
    const deadline = setTimeout(() => controller.abort("timeout" satisfies StopReason), this.config.timeoutMs);
    const draft = (fields: Partial<ModuleDraft>) =>
      this.pubsub.publish("moduleDraft", storyId, {
        storyId,
        generationId,
        module: module.name,
        attempt: 1,
        delta: "",
        text: "",
        done: false,
        error: null,
        actorId: userId,
        ...(branch ? { branchId: branch() } : {}),
        ...fields,
      });
    const calls: CompletionResult[] = [];
    try {
      await prepare?.();
      draft({});
      const output = await this.complete(module, model, messages, controller.signal, started, calls, draft);
      const result = await write(output);
      const end = () => draft({ text: calls.at(-1)?.text ?? "", done: true, attempt: calls.length });
      return { calls, started, messages, outcome: { status: "succeeded", result }, end };
    } catch (error) {
      const failure = error instanceof StorySparkError ? error : new StorySparkError("AI_PROVIDER_ERROR", "the generation failed");
      const status = failure.code === "GENERATION_CANCELLED" ? "cancelled" : "failed";
      const end = () => draft({ done: true, attempt: Math.max(1, calls.length), error: { code: failure.code, message: failure.message } });
      return { calls, started, messages, outcome: { status, failure, cause: error }, end };
    } finally {
      clearTimeout(deadline);
      this.running.delete(generationId);
    }
  }

  /**
   * Asks the generation to stop, wherever it runs: the user who started it (it is their spend) or
   * the story's owner may; another member is FORBIDDEN; anyone else gets NOT_FOUND — the one who
   * started it too, once they are no longer a member (the record holds the story's text).
   */
  async cancel(userId: string, generationId: string) {
    const generation = await this.db.prisma.aiGeneration.findFirst({ where: { id: generationId } });
    if (!generation) throw notFound("generation");
    const role = await roleInStory(this.db.prisma, generation.storyId, userId);
    if (role === null) throw notFound("generation");
    if (generation.userId !== userId) requireRole(role, "owner", "cancelling another member's generation");
    if (generation.status === "running") {
      this.running.get(generationId)?.abort("cancelled" satisfies StopReason);
      this.pubsub.publish("generationCancelled", { generationId });
    }
    return generation;
  }

  /** Model calls until the output validates: the first, and one repair attempt. */
  private async complete(
    module: ModuleDefinition,
    model: string,
    messages: ProviderMessage[],
    signal: AbortSignal,
    started: number,
    calls: CompletionResult[],
    draft: (fields: Partial<ModuleDraft>) => void,
  ): Promise<JsonObject> {
    const jsonSchema = outputJsonSchema(module);
    for (let attempt = 1; ; attempt++) {
      const result = await streamCompletion(
        this.client!,
        { model, messages, schemaName: module.snapshotKey, jsonSchema, responseFormat: this.config.responseFormat },
        {
          signal,
          // our own deadline (the abort) decides; the SDK's timeout only backs it up
          timeoutMs: this.config.timeoutMs - (performance.now() - started) + 1_000,
          onDelta: (delta, text) => draft({ attempt, delta, text }),
        },
      );
      calls.push(result);
      const problem = validationProblem(module, result.text);
      if (problem === null) return JSON.parse(result.text) as JsonObject;
      if (attempt >= MAX_ATTEMPTS) {
        throw new StorySparkError("AI_OUTPUT_INVALID", `the model's answer did not fit ${module.title} twice: ${problem}`);
      }
      messages.push({ role: "assistant", content: result.text }, repairMessage(problem));
    }
  }

  /**
   * Admission: the writer's limits on generations running at once and on today's tokens. Run in
   * the transaction that records the generation as running, under a lock per writer, so that
   * two requests at once cannot both take the last place.
   */
  private async admit(tx: DbClient, userId: string): Promise<number> {
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`ai:${userId}`}))::text AS locked`;
    const running = await tx.aiGeneration.count({
      where: { userId, status: "running", createdAt: { gt: new Date(Date.now() - this.config.timeoutMs - STALE_AFTER_MS) } },
    });
    if (running >= this.config.maxConcurrentPerUser) {
      throw new StorySparkError("RATE_LIMITED", `at most ${this.config.maxConcurrentPerUser} generations at once; wait for one to finish`, {
        limit: this.config.maxConcurrentPerUser,
      });
    }
    await this.checkBudget(tx, userId);
    return this.config.maxConcurrentPerUser - running;
  }

  /** AI_BUDGET_EXCEEDED when the writer's tokens of today are spent. */
  private async checkBudget(db: DbClient, userId: string): Promise<void> {
    const midnight = new Date();
    midnight.setUTCHours(0, 0, 0, 0);
    const spent = await db.aiCostTracking.aggregate({ where: { userId, createdAt: { gte: midnight } }, _sum: { promptTokens: true, completionTokens: true } });
    const used = (spent._sum.promptTokens ?? 0) + (spent._sum.completionTokens ?? 0);
    if (used >= this.config.dailyTokenBudgetPerUser) {
      throw new StorySparkError("AI_BUDGET_EXCEEDED", `today's budget of ${this.config.dailyTokenBudgetPerUser} tokens is spent (${used} used)`, {
        budget: this.config.dailyTokenBudgetPerUser,
        used,
      });
    }
  }

  /** Recording, at the end: the generation's outcome, its cost per call, usage, and the error if it failed. */
  private async recordOutcome(
    generationId: string,
    userId: string,
    storyId: string,
    module: ModuleDefinition,
    model: string,
    calls: CompletionResult[],
    messages: ProviderMessage[],
    started: number,
    outcome:
      | { status: "succeeded"; versionNumber: number; branchId?: string }
      | { status: "failed" | "cancelled"; failure: StorySparkError; cause: unknown },
  ): Promise<void> {
    const durationMs = Math.round(performance.now() - started);
    const costs = calls.map((c) => costOf(this.config.prices, model, c.promptTokens, c.completionTokens));
    const promptTokens = sum(calls.map((c) => c.promptTokens));
    const completionTokens = sum(calls.map((c) => c.completionTokens));
    const cost = costs.some((c) => c === null) ? null : sum(costs as number[]);
    announceGenerationEnded({ model, outcome: outcome.status, calls: calls.length, promptTokens, completionTokens, costUsd: cost });
    await this.db.prisma.$transaction([
      this.db.prisma.aiGeneration.update({
        where: { id: generationId },
        data: {
          status: outcome.status,
          messages: messages as Prisma.InputJsonArray,
          attempts: calls.length,
          promptTokens,
          completionTokens,
          costUsd: cost,
          durationMs,
          finishReason: calls.at(-1)?.finishReason ?? null,
          errorCode: outcome.status === "succeeded" ? null : outcome.failure.code,
          versionNumber: outcome.status === "succeeded" ? outcome.versionNumber : null,
          branchId: outcome.status === "succeeded" ? (outcome.branchId ?? null) : null,
          finishedAt: new Date(),
        },
      }),
      this.db.prisma.aiCostTracking.createMany({
        data: calls.map((c, i) => ({
          generationId,
          userId,
          storyId,
          model,
          promptTokens: c.promptTokens,
          completionTokens: c.completionTokens,
          costUsd: costs[i] ?? null,
        })),
      }),
      this.db.prisma.moduleUsageLog.create({
        data: {
          userId,
          storyId,
          moduleName: module.name,
          source: "generated",
          outcome: outcome.status === "succeeded" ? "written" : outcome.status,
          durationMs,
          generationId,
        },
      }),
      ...(outcome.status === "succeeded"
        ? []
        : [
            this.db.prisma.errorLog.create({
              data: {
                userId,
                storyId,
                generationId,
                source: "ai",
                code: outcome.failure.code,
                message: outcome.failure.message,
                details: errorDetails(outcome.cause, calls),
              },
            }),
          ]),
    ]);
  }
}

/** `work` on each item, at most `at` at once; the results in the items' order. */
async function inTurns<T, R>(items: readonly T[], at: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(at, items.length)) }, worker));
  return results;
}

/** Erases the branch made for a draft that failed: nothing but its first version is in it. */
async function discardBranch(db: Database, branchId: string): Promise<void> {
  await db.prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM stories WHERE id = ${branchId}::uuid FOR UPDATE`;
    await eraseStory(tx, branchId);
  });
  forgetState(db, branchId);
}

/** What a generation is asked for, and for whom: the same for each of a request's alternatives. */
type GenerationContext = {
  userId: string;
  storyId: string;
  module: ModuleDefinition;
  model: string;
  messages: readonly ProviderMessage[];
  inputText: string;
  /** the story's active version, whose upstream modules the prompt was built from (and alternatives branch from) */
  contextVersionNumber: number;
};

/** Recording, at the start: the generation as running, with its provenance (model, prompt, context). */
async function recordStarted(tx: DbClient, generation: GenerationContext & { id: string }): Promise<void> {
  await tx.aiGeneration.create({
    data: {
      id: generation.id,
      userId: generation.userId,
      storyId: generation.storyId,
      moduleName: generation.module.name,
      status: "running",
      model: generation.model,
      promptVersion: PROMPT_VERSION,
      messages: generation.messages as Prisma.InputJsonArray,
      inputText: generation.inputText,
      contextVersionNumber: generation.contextVersionNumber,
    },
  });
}

/** Why a model's text is not the module's output, or null when it is. */
function validationProblem(module: ModuleDefinition, text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `the answer is not valid JSON (${error instanceof Error ? error.message : error})`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the answer must be a JSON object";
  const checked = module.outputSchema.safeParse(value);
  if (!checked.success) {
    return checked.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
      .join("; ");
  }
  if (Buffer.byteLength(text, "utf8") > LIMITS.outputBytes) return `the answer is over ${LIMITS.outputBytes} bytes`;
  return null;
}

function errorDetails(cause: unknown, calls: CompletionResult[]): Prisma.InputJsonObject {
  return {
    error: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause),
    attempts: calls.length,
    lastAnswer: calls.at(-1)?.text.slice(0, 2_000) ?? null,
  };
}

function generationIdOf(event: StoredEvent): string | null {
  return event.type === "ModuleWritten" ? (event.payload.generation?.id ?? null) : null;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
