// AI generation of modules against a local OpenAI-compatible server that streams
// scripted answers: drafts live, versions undoable, failures leave nothing behind.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AiUsage,
  CancelGeneration,
  GenerateModule,
  SignUp,
  ModuleDraftFeed,
  StoryGenerations,
  StoryState,
  Undo,
  WriteModule,
} from "./support/documents.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { AcceptInvitation, InviteCollaborator, RemoveCollaborator } from "./support/membershipDocuments.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Subscription } from "./support/live.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const IDEA = {
  logline: "A grieving lighthouse keeper bargains with the sea for her drowned brother.",
  one_liner: "Grief, tides and a bargain.",
  premise: "Mara keeps the Skerry light alone since Ewan drowned; the sea offers him back, for a price.",
  themes: ["Can grief be bargained with?", "What do we owe the dead?"],
};
const WORLD = {
  setting: "A storm-lashed North Sea island in 1893.",
  time_period: "Late autumn, 1893",
  locations: [{ name: "The Skerry Light", description: "A granite tower whose lamp room hums when the sea speaks." }],
  rules: ["The sea keeps every promise made to it."],
  tone: "Quiet dread with warmth.",
};
/** A JSON answer cut into streamed pieces. */
const pieces = (value: object, size = 25) => {
  const text = JSON.stringify(value);
  return Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
};

let fake: FakeOpenAI;
let server: TestServer;
let writer: { token: string; userId: string };

const aiConfig = (fakeServer: FakeOpenAI) => ({
  apiKey: "test-key",
  baseURL: fakeServer.baseURL,
  defaultModel: "gpt-4o-mini",
  modelFor: { WORLD_SEED: "gpt-4.1-mini" },
  timeoutMs: 1_500,
  maxRetries: 2,
});

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startTestServer(undefined, { ai: aiConfig(fake) });
  writer = await signUpWriter(server);
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

const generate = (storyId: string, module: "IDEA_SPARK" | "WORLD_SEED", inputText = "lighthouse, grief", extra: object = {}) =>
  server.request(GenerateModule, { input: { storyId, module, inputText, ...extra } }, writer.token);
const eventCount = (storyId: string) =>
  server.db.prisma.storyEvent.count({ where: { storyId: Buffer.from(storyId, "base64").toString().split(":")[1]! } });

type Draft = { moduleDraft: { generationId: string; attempt: number; delta: string; text: string; done: boolean; error: { code: string } | null } };

/** Subscribes to the story's drafts, live: a failing generation proves the subscription is in place. */
async function watchDrafts(storyId: string): Promise<{ drafts: Subscription<Draft>; viaSse: Subscription<Draft>; close(): Promise<void> }> {
  const client = wsClient(server.url, writer.token);
  const drafts = subscribeWs(client, ModuleDraftFeed, { storyId });
  const viaSse = subscribeSse(server.url, ModuleDraftFeed, { storyId }, writer.token);
  const live = () => drafts.received.data.length > 0 && viaSse.received.data.length > 0;
  for (let i = 0; i < 40 && !live(); i++) {
    fake.script({ kind: "status", status: 400, message: "warm-up" });
    await generate(storyId, "IDEA_SPARK");
    await drafts.received.until(() => live(), 250).catch(() => null);
  }
  expect(live()).toBe(true);
  return {
    drafts,
    viaSse,
    async close() {
      drafts.stop();
      viaSse.stop();
      await client.dispose();
    },
  };
}

const draftsOf = (drafts: Subscription<Draft>, generationId: string) =>
  drafts.received.data.map((d) => d.moduleDraft).filter((d) => d.generationId === generationId);

