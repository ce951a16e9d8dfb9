// Hostile input: text PostgreSQL cannot store, JSON nested to blow a stack, forged cursors, too many
// metadata keys, a model the operator did not offer, Markdown that would inject markup. Each gets
// BAD_USER_INPUT naming the field, the server answers the next request, and nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { CreateStory, DeleteMetadata, ExportStory, GenerateModule, LabelVersion, SetMetadata, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { allowedModels } from "../src/ai/config.ts";
import { readAiConfig } from "../src/config.ts";

const HostileStories = graphql(`
  query HostileStories($after: String) { stories(first: 2, after: $after) { edges { cursor node { title } } } }
`);
const HostileUserStories = graphql(`
  query HostileUserStories($after: String) { viewer { stories(first: 2, after: $after) { edges { cursor } } } }
`);
const HostileVersions = graphql(`
  query HostileVersions($id: ID!, $after: String) { story(id: $id) { versions(first: 2, after: $after) { edges { cursor node { number } } } } }
`);
const HostileRevision = graphql(`
  query HostileRevision($id: ID!) { story(id: $id) { revision } }
`);

let fake: FakeOpenAI;
let server: TestServer;
let token: string;
let storyId: string;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startTestServer(undefined, { ai: { apiKey: "test-key", baseURL: fake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 5_000 } });
  ({ token } = await signUpWriter(server));
  storyId = await createStory(server, token);
  await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "A keeper hears the sea." } } }, token);
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

/** Everything a refused request must leave as it was. */
async function snapshot() {
  const p = server.db.prisma;
  const [stories, events, versions, metadata, generations, revision] = await Promise.all([
    p.story.count(),
    p.storyEvent.count(),
    p.storyVersion.count(),
    p.metadata.count(),
    p.aiGeneration.count(),
    server.query(HostileRevision, { id: storyId }, token).then((r) => r.story!.revision),
  ]);
  return { stories, events, versions, metadata, generations, revision };
}

/** The request is refused with BAD_USER_INPUT naming `field`, nothing changed, and the server still answers. */
async function expectRefused(send: () => Promise<GraphQLResponse<unknown>>, field: string, reason?: RegExp) {
  const before = await snapshot();
  const response = await send();
  expect(errorCodes(response), JSON.stringify(response.errors)).toEqual(["BAD_USER_INPUT"]);
  const message = response.errors![0]!.message;
  expect(message.startsWith(`${field}: `), message).toBe(true);
  if (reason) expect(message).toMatch(reason);
  expect(await snapshot()).toEqual(before);
}

/** A request whose body is written by hand: documents with literals, and bytes JSON.stringify would not make. */
async function rawRequest(body: string): Promise<GraphQLResponse<unknown>> {
  const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });
  return (await response.json()) as GraphQLResponse<unknown>;
}

const nested = (depth: number): unknown => {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};

describe("NUL and lone surrogates in any string argument", () => {
  it("are sent as JSON escapes by JSON.stringify, so these tests send what an attacker's raw body would", () => {
    expect(JSON.stringify("a\0b")).toBe('"a\\u0000b"');
    expect(JSON.stringify("a\ud800b")).toBe('"a\\ud800b"');
  });

  for (const [name, bad] of [
    ["NUL", "before\0after"],
    ["a lone surrogate", "before\ud800after"],
  ] as const) {
    describe(`${name} is refused`, () => {
      it("in a story title", () => expectRefused(() => server.request(CreateStory, { input: { title: bad } }, token), "input.title", /must not contain/));
      it("in a module's input text", () =>
        expectRefused(() => server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: {}, inputText: bad } }, token), "input.inputText"));
      it("deep in a module's output", () =>
        expectRefused(
          () => server.request(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: { characters: [{ name: "Mara" }, { name: bad }] } } }, token),
          "input.output.characters.1.name",
        ));
      it("in a key of a module's output", () =>
        expectRefused(() => server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { [bad]: "x" } } }, token), "input.output", /a key/));
      it("in a metadata key", () =>
        expectRefused(() => server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: bad, value: 1 } }, token), "input.key"));
      it("in a metadata value", () =>
        expectRefused(
          () => server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "notes", value: { list: ["fine", bad] } } }, token),
          "input.value.list.1",
        ));
      it("in a version label", () =>
        expectRefused(() => server.request(LabelVersion, { input: { storyId, number: 1, label: bad } }, token), "input.label"));
      it("in import content", () =>
        expectRefused(() => rawRequest(JSON.stringify({ query: "mutation($c: String) { importStory(input: {content: $c}) { event { seq } } }", variables: { c: bad } })), "input.content"));
    });
  }

  it("NUL written as a literal in the document is refused the same way", async () => {
    const query = 'mutation { createStory(input: {title: "before\\u0000after"}) { story { id } } }';
    await expectRefused(() => rawRequest(JSON.stringify({ query })), "input.title", /NUL/);
  });

  it("a metadata key with a lone surrogate is not stored as U+FFFD", async () => {
    await expectRefused(() => server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "k\udc00", value: 1 } }, token), "input.key");
    expect(await server.db.prisma.metadata.count({ where: { key: { contains: "\ufffd" } } })).toBe(0);
  });

  it("text that only looks odd is kept: emoji (surrogate pairs), tabs, other control characters", async () => {
    const title = "Sea 🌊 and\ttide \u0001";
    const { createStory } = await server.query(CreateStory, { input: { title } }, token);
    expect(createStory.story.title).toBe(title);
  });
});

