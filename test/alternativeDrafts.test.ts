// Alternative drafts (issue 14, item 4): generateModule with `alternatives: n` writes n drafts of a
// module, each to a new branch of the story labelled from its generation, streams them to the
// story's moduleDraft with their branch ids, records each one's cost, and leaves the story as it
// was until the writer merges the draft they like. A draft that fails leaves no branch behind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoryState } from "./support/documents.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { graphql } from "./generated/gql.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { canonicalJson } from "../src/domain/json.ts";

const GenerateAlternatives = graphql(`
  mutation AlternativesGenerate($input: GenerateModuleInput!) {
    generateModule(input: $input) {
      story { revision activeVersion { number } }
      generation { id }
      alternatives {
        generation { id status model promptTokens completionTokens costUsd versionNumber branch { id } }
        branch { id branchLabel isBranch branchOf { versionNumber story { id } } owner { username } }
        version { number snapshot generation { id } }
        error { code }
      }
    }
  }
`);

const AlternativeDraftFeed = graphql(`
  subscription AlternativesDraftFeed($storyId: ID!) {
    moduleDraft(storyId: $storyId) { generationId branchId module delta done error { code } }
  }
`);

const StoryAndBranches = graphql(`
  query AlternativesStory($id: ID!) {
    story(id: $id) {
      revision
      branches { id branchLabel }
      generations { id status branch { id } costUsd }
      aiUsage { generations promptTokens completionTokens }
    }
  }
`);

const MergeDraft = graphql(`
  mutation AlternativesMerge($input: MergeBranchInput!) {
    mergeBranch(input: $input) { version { number snapshot } event { type } }
  }
`);

const idea = (logline: string) => ({ logline, one_liner: logline.slice(0, 20), premise: `${logline} Premise.`, themes: ["grief"] });
const DRAFTS = [idea("A keeper bargains with the sea."), idea("A diver finds her brother's voice in a wreck."), idea("A town forgets its drowned.")];
/** A JSON answer cut into streamed pieces. */
const pieces = (value: object, size = 25) => {
  const text = JSON.stringify(value);
  return Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
};
const stream = (value: object) => ({ kind: "stream" as const, chunks: [JSON.stringify(value)], usage: { prompt_tokens: 500, completion_tokens: 40 } });

let fake: FakeOpenAI;
let server: TestServer;
let writer: { token: string; userId: string };

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startTestServer(undefined, {
    ai: { apiKey: "test-key", baseURL: fake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 5_000, maxRetries: 0 },
  });
  writer = await signUpWriter(server);
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

const uuidOf = (globalId: string) => decodeGlobalId(globalId)!.id;

