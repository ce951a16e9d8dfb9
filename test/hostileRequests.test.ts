// Hostile requests: documents too deep, too wide or too costly, bodies too large, forms posted
// cross-site, and the production mode. Each is refused with its code before anything runs, the
// server keeps answering, and nothing changes.
import http from "node:http";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { readTrustedDocuments } from "../src/server/policy.ts";

type Answer = { status: number; headers: Headers; body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } | null; text: string };

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Answer["body"] = null;
  try {
    parsed = JSON.parse(text) as Answer["body"];
  } catch {
    // not JSON (GraphiQL's page, a plain refusal)
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

const codeOf = (answer: Answer) => answer.body?.errors?.[0]?.extensions?.code;

let server: TestServer;
let token: string;
let storyId: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server));
  storyId = await createStory(server, token);
});
afterAll(() => server?.close());

async function expectStillServing() {
  const answer = await post(server.url, { query: "{ viewer { id } }" }, auth());
  expect(answer.status).toBe(200);
  expect(answer.body?.errors).toBeUndefined();
}

const storyCount = () => server.db.prisma.story.count();

describe("documents over a limit are QUERY_TOO_COMPLEX, naming the limit, before anything runs", () => {
  const nested = (levels: number) => {
    let selection = "id";
    for (let i = 0; i < levels; i++) selection = `modules { story { ${selection} } }`;
    return `query($id: ID!) { story(id: $id) { ${selection} } }`;
  };
  const cases: [string, () => { query: string; variables?: Record<string, unknown> }, RegExp][] = [
    ["modules → story nested 50 deep", () => ({ query: nested(50), variables: { id: storyId } }), /depth limit of 12 exceeded.*MAX_QUERY_DEPTH/],
    ["modules → story nested 5 deep (5^5 modules)", () => ({ query: nested(5), variables: { id: storyId } }), /cost limit of 5000 exceeded.*MAX_QUERY_COST/],
    ["1,000 aliases (parsing stops at the token limit)", () => ({ query: `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: __typename`).join(" ")} }` }), /tokens limit of 2000 exceeded; parsing stopped/],
    ["31 aliases", () => ({ query: `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: viewer { id }`).join(" ")} }` }), /aliases limit of 30 exceeded, found 31/],
    ["21 directives", () => ({ query: `{ viewer { ${Array.from({ length: 21 }, () => "id @include(if: true)").join(" ")} } }` }), /directives limit of 20 exceeded, found 21/],
    ["nodes(ids:) with 101 ids as a variable", () => ({ query: "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", variables: { ids: Array.from({ length: 101 }, (_, i) => `id${i}`) } }), /list argument limit of 100 exceeded, found 101 in nodes\(ids\)/],
    ["nodes(ids:) with 100,000 ids as a variable", () => ({ query: "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", variables: { ids: Array.from({ length: 100_000 }, (_, i) => `${i}`) } }), /list argument limit of 100 exceeded, found 100000/],
    ["nodes(ids:) with 101 ids written in the document", () => ({ query: `{ nodes(ids: [${Array.from({ length: 101 }, (_, i) => `"${i}"`).join(",")}]) { id } }` }), /list argument limit of 100 exceeded, found 101/],
    ["100 stories × 100 versions' snapshots", () => ({ query: "{ stories(first: 100) { edges { node { versions(first: 100) { edges { node { snapshot } } } } } } }" }), /cost limit of 5000 exceeded/],
    ["30 aliases of version(number:1){snapshot} on 30 stories' pages", () => ({ query: `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: stories(first: 100) { edges { node { version(number: 1) { snapshot } } } }`).join(" ")} }` }), /cost limit of 5000 exceeded/],
  ];
  for (const [what, document, message] of cases) {
    it(what, async () => {
      const answer = await post(server.url, document(), auth());
      expect(codeOf(answer)).toBe("QUERY_TOO_COMPLEX");
      expect(answer.body?.errors).toHaveLength(1);
      expect(answer.body?.errors?.[0]?.message).toMatch(message);
      expect(answer.body?.data).toBeUndefined();
      await expectStillServing();
    });
  }

  it("a mutation over a limit runs none of its fields: 31 aliased createStory create nothing", async () => {
    const before = await storyCount();
    const query = `mutation { ${Array.from({ length: 31 }, (_, i) => `s${i}: createStory(input: { title: "x" }) { story { id } }`).join(" ")} }`;
    const answer = await post(server.url, { query }, auth());
    expect(codeOf(answer)).toBe("QUERY_TOO_COMPLEX");
    expect(await storyCount()).toBe(before);
  });

  it("lets real clients through: GraphiQL's introspection query and the README's story page", async () => {
    const introspection = await post(server.url, { query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }) });
    expect(introspection.body?.errors).toBeUndefined();
    const page = await post(
      server.url,
      {
        query: `query Story($story: ID!) { story(id: $story) { title revision modules { name inputText output } versions(first: 10) { edges { node { number isActive parent { number } } } } events { seq type payload activeVersionNumber } } }`,
        variables: { story: storyId },
      },
      auth(),
    );
    expect(page.body?.errors).toBeUndefined();
    const list = await post(server.url, { query: "{ stories(first: 20) { edges { node { title modules { name output } versions(first: 10) { edges { node { number createdAt } } } } } } }" }, auth());
    expect(list.body?.errors).toBeUndefined();
  });
});

describe("request size", () => {
  it("a body over 1 MB is answered 413 without being read, and the server keeps answering", async () => {
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const answer = await post(server.url, { query: "{ viewer { id } }", variables: { padding: "x".repeat(20 * 1024 * 1024) } }, auth());
    expect(answer.status).toBe(413);
    expect(codeOf(answer)).toBe("PAYLOAD_TOO_LARGE");
    expect(answer.body?.errors?.[0]?.message).toMatch(/MAX_BODY_BYTES/);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    await expectStillServing();
  });

  it("a body without a length (chunked) is answered 411", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(server.url, { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on("error", reject);
      request.write(JSON.stringify({ query: "{ __typename }" }));
      request.end();
    });
    expect(status).toBe(411);
    await expectStillServing();
  });

  it("a body just under the limit is parsed as usual", async () => {
    const answer = await post(server.url, { query: "{ viewer { id } }", variables: { padding: "x".repeat(900 * 1024) } }, auth());
    expect(answer.status).toBe(200);
    expect(answer.body?.errors).toBeUndefined();
  });
});

describe("cross-site requests", () => {
  const mutation = `mutation { createStory(input: { title: "from a form" }) { story { id } } }`;
  for (const [type, body] of [
    ["application/x-www-form-urlencoded", `query=${encodeURIComponent(mutation)}`],
    ["multipart/form-data; boundary=x", `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${mutation}\r\n--x--\r\n`],
    ["text/plain", JSON.stringify({ query: mutation })],
  ] as const) {
    it(`a ${type.split(";")[0]} POST is refused (415) and runs nothing`, async () => {
      const before = await storyCount();
      const answer = await post(server.url, body, { "content-type": type, ...auth() });
      expect(answer.status).toBe(415);
      expect(await storyCount()).toBe(before);
    });
  }

  it("development reflects any Origin (today's convenience)", async () => {
    const answer = await post(server.url, { query: "{ __typename }" }, { origin: "https://anywhere.example" });
    expect(answer.headers.get("access-control-allow-origin")).toBe("https://anywhere.example");
  });
});

describe("automatic persisted queries (Apollo's APQ link)", () => {
  const query = "{ viewer { id username } }";
  const hash = createHash("sha256").update(query).digest("hex");
  const apq = (sha256Hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash } } });

  it("an unknown hash asks for the document; sent with it, the hash then works alone", async () => {
    const first = await post(server.url, apq(hash), auth());
    expect(codeOf(first)).toBe("PERSISTED_QUERY_NOT_FOUND");
    const registered = await post(server.url, { query, ...apq(hash) }, auth());
    expect(registered.body?.errors).toBeUndefined();
    const again = await post(server.url, apq(hash), auth());
    expect(again.body).toEqual(registered.body);
  });

  it("a hash that does not match its document is refused", async () => {
    const answer = await post(server.url, { query, ...apq("0".repeat(64)) }, auth());
    expect(codeOf(answer)).toBe("PERSISTED_QUERY_MISMATCH");
  });
});

describe("production mode", () => {
  let production: TestServer;
  const allowed = "https://app.storyspark.example";
  beforeAll(async () => {
    production = await startTestServer(undefined, { policy: { production: true, graphiql: false, corsOrigins: [allowed] } });
  });
  afterAll(() => production?.close());

  it("refuses introspection and gives no field suggestions", async () => {
    const introspection = await post(production.url, { query: getIntrospectionQuery() });
    expect(introspection.body?.errors?.[0]?.message).toMatch(/introspection/i);
    expect(introspection.body?.data ?? null).toBeNull();
    const typo = await post(production.url, { query: "{ viewr { id } }" });
    expect(typo.body?.errors?.[0]?.message).not.toMatch(/Did you mean/);
  });

  it("serves no GraphiQL page", async () => {
    const response = await fetch(production.url, { headers: { accept: "text/html" } });
    expect(await response.text()).not.toMatch(/graphiql/i);
  });

  it("needs a CSRF header on GET, and answers a GET that has one", async () => {
    const url = `${production.url}?query=${encodeURIComponent("{ __typename }")}`;
    expect((await fetch(url)).status).toBe(403);
    const withHeader = await fetch(url, { headers: { "x-graphql-yoga-csrf": "1" } });
    expect(withHeader.status).toBe(200);
  });

  it("answers CORS only for the allowed origins", async () => {
    const good = await post(production.url, { query: "{ __typename }" }, { origin: allowed });
    expect(good.headers.get("access-control-allow-origin")).toBe(allowed);
    const evil = await post(production.url, { query: "{ __typename }" }, { origin: "https://evil.example" });
    expect(evil.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");
  });

  it("with no CORS_ORIGINS, sends no CORS headers at all", async () => {
    const closed = await startTestServer(undefined, { policy: { production: true, graphiql: false, corsOrigins: [] } });
    try {
      const answer = await post(closed.url, { query: "{ __typename }" }, { origin: "https://evil.example" });
      expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await closed.close();
    }
  });

  it("serves GraphiQL when asked to (GRAPHIQL=true)", async () => {
    const withGraphiql = await startTestServer(undefined, { policy: { production: true, graphiql: true } });
    try {
      const response = await fetch(withGraphiql.url, { headers: { accept: "text/html" } });
      expect(await response.text()).toMatch(/graphiql/i);
    } finally {
      await withGraphiql.close();
    }
  });
});

describe("trusted documents", () => {
  let trusted: TestServer;
  const query = "query Me { viewer { id } }";
  const hash = createHash("sha256").update(query).digest("hex");
  beforeAll(async () => {
    trusted = await startTestServer(undefined, { policy: { production: true, graphiql: false, trustedDocuments: new Map([[hash, query]]) } });
  });
  afterAll(() => trusted?.close());

  it("runs a document by its hash and refuses any other document", async () => {
    const byHash = await post(trusted.url, { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    expect(byHash.body?.errors).toBeUndefined();
    expect(byHash.body?.data).toEqual({ viewer: null });
    const arbitrary = await post(trusted.url, { query: "{ __typename }" });
    expect(codeOf(arbitrary)).toBe("PERSISTED_QUERY_ONLY");
    const unknown = await post(trusted.url, { extensions: { persistedQuery: { version: 1, sha256Hash: "f".repeat(64) } } });
    expect(codeOf(unknown)).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("runs the documents of GraphQL Code Generator's manifest (TRUSTED_DOCUMENTS), by documentId or APQ hash", async () => {
    const manifest = new URL("./generated/persisted-documents.json", import.meta.url).pathname;
    const fromCodegen = await startTestServer(undefined, { policy: { production: true, graphiql: false, trustedDocuments: readTrustedDocuments(manifest) } });
    try {
      const documents = Object.entries(JSON.parse(fs.readFileSync(manifest, "utf8")) as Record<string, string>);
      const idOf = (start: string) => documents.find(([, d]) => d.startsWith(start))![0];
      const signUp = await post(fromCodegen.url, {
        documentId: idOf("mutation SignUp("),
        variables: { input: { email: "trusted@example.com", username: "writer", password: "correct horse battery" } },
      });
      expect(signUp.body?.errors).toBeUndefined();
      const writer = (signUp.body?.data as { signUp: { token: string } }).signUp.token;
      const id = idOf("query Viewer");
      const byDocumentId = await post(fromCodegen.url, { documentId: id }, { authorization: `Bearer ${writer}` });
      expect(byDocumentId.body?.errors).toBeUndefined();
      expect(byDocumentId.body?.data).toMatchObject({ viewer: { username: "writer" } });
      const byHash = await post(fromCodegen.url, { extensions: { persistedQuery: { version: 1, sha256Hash: id.replace("sha256:", "") } } }, { authorization: `Bearer ${writer}` });
      expect(byHash.body).toEqual(byDocumentId.body);
    } finally {
      await fromCodegen.close();
    }
  });

  it("refuses a manifest that is not hash → document", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "trusted-")), "persisted-documents.json");
    fs.writeFileSync(file, JSON.stringify({ [hash]: query }));
    expect(readTrustedDocuments(file).get(hash)).toBe(query);
    fs.writeFileSync(file, "[1, 2]");
    expect(() => readTrustedDocuments(file)).toThrow(/hash → document/);
  });
});

describe("logs", () => {
  let logged: TestServer;
  const lines: string[] = [];
  let loggedToken: string;
  beforeAll(async () => {
    logged = await startTestServer(undefined, { logLines: lines });
    ({ token: loggedToken } = await signUpWriter(logged));
  });
  afterAll(() => logged?.close());
  const entries = () => lines.map((line) => JSON.parse(line) as { level: string; msg: string; requestId?: string; details?: unknown[] });

  it("expected client errors are not logged as errors", async () => {
    const before = lines.length;
    await post(logged.url, { query: `mutation { signIn(input: { email: "nobody@example.com", password: "wrong password" }) { token } }` });
    await post(logged.url, { query: "mutation($s: ID!) { undo(input: { storyId: $s }) { story { id } } }", variables: { s: "missing" } }, { authorization: `Bearer ${loggedToken}` });
    await post(logged.url, { query: `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: story(id: "nope") { id }`).join(" ")} }` });
    expect(entries().slice(before).filter((e) => e.level === "error" || e.level === "warn")).toEqual([]);
  });

  it("an unexpected error is logged once, as one JSON line, with the request id that is also in the answer; no token in it", async () => {
    const storyOfLogged = await createStory(logged, loggedToken);
    const before = lines.length;
    // break the database under the server: the next read of metadata fails unexpectedly
    await logged.db.prisma.$executeRaw`ALTER TABLE metadata RENAME TO metadata_gone`;
    try {
      const answer = await post(
        logged.url,
        { query: "query($s: ID!) { story(id: $s) { metadata { key } } }", variables: { s: storyOfLogged } },
        { authorization: `Bearer ${loggedToken}`, "x-request-id": "req-hostile-1" },
      );
      expect(codeOf(answer)).toBe("INTERNAL_SERVER_ERROR");
      expect(answer.body?.errors?.[0]?.message).not.toMatch(/metadata|SQL|relation/i);
      expect(answer.body?.errors?.[0]?.extensions?.requestId).toBe("req-hostile-1");
      const errors = entries().slice(before).filter((e) => e.level === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]!.requestId).toBe("req-hostile-1");
      expect(lines.join("\n")).not.toContain(loggedToken);
      expect(lines.join("\n")).not.toMatch(/\u001b\[/); // no colour codes
    } finally {
      await logged.db.prisma.$executeRaw`ALTER TABLE metadata_gone RENAME TO metadata`;
    }
  });
});