describe("JSON nested too deep", () => {
  it("as a variable, 10,000 levels: refused naming the argument", async () => {
    // written by hand: JSON.stringify itself recurses, and would overflow here first
    const deepJson = '{"a":'.repeat(10_000) + '"bottom"' + "}".repeat(10_000);
    const send = (query: string, input: string) => rawRequest(`{"query": ${JSON.stringify(query)}, "variables": {"input": ${input}}}`);
    await expectRefused(
      () =>
        send(
          "mutation($input: SetMetadataInput!) { setMetadata(input: $input) { metadata { id } } }",
          `{"parentType": "STORY", "parentId": ${JSON.stringify(storyId)}, "key": "deep", "value": ${deepJson}}`,
        ),
      "input.value",
      /deeper than 64/,
    );
    await expectRefused(
      () =>
        send(
          "mutation($input: WriteModuleInput!) { writeModule(input: $input) { event { seq } } }",
          `{"storyId": ${JSON.stringify(storyId)}, "module": "IDEA_SPARK", "output": ${deepJson}}`,
        ),
      "input.output",
      /deeper than 64/,
    );
  });

  it("as a literal in the document, 100 levels: refused naming the argument", async () => {
    const literal = "{a:".repeat(100) + "1" + "}".repeat(100);
    const query = `mutation { setMetadata(input: {parentType: STORY, parentId: ${JSON.stringify(storyId)}, key: "deep", value: ${literal}}) { metadata { id } } }`;
    await expectRefused(() => rawRequest(JSON.stringify({ query })), "input.value", /deeper than 64/);
  });

  it("as a literal in the document, 10,000 levels: refused with a code, and the server answers after", async () => {
    const literal = "{a:".repeat(10_000) + "1" + "}".repeat(10_000);
    const query = `mutation { setMetadata(input: {parentType: STORY, parentId: ${JSON.stringify(storyId)}, key: "deep", value: ${literal}}) { metadata { id } } }`;
    const before = await snapshot();
    const response = await rawRequest(JSON.stringify({ query }));
    // the document-size limit may stop it before our depth check does: either is a coded refusal
    expect(["BAD_USER_INPUT", "QUERY_TOO_COMPLEX"]).toContain(errorCodes(response)[0]);
    expect(await snapshot()).toEqual(before);
  });

  it("64 levels are accepted", async () => {
    const { setMetadata } = await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "deep-enough", value: nested(63) } }, token);
    expect(setMetadata.metadata.value).toEqual(nested(63));
    await server.query(DeleteMetadata, { input: { parentType: "STORY", parentId: storyId, key: "deep-enough" } }, token);
  });
});

describe("malformed cursors", () => {
  const cursor = (json: string) => Buffer.from(json, "utf8").toString("base64url");
  const malformed: [string, string][] = [
    ["not base64url", "!!!"],
    ["not JSON", cursor("not json")],
    ["a JSON object", cursor('{"a":1}')],
    ["an empty array", cursor("[]")],
    ["a string and a number", cursor('["x", 5]')],
    ["a date that does not parse", cursor('["2025-13-45T99:99:99.000Z", "2b0b6a9e-5f5c-4c8e-9d0c-9f1f2b3c4d5e"]')],
    ["a date in another format", cursor('["March 1st", "2b0b6a9e-5f5c-4c8e-9d0c-9f1f2b3c4d5e"]')],
    ["an id that is not a uuid", cursor('["2025-03-01T10:00:00.000Z", "story-1"]')],
    ["a huge number", cursor("[1e300]")],
    ["a negative number", cursor("[-1]")],
    ["a fraction", cursor("[1.5]")],
    ["a very long cursor", "A".repeat(5_000)],
  ];
  const connections: [string, (after: string) => Promise<GraphQLResponse<unknown>>][] = [
    ["Query.stories", (after) => server.request(HostileStories, { after }, token)],
    ["User.stories", (after) => server.request(HostileUserStories, { after }, token)],
    ["Story.versions", (after) => server.request(HostileVersions, { id: storyId, after }, token)],
  ];
  for (const [connection, send] of connections) {
    it(`${connection}(after:) refuses each, naming after`, async () => {
      for (const [, after] of malformed) await expectRefused(() => send(after), "after", /not a cursor/);
    });
  }

  it("a cursor the API gave out still pages, and one of another connection is refused", async () => {
    await createStory(server, token, "Second");
    await createStory(server, token, "Third");
    const first = await server.query(HostileStories, {}, token);
    const next = await server.query(HostileStories, { after: first.stories.edges.at(-1)!.cursor }, token);
    expect(next.stories.edges.length).toBeGreaterThan(0);
    const versions = await server.query(HostileVersions, { id: storyId }, token);
    const versionCursor = versions.story!.versions.edges[0]!.cursor;
    expect((await server.query(HostileVersions, { id: storyId, after: versionCursor }, token)).story!.versions.edges.map((e) => e.node.number)).toEqual([1]);
    await expectRefused(() => server.request(HostileStories, { after: versionCursor }, token), "after");
    await expectRefused(() => server.request(HostileVersions, { id: storyId, after: first.stories.edges[0]!.cursor }, token), "after");
  });
});

