// A scripted local server speaking OpenAI's Chat Completions wire format, for driving the unchanged `openai` SDK in tests.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export type Usage = { prompt_tokens: number; completion_tokens: number };
export type FinishReason = "stop" | "length";

export type ScriptedReply =
  | { kind: "stream"; chunks: string[]; chunkDelayMs?: number; usage?: Usage; finishReason?: FinishReason; cutAfter?: number }
  | { kind: "json"; content: string; usage?: Usage; finishReason?: FinishReason }
  | { kind: "status"; status: number; retryAfterSeconds?: number; message?: string }
  | { kind: "hang" };

export type RecordedRequest = { method: string; path: string; headers: Record<string, string>; body: unknown; at: number };

export type FakeOpenAI = {
  baseURL: string;
  script(...replies: ScriptedReply[]): void;
  requests: RecordedRequest[];
  close(): Promise<void>;
};

type ChatRequest = { model: string; stream: boolean; includeUsage: boolean; messages: unknown };

const MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"];

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  // Aborted on close so delayed streams stop sleeping instead of outliving the test.
  const shutdown = new AbortController();
  let sequence = 0;
  let closing: Promise<void> | undefined;

  const server = createServer((req, res) => {
    readBody(req)
      .then((raw) => {
        const parsed = parseJSON(raw);
        // An unparsable body is kept as its text so a test can still see what was sent.
        requests.push({ method: req.method ?? "", path: req.url ?? "", headers: flattenHeaders(req), body: parsed ? parsed.value : raw || undefined, at: Date.now() });
        return route(req, res, parsed);
      })
      // A client that vanished mid-request must not become an unhandled rejection in the test process.
      .catch(() => res.destroy());
  });

  async function route(req: IncomingMessage, res: ServerResponse, parsed: { value: unknown } | null): Promise<void> {
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    if (req.method === "GET" && path === "/v1/models") {
      const created = Math.floor(Date.now() / 1000);
      return sendJSON(res, 200, { object: "list", data: MODELS.map((id) => ({ id, object: "model", created, owned_by: "openai" })) });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return sendError(res, 404, `Invalid URL (${req.method} ${path})`);
    }
    if (!parsed) return sendError(res, 400, "We could not parse the JSON body of your request.");
    const reply = queue.shift();
    if (!reply) {
      // A test that forgot to script a reply should fail on the first call, not after the SDK's back-off retries.
      return sendError(res, 500, "no scripted reply", { "x-should-retry": "false" });
    }
    sequence += 1;
    const chat = readChatRequest(parsed.value);
    const id = `chatcmpl-fake${sequence}`;
    switch (reply.kind) {
      case "hang":
        // Deliberately never answered: the client's timeout/abort or close() ends the socket.
        return;
      case "status": {
        const headers: Record<string, string> = {};
        if (reply.retryAfterSeconds !== undefined) headers["retry-after"] = String(reply.retryAfterSeconds);
        return sendError(res, reply.status, reply.message ?? `scripted ${reply.status}`, headers);
      }
      case "json":
        return chat.stream
          ? streamCompletion(res, id, chat, { kind: "stream", chunks: [reply.content], usage: reply.usage, finishReason: reply.finishReason })
          : sendCompletion(res, id, chat, reply.content, reply.usage, reply.finishReason);
      case "stream":
        if (chat.stream) return streamCompletion(res, id, chat, reply);
        // A non-streamed request cannot be cut mid-body meaningfully, so a scripted cut drops the connection outright.
        if (reply.cutAfter !== undefined) return void res.socket?.destroy();
        return sendCompletion(res, id, chat, reply.chunks.join(""), reply.usage, reply.finishReason);
    }
  }

  async function streamCompletion(res: ServerResponse, id: string, chat: ChatRequest, reply: Extract<ScriptedReply, { kind: "stream" }>): Promise<void> {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-request-id": `req_${id}`,
    });
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], usage?: unknown) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: chat.model,
      service_tier: "default",
      system_fingerprint: "fp_fake",
      choices,
      // The real API only carries a usage key on chunks once include_usage was asked for, null until the last one.
      ...(chat.includeUsage ? { usage: usage ?? null } : {}),
    });
    const choice = (delta: Record<string, unknown>, finishReason: FinishReason | null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });

    if (!(await writeEvent(res, chunk([choice({ role: "assistant", content: "", refusal: null }, null)])))) return;
    for (const [index, content] of reply.chunks.entries()) {
      if (reply.cutAfter !== undefined && index >= reply.cutAfter) return void res.socket?.destroy();
      if (reply.chunkDelayMs) {
        try {
          await sleep(reply.chunkDelayMs, undefined, { signal: shutdown.signal });
        } catch {
          return;
        }
      }
      if (!(await writeEvent(res, chunk([choice({ content }, null)])))) return;
    }
    // cutAfter ≥ chunks.length still cuts: the reply ends without finish_reason or [DONE].
    if (reply.cutAfter !== undefined) return void res.socket?.destroy();
    if (!(await writeEvent(res, chunk([choice({}, reply.finishReason ?? "stop")])))) return;
    if (chat.includeUsage) {
      if (!(await writeEvent(res, chunk([], usageBody(reply.usage, chat, reply.chunks.length))))) return;
    }
    if (!(await writeRaw(res, "data: [DONE]\n\n"))) return;
    res.end();
  }

  return {
    baseURL: await listen(server),
    script: (...replies) => void queue.push(...replies),
    requests,
    close() {
      // Idempotent, so a test may close early and still leave the afterEach close in place.
      closing ??= new Promise<void>((resolve, reject) => {
        shutdown.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        // Hanging and keep-alive sockets would otherwise hold close() open indefinitely.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function sendCompletion(res: ServerResponse, id: string, chat: ChatRequest, content: string, usage: Usage | undefined, finishReason: FinishReason | undefined): void {
  sendJSON(
    res,
    200,
    {
      id,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: chat.model,
      choices: [{ index: 0, message: { role: "assistant", content, refusal: null, annotations: [] }, logprobs: null, finish_reason: finishReason ?? "stop" }],
      usage: usageBody(usage, chat, 1),
      service_tier: "default",
      system_fingerprint: "fp_fake",
    },
    { "x-request-id": `req_${id}` },
  );
}

// Without scripted usage, counts are rough but deterministic: a quarter token per prompt character, one per content chunk.
function usageBody(usage: Usage | undefined, chat: ChatRequest, chunkCount: number) {
  const prompt_tokens = usage?.prompt_tokens ?? Math.ceil(JSON.stringify(chat.messages ?? null).length / 4);
  const completion_tokens = usage?.completion_tokens ?? chunkCount;
  return {
    prompt_tokens,
    completion_tokens,
    total_tokens: prompt_tokens + completion_tokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJSON(res, status, { error: { message, type: errorType(status), param: null, code: errorCode(status) } }, headers);
}

function errorType(status: number): string {
  if (status === 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function errorCode(status: number): string | null {
  if (status === 401) return "invalid_api_key";
  if (status === 404) return "unknown_url";
  if (status === 429) return "rate_limit_exceeded";
  return null;
}

function sendJSON(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function writeEvent(res: ServerResponse, value: unknown): Promise<boolean> {
  return writeRaw(res, `data: ${JSON.stringify(value)}\n\n`);
}

// Resolves once the bytes reach the socket, so a following destroy() cannot swallow them; false when the client is gone.
function writeRaw(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => res.write(text, (error) => resolve(!error && !res.destroyed)));
}

function readChatRequest(body: unknown): ChatRequest {
  const fields = isRecord(body) ? body : {};
  const options = isRecord(fields.stream_options) ? fields.stream_options : {};
  return {
    model: typeof fields.model === "string" ? fields.model : "gpt-4o-mini",
    stream: fields.stream === true,
    includeUsage: options.include_usage === true,
    messages: fields.messages,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// null means "not JSON"; an empty body parses as { value: undefined } so GETs are not treated as malformed.
function parseJSON(raw: string): { value: unknown } | null {
  if (raw.length === 0) return { value: undefined };
  try {
    return { value: JSON.parse(raw) as unknown };
  } catch {
    return null;
  }
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

function listen(server: ReturnType<typeof createServer>): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}/v1`);
    });
  });
}