describe("generateModule", () => {
  it("streams the draft chunk by chunk to a WebSocket subscriber, saves one version, and undo takes it back", async () => {
    const storyId = await createStory(server, writer.token, "Generated");
    const { drafts, viaSse, close } = await watchDrafts(storyId);
    try {
      const chunks = pieces(IDEA);
      fake.script({ kind: "stream", chunks, chunkDelayMs: 15, usage: { prompt_tokens: 812, completion_tokens: 95 } });
      const before = await eventCount(storyId);
      const response = await generate(storyId, "IDEA_SPARK", "a keeper who hears the sea");
      expect(response.errors).toBeUndefined();
      const generated = response.data!.generateModule;

      expect(generated.version.number).toBe(2);
      expect((generated.version.snapshot as Record<string, unknown>).idea_spark).toEqual(IDEA);
      expect(generated.event).toMatchObject({ type: "ModuleWritten", payload: { module: "IDEA_SPARK", generation: { id: expect.any(String), model: "gpt-4o-mini" } } });
      expect(await eventCount(storyId)).toBe(before + 1);
      expect(generated.generation).toMatchObject({
        status: "succeeded",
        model: "gpt-4o-mini",
        attempts: 1,
        promptTokens: 812,
        completionTokens: 95,
        finishReason: "stop",
        versionNumber: 2,
        errorCode: null,
      });
      expect(generated.generation!.costUsd).toBeCloseTo((812 * 0.15 + 95 * 0.6) / 1_000_000, 12);
      expect(generated.version.generation).toMatchObject({ id: generated.generation!.id, contextVersionNumber: 1, totalTokens: 907 });
      const messages = generated.generation!.messages as { role: string; content: string }[];
      expect(messages.map((m) => m.role)).toEqual(["system", "user"]);
      expect(messages[1]!.content).toContain("a keeper who hears the sea");

      // the subscriber saw every chunk, in order, then done
      const seen = draftsOf(drafts, generated.generation!.id);
      await drafts.received.until(() => draftsOf(drafts, generated.generation!.id).some((d) => d.done));
      const all = draftsOf(drafts, generated.generation!.id);
      expect(all.filter((d) => d.delta !== "").map((d) => d.delta)).toEqual(chunks);
      expect(all.at(-1)).toMatchObject({ done: true, error: null, text: JSON.stringify(IDEA) });
      expect(all.filter((d) => d.delta !== "").map((d) => d.text)).toEqual(chunks.map((_, i) => chunks.slice(0, i + 1).join("")));
      expect(seen.length).toBeGreaterThan(0);
      // and the same draft over Server-Sent Events
      await viaSse.received.until(() => draftsOf(viaSse, generated.generation!.id).some((d) => d.done));
      expect(draftsOf(viaSse, generated.generation!.id).filter((d) => d.delta !== "").map((d) => d.delta)).toEqual(chunks);

      const undone = await server.query(Undo, { input: { storyId } }, writer.token);
      expect(undone.undo.version.number).toBe(1);
      const { story } = await server.query(StoryState, { id: storyId }, writer.token);
      expect(story!.modules[0]!.output).toBeNull();
    } finally {
      await close();
    }
  });

  it("sends the upstream modules and the writer's notes to the model, with the module's JSON schema", async () => {
    const storyId = await createStory(server, writer.token, "Upstream");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: IDEA, inputText: "lighthouse" } }, writer.token);
    await server.query(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: { characters: [] } } }, writer.token);
    fake.script({ kind: "stream", chunks: pieces(WORLD) });
    const response = await generate(storyId, "WORLD_SEED", "make the island colder");
    expect(response.errors).toBeUndefined();

    const request = fake.requests.at(-1)!.body as {
      model: string;
      stream: boolean;
      messages: { role: string; content: string }[];
      response_format: { type: string; json_schema: { name: string; strict: boolean; schema: { required: string[] } } };
    };
    expect(request.model).toBe("gpt-4.1-mini"); // the module's own model
    expect(request.stream).toBe(true);
    const user = request.messages[1]!.content;
    expect(user).toContain(IDEA.logline); // World Seed sees Idea Spark
    expect(user).toContain("make the island colder");
    expect(user).not.toContain("characters"); // … and not what comes after it
    expect(request.response_format.type).toBe("json_schema");
    expect(request.response_format.json_schema).toMatchObject({ name: "world_seed", strict: true });
    expect(request.response_format.json_schema.schema.required).toEqual(["setting", "time_period", "locations", "rules", "tone"]);
    expect(response.data!.generateModule.generation!.messages).toEqual(request.messages);
  });

  it("retries a 429 (honouring retry-after) and then succeeds", async () => {
    const storyId = await createStory(server, writer.token, "Busy provider");
    const requestsBefore = fake.requests.length;
    fake.script({ kind: "status", status: 429, retryAfterSeconds: 0 }, { kind: "stream", chunks: pieces(IDEA) });
    const response = await generate(storyId, "IDEA_SPARK");
    expect(response.errors).toBeUndefined();
    expect(response.data!.generateModule.version.number).toBe(2);
    expect(fake.requests.length - requestsBefore).toBe(2);
  });

  it("repairs an answer that is not valid JSON with one more call", async () => {
    const storyId = await createStory(server, writer.token, "Repaired");
    fake.script({ kind: "stream", chunks: ['{"logline": "broken'] }, { kind: "stream", chunks: pieces(IDEA) });
    const response = await generate(storyId, "IDEA_SPARK");
    expect(response.errors).toBeUndefined();
    expect(response.data!.generateModule.generation).toMatchObject({ attempts: 2, status: "succeeded" });
    const repair = (fake.requests.at(-1)!.body as { messages: { role: string; content: string }[] }).messages;
    expect(repair.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(repair[2]!.content).toBe('{"logline": "broken');
    expect(repair[3]!.content).toMatch(/not valid JSON/);
  });
});