describe("generateModule with alternatives", () => {
  it("writes each draft to its own labelled branch, streams them with their branch ids, and leaves the story as it was", async () => {
    const storyId = await createStory(server, writer.token, "Three ways in");
    const before = (await server.query(StoryState, { id: storyId }, writer.token)).story!;
    const client = wsClient(server.url, writer.token);
    const drafts = subscribeWs(client, AlternativeDraftFeed, { storyId });
    try {
      // a failing generation proves the subscription is in place (its draft ends with the error)
      for (let i = 0; i < 40 && drafts.received.data.length === 0; i++) {
        fake.script({ kind: "status", status: 400, message: "warm-up" });
        await server.request(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "warm-up" } }, writer.token);
        await drafts.received.until(() => drafts.received.data.length > 0, 250).catch(() => null);
      }
      const warmUp = new Set(drafts.received.data.map((d) => d.moduleDraft.generationId));
      fake.script(...DRAFTS.map(stream));
      const answer = await server.query(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "the sea", alternatives: 3 } }, writer.token);
      const generated = answer.generateModule;

      // the story itself did not move
      expect(generated.story.revision).toBe(before.revision);
      expect(generated.story.activeVersion.number).toBe(1);
      const alternatives = generated.alternatives!;
      expect(alternatives).toHaveLength(3);
      expect(alternatives.map((a) => a.branch!.branchLabel)).toEqual([1, 2, 3].map((i) => `Idea Spark draft ${i} of 3 (gpt-4o-mini)`));
      // each draft is one of the model's answers, each answer in one branch
      const written = alternatives.map((a) => (a.version!.snapshot as { idea_spark: unknown }).idea_spark);
      expect(new Set(written.map((w) => canonicalJson(w)))).toEqual(new Set(DRAFTS.map((d) => canonicalJson(d))));
      for (const a of alternatives) {
        expect(a.error).toBeNull();
        expect(a.branch).toMatchObject({ isBranch: true, branchOf: { versionNumber: 1, story: { id: storyId } }, owner: { username: expect.any(String) } });
        expect(a.version!.number).toBe(2);
        expect(a.version!.generation!.id).toBe(a.generation.id);
        // the cost of each is recorded as for any generation
        expect(a.generation).toMatchObject({ status: "succeeded", model: "gpt-4o-mini", promptTokens: 500, completionTokens: 40, versionNumber: 2 });
        expect(a.generation.branch!.id).toBe(a.branch!.id);
        expect(a.generation.costUsd).toBeGreaterThan(0);
      }

      // the drafts streamed to the story's subscribers, each with its branch
      const byGeneration = new Map(alternatives.map((a) => [a.generation.id, a.branch!.id]));
      const streamed = () => drafts.received.data.map((d) => d.moduleDraft).filter((d) => !warmUp.has(d.generationId));
      await drafts.received.until(() => streamed().filter((d) => d.done).length >= 3);
      for (const draft of streamed()) expect(draft.branchId).toBe(byGeneration.get(draft.generationId));
      expect(new Set(streamed().map((d) => d.generationId))).toEqual(new Set(byGeneration.keys()));
      expect(streamed().filter((d) => d.done).every((d) => d.error === null)).toBe(true);

      const { story } = await server.query(StoryAndBranches, { id: storyId }, writer.token);
      expect(story!.revision).toBe(before.revision);
      expect(story!.branches.map((b) => b.id).sort()).toEqual(alternatives.map((a) => a.branch!.id).sort());
      expect(story!.generations.filter((g) => g.status === "succeeded")).toHaveLength(3);
      expect(story!.generations.filter((g) => g.status === "succeeded").every((g) => byGeneration.get(g.id) === g.branch!.id)).toBe(true);
      expect(story!.aiUsage).toMatchObject({ generations: 3 + warmUp.size });

      // the writer merges the one they like: the story takes it as one new version
      const liked = alternatives[1]!;
      const merged = await server.query(MergeDraft, { input: { branchId: liked.branch!.id, intoStoryId: storyId } }, writer.token);
      expect(merged.mergeBranch.event.type).toBe("BranchMerged");
      expect((merged.mergeBranch.version.snapshot as { idea_spark: unknown }).idea_spark).toEqual((liked.version!.snapshot as { idea_spark: unknown }).idea_spark);
    } finally {
      drafts.stop();
      await client.dispose();
    }
  });

  it("a draft that fails leaves no branch; the others stand, and the failure is recorded", async () => {
    const storyId = await createStory(server, writer.token, "One fails");
    const branchesBefore = await server.db.prisma.storyBranch.count();
    fake.script(stream(DRAFTS[0]!), { kind: "status", status: 400, message: "refused" });
    const answer = await server.query(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "the sea", alternatives: 2 } }, writer.token);
    const alternatives = answer.generateModule.alternatives!;
    const ok = alternatives.filter((a) => a.branch !== null);
    const failed = alternatives.filter((a) => a.branch === null);
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error!.code).toBe("AI_PROVIDER_ERROR");
    expect(failed[0]!.version).toBeNull();
    expect(failed[0]!.generation).toMatchObject({ status: "failed", versionNumber: null, branch: null });
    // only the successful draft's branch exists
    expect(await server.db.prisma.storyBranch.count()).toBe(branchesBefore + 1);
    const { story } = await server.query(StoryAndBranches, { id: storyId }, writer.token);
    expect(story!.branches.map((b) => b.id)).toEqual([ok[0]!.branch!.id]);
    expect(story!.generations.map((g) => g.status).sort()).toEqual(["failed", "succeeded"]);
    const stories = await server.db.prisma.story.count({ where: { title: "One fails" } });
    expect(stories).toBe(2);
  });

  it("all drafts failing fails the request, and leaves no branch", async () => {
    const storyId = await createStory(server, writer.token, "All fail");
    fake.script({ kind: "status", status: 400, message: "refused" }, { kind: "status", status: 400, message: "refused" });
    const response = await server.request(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "x", alternatives: 2 } }, writer.token);
    expect(errorCodes(response)).toEqual(["AI_PROVIDER_ERROR"]);
    expect(await server.db.prisma.storyBranch.count({ where: { branchParentId: uuidOf(storyId) } })).toBe(0);
    const { story } = await server.query(StoryAndBranches, { id: storyId }, writer.token);
    expect(story!.branches).toEqual([]);
    expect(story!.generations.map((g) => g.status)).toEqual(["failed", "failed"]);
  });

  it("refuses a count outside 1 to 4, and an idempotency key, before any model is asked", async () => {
    const storyId = await createStory(server, writer.token, "Refusals");
    const requests = fake.requests.length;
    for (const alternatives of [0, 5, -1]) {
      const response = await server.request(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "x", alternatives } }, writer.token);
      expect(errorCodes(response)).toEqual(["BAD_USER_INPUT"]);
      expect(response.errors![0]!.extensions!.field).toBe("alternatives");
    }
    const keyed = await server.request(
      GenerateAlternatives,
      { input: { storyId, module: "IDEA_SPARK", inputText: "x", alternatives: 2, idempotencyKey: "k1" } },
      writer.token,
    );
    expect(errorCodes(keyed)).toEqual(["BAD_USER_INPUT"]);
    expect(fake.requests.length).toBe(requests);
    // a stranger gets what a missing story gets
    const stranger = await signUpWriter(server);
    const refused = await server.request(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "x", alternatives: 2 } }, stranger.token);
    expect(errorCodes(refused)).toEqual(["NOT_FOUND"]);
  });
});