describe("metadata keys per parent", () => {
  it("at most 100: the 101st key is refused naming key; replacing a value and deleting still work", async () => {
    const parent = await createStory(server, token, "Keys");
    const set = (key: string, value: unknown = 1) => server.request(SetMetadata, { input: { parentType: "STORY", parentId: parent, key, value } }, token);
    for (let i = 0; i < 100; i++) expect(errorCodes(await set(`key-${i}`))).toEqual([]);
    await expectRefused(() => set("key-100"), "key", /at most 100 keys/);
    expect(errorCodes(await set("key-5", "replaced"))).toEqual([]);
    expect(await server.db.prisma.metadata.count({ where: { parentId: uuidOf(parent) } })).toBe(100);

    // with room for one, concurrent sets of new keys: exactly one gets it
    await server.query(DeleteMetadata, { input: { parentType: "STORY", parentId: parent, key: "key-0" } }, token);
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => set(`racer-${i}`)));
    expect(racing.filter((r) => errorCodes(r).length === 0)).toHaveLength(1);
    expect(racing.filter((r) => errorCodes(r)[0] === "BAD_USER_INPUT")).toHaveLength(5);
    expect(await server.db.prisma.metadata.count({ where: { parentId: uuidOf(parent) } })).toBe(100);
  });
});

describe("generateModule's model", () => {
  it("a model the operator did not configure is refused naming model, listing nothing, and nothing is sent", async () => {
    const sent = fake.requests.length;
    for (const model of ["o1-pro", "gpt-4o-mini-but-not"]) {
      await expectRefused(
        () => server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "sea", model } }, token),
        "model",
        /not a model this server offers/,
      );
    }
    const response = await server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "sea", model: "o1-pro" } }, token);
    expect(response.errors![0]!.message).not.toMatch(/gpt/);
    expect(fake.requests.length).toBe(sent);
  });

  it("a priced model is accepted, and its cost shows", async () => {
    const answer = { logline: "l", one_liner: "o", premise: "p", themes: ["t"] };
    fake.script({ kind: "json", content: JSON.stringify(answer), usage: { prompt_tokens: 100, completion_tokens: 50 } });
    const { generateModule } = await server.query(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "sea", model: "gpt-4o" } }, token);
    expect(generateModule.generation).toMatchObject({ status: "succeeded", model: "gpt-4o" });
    expect(generateModule.generation!.costUsd).toBeGreaterThan(0);
  });

  it("the set: AI_MODELS when given (only those), else the default, per-module and priced models", () => {
    const configured = readAiConfig({ AI_MODEL: "local-llama", AI_MODEL_WORDSMITH_LAB: "big-writer", AI_PRICES: '{"mine": {"input": 1, "output": 2}}' });
    const open = allowedModels(configured);
    for (const model of ["local-llama", "big-writer", "mine", "gpt-4o-mini", "gpt-4.1"]) expect(open.has(model)).toBe(true);
    expect(open.has("o1-pro")).toBe(false);
    const listed = allowedModels(readAiConfig({ AI_MODELS: " gpt-4o-mini , local-llama ", AI_MODEL: "local-llama" }));
    expect([...listed].sort()).toEqual(["gpt-4o-mini", "local-llama"]);
    expect(() => readAiConfig({ AI_MODELS: " , " })).toThrow(/AI_MODELS/);
  });
});

describe("the Markdown export", () => {
  it("shows what writers typed as text, never as HTML, links, images or headings", async () => {
    const id = await createStory(server, token, "# <img src=x onerror=alert(1)> [click](https://evil.example)");
    const prose = "![pixel](https://evil.example/p.png)\n# Not a heading\n<script>alert(1)</script>\n- not a list\n1. not a list";
    await server.query(WriteModule, { input: { storyId: id, module: "WORDSMITH_LAB", output: { prose } } }, token);
    const { exportStory } = await server.query(ExportStory, { id, format: "MARKDOWN" }, token);
    const markdown = exportStory.content;
    expect(markdown.split("\n")[0]).toBe("# \\# \\<img src=x onerror=alert\\(1\\)\\> \\[click\\]\\(https://evil.example\\)");
    expect(markdown).toContain("\\!\\[pixel\\]\\(https://evil.example/p.png\\)\n\\# Not a heading\n\\<script\\>alert\\(1\\)\\</script\\>\n\\- not a list\n1\\. not a list");
    expect(markdown).not.toMatch(/(^|[^\\])[<[]/m);
  });
});

function uuidOf(globalId: string): string {
  return Buffer.from(globalId, "base64").toString("utf8").split(":")[1]!;
}