describe("a failed generation appends nothing, is logged, and ends the draft with its error", () => {
  const cases: [string, () => void, string][] = [
    ["invalid twice", () => fake.script({ kind: "stream", chunks: ['{"logline": 42}'] }, { kind: "stream", chunks: ["not json at all"] }), "AI_OUTPUT_INVALID"],
    ["a stream cut in the middle", () => fake.script({ kind: "stream", chunks: pieces(IDEA, 10), cutAfter: 3 }), "AI_PROVIDER_ERROR"],
    ["a provider that never answers", () => fake.script({ kind: "hang" }), "AI_TIMEOUT"],
    ["a provider that keeps failing", () => fake.script(...Array(3).fill({ kind: "status", status: 503 })), "AI_PROVIDER_ERROR"],
  ];
  for (const [what, script, code] of cases) {
    it(what, async () => {
      const storyId = await createStory(server, writer.token, what);
      const { drafts, close } = await watchDrafts(storyId);
      try {
        const before = await eventCount(storyId);
        script();
        const response = await generate(storyId, "IDEA_SPARK");
        expect(errorCodes(response)).toEqual([code]);
        expect(await eventCount(storyId)).toBe(before);

        const { story } = await server.query(StoryGenerations, { id: storyId }, writer.token);
        const failed = story!.generations[0]!;
        expect(failed).toMatchObject({ status: "failed", errorCode: code });
        const logged = await server.db.prisma.errorLog.findMany({ where: { code, generationId: uuidOf(failed.id) } });
        expect(logged).toHaveLength(1);

        await drafts.received.until(() => draftsOf(drafts, failed.id).some((d) => d.done));
        expect(draftsOf(drafts, failed.id).at(-1)).toMatchObject({ done: true, error: { code } });
      } finally {
        await close();
      }
    });
  }
});

describe("cancelGeneration", () => {
  it("stops a running generation: nothing is appended and the draft ends cancelled", async () => {
    const storyId = await createStory(server, writer.token, "Cancelled");
    const { drafts, close } = await watchDrafts(storyId);
    try {
      const before = await eventCount(storyId);
      fake.script({ kind: "stream", chunks: pieces(IDEA, 5), chunkDelayMs: 40 });
      const running = generate(storyId, "IDEA_SPARK");
      const generationId = await (async () => {
        for (;;) {
          const { story } = await server.query(StoryGenerations, { id: storyId, status: "running" }, writer.token);
          if (story!.generations[0]) return story!.generations[0].id;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      await drafts.received.until(() => draftsOf(drafts, generationId).some((d) => d.delta !== ""));
      const cancelled = await server.query(CancelGeneration, { input: { generationId } }, writer.token);
      expect(cancelled.cancelGeneration.generation.id).toBe(generationId);

      expect(errorCodes(await running)).toEqual(["GENERATION_CANCELLED"]);
      expect(await eventCount(storyId)).toBe(before);
      await drafts.received.until(() => draftsOf(drafts, generationId).some((d) => d.done));
      expect(draftsOf(drafts, generationId).at(-1)).toMatchObject({ done: true, error: { code: "GENERATION_CANCELLED" } });
      const { story } = await server.query(StoryGenerations, { id: storyId }, writer.token);
      expect(story!.generations[0]).toMatchObject({ id: generationId, status: "cancelled" });
    } finally {
      await close();
    }
  });
});

describe("cancelGeneration after leaving the story", () => {
  it("is NOT_FOUND to the member who started it once they are removed: the record holds the story's text", async () => {
    const storyId = await createStory(server, writer.token, "Shared, then not");
    const email = `editor-${randomUUID().slice(0, 8)}@example.com`;
    const { signUp } = await server.query(SignUp, { input: { email, username: "editor", password: "correct horse battery" } });
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email, role: "EDITOR" } }, writer.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, signUp.token);
    fake.script({ kind: "stream", chunks: pieces(IDEA) });
    await server.query(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "go" } }, signUp.token);
    const { story } = await server.query(StoryGenerations, { id: storyId }, writer.token);
    const generationId = story!.generations[0]!.id;
    // while a member, their own generation is theirs to cancel (it has finished: nothing to stop)
    expect(errorCodes(await server.request(CancelGeneration, { input: { generationId } }, signUp.token))).toEqual([]);

    await server.query(RemoveCollaborator, { input: { storyId, userId: signUp.user.id } }, writer.token);
    const after = await server.request(CancelGeneration, { input: { generationId } }, signUp.token);
    expect(errorCodes(after)).toEqual(["NOT_FOUND"]);
    expect(after.data).toBeNull();
  });
});