describe("alternatives under the writer's limits", () => {
  let limitedFake: FakeOpenAI;
  let limited: TestServer;
  beforeAll(async () => {
    limitedFake = await startFakeOpenAI();
    limited = await startTestServer(undefined, {
      ai: { apiKey: "test-key", baseURL: limitedFake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 5_000, maxRetries: 0, maxConcurrentPerUser: 1, dailyTokenBudgetPerUser: 1_000 },
    });
  });
  afterAll(async () => {
    await limited?.close();
    await limitedFake?.close();
  });

  it("run no more at once than the places the writer has, and stop at today's budget", async () => {
    const owner = await signUpWriter(limited);
    const storyId = await createStory(limited, owner.token, "Limited");
    const slow = (value: object) => ({ kind: "stream" as const, chunks: pieces(value), chunkDelayMs: 60, usage: { prompt_tokens: 500, completion_tokens: 100 } });
    limitedFake.script(...DRAFTS.map(slow));
    const answer = await limited.query(GenerateAlternatives, { input: { storyId, module: "IDEA_SPARK", inputText: "x", alternatives: 3 } }, owner.token);
    const alternatives = answer.generateModule.alternatives!;
    // one place: the drafts ran one after another; the third found the budget spent (2 × 600 tokens of 1,000)
    expect(alternatives.map((a) => a.error?.code ?? "ok")).toEqual(["ok", "ok", "AI_BUDGET_EXCEEDED"]);
    const calls = limitedFake.requests.filter((r) => r.path.includes("chat/completions"));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(3 * 60);
    expect(await limited.db.prisma.storyBranch.count({ where: { branchParentId: uuidOf(storyId) } })).toBe(2);
  });
});
