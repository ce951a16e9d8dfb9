// The fake OpenAI server is only useful if the real `openai` SDK reads its replies as it reads the real API's.
import OpenAI, { APIConnectionTimeoutError, RateLimitError } from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";

const messages = [
  { role: "system" as const, content: "You write story modules." },
  { role: "user" as const, content: "Write the premise." },
];

describe("fake OpenAI server", () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeEach(async () => {
    fake = await startFakeOpenAI();
    client = new OpenAI({ apiKey: "test", baseURL: fake.baseURL, maxRetries: 0 });
  });

  afterEach(async () => {
    await fake.close();
  });

  it("streams a reply chunk by chunk, then its usage", async () => {
    fake.script({ kind: "stream", chunks: ["Once ", "upon ", "a time"], chunkDelayMs: 40, usage: { prompt_tokens: 12, completion_tokens: 3 } });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: { content: string; at: number }[] = [];
    const finishReasons: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      expect(chunk.model).toBe("gpt-4o-mini");
      const choice = chunk.choices[0];
      if (choice?.delta.content) deltas.push({ content: choice.delta.content, at: performance.now() });
      if (choice) finishReasons.push(choice.finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }

    expect(deltas.map((d) => d.content)).toEqual(["Once ", "upon ", "a time"]);
    // Arrival spread proves the SDK handed each event over as it came, not after the whole body.
    expect(deltas.at(-1)!.at - deltas[0]!.at).toBeGreaterThanOrEqual(60);
    expect(finishReasons.at(-1)).toBe("stop");
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
  });

  it("sends no usage chunk unless the request asked for it", async () => {
    fake.script({ kind: "stream", chunks: ["a", "b"], finishReason: "length" });

    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });

  it("answers a non-streamed request with one completion", async () => {
    fake.script({ kind: "json", content: '{"premise":"A lighthouse keeper"}', usage: { prompt_tokens: 20, completion_tokens: 8 } });

    const completion = await client.chat.completions.create({ model: "gpt-4o", messages });

    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("gpt-4o");
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices[0]!.message).toMatchObject({ role: "assistant", content: '{"premise":"A lighthouse keeper"}' });
    expect(completion.choices[0]!.finish_reason).toBe("stop");
    expect(completion.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 });
  });

  it("joins a stream reply's chunks for a non-streamed request", async () => {
    fake.script({ kind: "stream", chunks: ["Hello, ", "world"] });

    const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages });

    expect(completion.choices[0]!.message.content).toBe("Hello, world");
  });

  it("surfaces a 429 as RateLimitError, and a retrying client gets the next reply", async () => {
    fake.script({ kind: "status", status: 429, retryAfterSeconds: 0, message: "Rate limit reached" });
    const error = await client.chat.completions.create({ model: "gpt-4o-mini", messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    expect((error as RateLimitError).headers.get("retry-after")).toBe("0");

    const retrying = new OpenAI({ apiKey: "test", baseURL: fake.baseURL, maxRetries: 2 });
    fake.script({ kind: "status", status: 429, retryAfterSeconds: 0 }, { kind: "json", content: "after the wait" });
    const completion = await retrying.chat.completions.create({ model: "gpt-4o-mini", messages });

    expect(completion.choices[0]!.message.content).toBe("after the wait");
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests[2]!.headers["x-stainless-retry-count"]).toBe("1");
  });

  it("makes the SDK's iteration throw when the stream is cut", async () => {
    fake.script({ kind: "stream", chunks: ["one", "two", "three"], cutAfter: 1 });

    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const received: string[] = [];
    const consume = async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? "");
    };

    // The SDK does not wrap this: undici's own "terminated" TypeError escapes the iterator.
    await expect(consume()).rejects.toThrow(/terminated/);
    expect(received).toEqual(["", "one"]);
  });

  it("times out on a hanging reply", async () => {
    fake.script({ kind: "hang" });

    const started = performance.now();
    const error = await client.chat.completions.create({ model: "gpt-4o-mini", messages }, { timeout: 300 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(APIConnectionTimeoutError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("records each request's method, path, headers and parsed body", async () => {
    fake.script({ kind: "json", content: "{}" });

    await client.chat.completions.create({ model: "gpt-4o-mini", messages, response_format: { type: "json_object" } });

    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
    expect(request!.headers.authorization).toBe("Bearer test");
    expect(request!.body).toEqual({ model: "gpt-4o-mini", messages, response_format: { type: "json_object" } });
  });

  it("answers 500 'no scripted reply' when the queue is empty, and lists models", async () => {
    const error = await client.chat.completions.create({ model: "gpt-4o-mini", messages }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 500, message: expect.stringContaining("no scripted reply") });

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain("gpt-4o-mini");
  });

  it("closes while a request hangs", async () => {
    fake.script({ kind: "hang" });
    const pending = client.chat.completions.create({ model: "gpt-4o-mini", messages }).catch((e: unknown) => e);
    await expect.poll(() => fake.requests.length).toBe(1);

    await fake.close();

    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
    // afterEach closes again, which must be harmless.
  });
});