describe("aiUsage", () => {
  it("totals tokens and cost exactly as the provider reported them", async () => {
    const spender = await signUpWriter(server, "spender");
    const storyId = await createStory(server, spender.token, "Spend");
    const asSpender = (module: "IDEA_SPARK" | "WORLD_SEED") =>
      server.query(GenerateModule, { input: { storyId, module, inputText: "go" } }, spender.token);
    fake.script({ kind: "stream", chunks: pieces(IDEA), usage: { prompt_tokens: 1000, completion_tokens: 200 } });
    await asSpender("IDEA_SPARK");
    fake.script(
      { kind: "stream", chunks: ["{oops"], usage: { prompt_tokens: 1500, completion_tokens: 3 } },
      { kind: "stream", chunks: pieces(WORLD), usage: { prompt_tokens: 1600, completion_tokens: 300 } },
    );
    await asSpender("WORLD_SEED");

    const { viewer, story } = await server.query(AiUsage, { id: storyId }, spender.token);
    // Idea Spark ran on the default model, World Seed on its own (gpt-4.1-mini), each at its price
    const expectedCost = (1000 * 0.15 + 200 * 0.6) / 1_000_000 + ((1500 + 1600) * 0.4 + (3 + 300) * 1.6) / 1_000_000;
    expect(viewer!.aiUsage).toMatchObject({
      generations: 2,
      calls: 3,
      promptTokens: 4100,
      completionTokens: 503,
      totalTokens: 4603,
      unpricedCalls: 0,
      byModel: [
        { model: "gpt-4.1-mini", calls: 2 },
        { model: "gpt-4o-mini", calls: 1 },
      ],
    });
    expect(viewer!.aiUsage.costUsd).toBeCloseTo(expectedCost, 10);
    expect(story!.aiUsage).toMatchObject({ generations: 2, calls: 3, promptTokens: 4100, completionTokens: 503 });
    expect(story!.aiUsage.costUsd).toBeCloseTo(expectedCost, 10);
  });
});

describe("limits, checked before any call to the provider", () => {
  let limited: TestServer;
  let limitedFake: FakeOpenAI;
  beforeAll(async () => {
    limitedFake = await startFakeOpenAI();
    limited = await startTestServer(undefined, {
      ai: { ...aiConfig(limitedFake), timeoutMs: 5_000, maxConcurrentPerUser: 1, dailyTokenBudgetPerUser: 1_000 },
    });
  });
  afterAll(async () => {
    await limited?.close();
    await limitedFake?.close();
  });

  it("a second concurrent generation is RATE_LIMITED; a spent daily budget is AI_BUDGET_EXCEEDED", async () => {
    const user = await signUpWriter(limited, "limited");
    const storyId = await createStory(limited, user.token, "Limited");
    const run = () => limited.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "x" } }, user.token);

    limitedFake.script({ kind: "stream", chunks: pieces(IDEA, 10), chunkDelayMs: 30, usage: { prompt_tokens: 900, completion_tokens: 150 } });
    const before = limitedFake.requests.length;
    const first = run();
    // the first generation is running once its request reached the provider (not after a fixed delay: a busy machine is slower)
    for (const deadline = Date.now() + 30_000; limitedFake.requests.length === before; ) {
      if (Date.now() > deadline) throw new Error("the first generation never reached the provider");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const requests = limitedFake.requests.length;
    expect(errorCodes(await run())).toEqual(["RATE_LIMITED"]);
    expect((await first).errors).toBeUndefined();

    expect(errorCodes(await run())).toEqual(["AI_BUDGET_EXCEEDED"]); // 1,050 of 1,000 tokens used today
    expect(limitedFake.requests.length).toBe(requests);
  });
});

describe("without a provider", () => {
  it("generateModule answers AI_NOT_CONFIGURED and everything else works", async () => {
    const plain = await startTestServer();
    try {
      const user = await signUpWriter(plain, "plain");
      const storyId = await createStory(plain, user.token, "No AI");
      const response = await plain.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "x" } }, user.token);
      expect(errorCodes(response)).toEqual(["AI_NOT_CONFIGURED"]);
      const written = await plain.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: IDEA } }, user.token);
      expect(written.writeModule.version.number).toBe(2);
    } finally {
      await plain.close();
    }
  });
});

function uuidOf(globalId: string): string {
  return Buffer.from(globalId, "base64").toString("utf8").split(":")[1]!;
}
