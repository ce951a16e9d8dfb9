// The code a client gets for each kind of error, from the parser to the resolvers: one row a kind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import { startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

let server: TestServer;
/** A server that runs trusted documents only. */
let trusted: TestServer;
let token: string;
let storyId: string;

const TRUSTED_HASH = "a".repeat(64);
const MISSING_STORY = Buffer.from("Story:6f1c1b0e-0000-4000-8000-000000000000").toString("base64");

beforeAll(async () => {
  ({ server, token } = await startServerWithWriter());
  storyId = await createStory(server, token);
  trusted = await startTestServer(undefined, { policy: { trustedDocuments: new Map([[TRUSTED_HASH, "{ viewer { id } }"]]) } });
});
afterAll(async () => {
  await server?.close();
  await trusted?.close();
});

type Body = { query?: string; variables?: Record<string, unknown>; operationName?: string; extensions?: Record<string, unknown> };
type Row = { kind: string; code: string; body: () => Body; signedIn?: false; on?: "trusted" };

const nested = (levels: number) => {
  let selection = "id";
  for (let i = 0; i < levels; i++) selection = `modules { story { ${selection} } }`;
  return `query($id: ID!) { story(id: $id) { ${selection} } }`;
};
const many = (count: number, item: (i: number) => string) => Array.from({ length: count }, (_, i) => item(i)).join(" ");
const persisted = (sha256Hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash } } });

const TABLE: Row[] = [
  // the document
  { kind: "syntax error", code: "GRAPHQL_PARSE_FAILED", body: () => ({ query: "{ viewer { id " }) },
  { kind: "unknown field", code: "GRAPHQL_VALIDATION_FAILED", body: () => ({ query: "{ viewer { nope } }" }) },
  { kind: "unknown argument", code: "GRAPHQL_VALIDATION_FAILED", body: () => ({ query: "{ viewer(nope: 1) { id } }" }) },
  { kind: "missing argument", code: "GRAPHQL_VALIDATION_FAILED", body: () => ({ query: "{ story { id } }" }) },
  { kind: "unused fragment", code: "GRAPHQL_VALIDATION_FAILED", body: () => ({ query: "{ viewer { id } } fragment F on User { id }" }) },
  {
    kind: "variable of the wrong type for its place",
    code: "GRAPHQL_VALIDATION_FAILED",
    body: () => ({ query: "query($id: Int!) { story(id: $id) { id } }", variables: { id: 1 } }),
  },
  {
    kind: "unknown operation name",
    code: "OPERATION_RESOLUTION_FAILURE",
    body: () => ({ query: "query A { viewer { id } }", operationName: "B" }),
  },
  // values in the document that do not fit their input type: like the same values sent as variables
  { kind: "literal of the wrong type", code: "BAD_USER_INPUT", body: () => ({ query: '{ stories(first: "many") { edges { cursor } } }' }) },
  {
    kind: "literal input object missing a required field",
    code: "BAD_USER_INPUT",
    body: () => ({ query: "mutation { createStory(input: {}) { story { id } } }" }),
  },
  {
    kind: "literal input object with an unknown field",
    code: "BAD_USER_INPUT",
    body: () => ({ query: 'mutation { createStory(input: { title: "t", nope: 1 }) { story { id } } }' }),
  },
  {
    kind: "literal that is not a value of the enum",
    code: "BAD_USER_INPUT",
    body: () => ({ query: `mutation { clearModule(input: { storyId: "${storyId}", module: NOPE }) { story { id } } }` }),
  },
  { kind: "literal the scalar refuses", code: "BAD_USER_INPUT", body: () => ({ query: '{ viewer { aiUsage(since: "yesterday") { calls } } }' }) },
  // variables
  {
    kind: "variable of the wrong type",
    code: "BAD_USER_INPUT",
    body: () => ({ query: "query($first: Int) { stories(first: $first) { edges { cursor } } }", variables: { first: "many" } }),
  },
  { kind: "required variable missing", code: "BAD_USER_INPUT", body: () => ({ query: "query($id: ID!) { story(id: $id) { id } }", variables: {} }) },
  {
    kind: "variable the scalar refuses",
    code: "BAD_USER_INPUT",
    body: () => ({ query: "query($since: DateTime) { viewer { aiUsage(since: $since) { calls } } }", variables: { since: "yesterday" } }),
  },
  // limits
  { kind: "too deep", code: "QUERY_TOO_COMPLEX", body: () => ({ query: nested(8), variables: { id: storyId } }) },
  { kind: "too many aliases", code: "QUERY_TOO_COMPLEX", body: () => ({ query: `{ ${many(31, (i) => `a${i}: viewer { id }`)} }` }) },
  { kind: "too many directives", code: "QUERY_TOO_COMPLEX", body: () => ({ query: `{ viewer { ${many(21, (i) => `a${i}: id @include(if: true)`)} } }` }) },
  { kind: "too many tokens", code: "QUERY_TOO_COMPLEX", body: () => ({ query: `{ viewer { ${many(2_100, () => "id")} } }` }) },
  {
    kind: "too costly",
    code: "QUERY_TOO_COMPLEX",
    body: () => ({ query: "{ stories(first: 100) { edges { node { versions(first: 100) { edges { node { snapshot } } } } } } }" }),
  },
  {
    kind: "list argument too long",
    code: "QUERY_TOO_COMPLEX",
    body: () => ({ query: "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", variables: { ids: Array.from({ length: 101 }, () => MISSING_STORY) } }),
  },
  // persisted documents
  { kind: "automatic persisted query not registered", code: "PERSISTED_QUERY_NOT_FOUND", body: () => persisted("f".repeat(64)) },
  { kind: "not a trusted document", code: "PERSISTED_QUERY_NOT_FOUND", on: "trusted", body: () => persisted("f".repeat(64)) },
  { kind: "a document where only trusted ones run", code: "PERSISTED_QUERY_ONLY", on: "trusted", body: () => ({ query: "{ viewer { id } }" }) },
  { kind: "neither a document nor a hash", code: "PERSISTED_QUERY_ONLY", on: "trusted", body: () => ({}) },
  // input hygiene
  {
    kind: "NUL in a literal",
    code: "BAD_USER_INPUT",
    body: () => ({ query: 'mutation { createStory(input: { title: "a\\u0000b" }) { story { id } } }' }),
  },
  {
    kind: "NUL in a variable",
    code: "BAD_USER_INPUT",
    body: () => ({ query: "mutation($input: CreateStoryInput!) { createStory(input: $input) { story { id } } }", variables: { input: { title: "a\u0000b" } } }),
  },
  {
    kind: "JSON literal nested too deep",
    code: "BAD_USER_INPUT",
    body: () => ({
      query: `mutation { setMetadata(input: { parentType: STORY, parentId: "${storyId}", key: "k", value: ${"[".repeat(200)}${"]".repeat(200)} }) { metadata { id } } }`,
    }),
  },
  // ours, from the resolvers
  { kind: "no token", code: "UNAUTHENTICATED", signedIn: false, body: () => ({ query: "{ stories { edges { cursor } } }" }) },
  { kind: "someone else's or no story", code: "NOT_FOUND", body: () => ({ query: `mutation { undo(input: { storyId: "${MISSING_STORY}" }) { story { id } } }` }) },
  { kind: "nothing to undo", code: "NOTHING_TO_UNDO", body: () => ({ query: `mutation { undo(input: { storyId: "${storyId}" }) { story { id } } }` }) },
  {
    kind: "stale expected revision",
    code: "REVISION_CONFLICT",
    body: () => ({ query: `mutation { updateStory(input: { id: "${storyId}", title: "t", expectedRevision: 99 }) { story { id } } }` }),
  },
  { kind: "a page too large", code: "BAD_USER_INPUT", body: () => ({ query: "{ stories(first: 1000) { edges { cursor } } }" }) },
  { kind: "a cursor this API never gave out", code: "BAD_USER_INPUT", body: () => ({ query: '{ stories(after: "!") { edges { cursor } } }' }) },
  {
    kind: "wrong password",
    code: "INVALID_CREDENTIALS",
    signedIn: false,
    body: () => ({ query: 'mutation { signIn(input: { email: "nobody@example.com", password: "wrong horse battery" }) { token } }' }),
  },
];

async function send(row: Row): Promise<GraphQLResponse<unknown>> {
  const response = await fetch((row.on === "trusted" ? trusted : server).url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(row.signedIn === false ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(row.body()),
  });
  return (await response.json()) as GraphQLResponse<unknown>;
}

describe("each kind of error has its code", () => {
  it.each(TABLE)("$kind: $code", async (row) => {
    const response = await send(row);
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual([row.code]);
  });

  it("an unexpected error is INTERNAL_SERVER_ERROR, its cause masked, with the request id that finds it in the log", async () => {
    // a server whose database lost a table under it (a schema drift): the read fails with an error
    // no rule foresaw, which must reach the client masked
    const { server: drifted, token: writer } = await startServerWithWriter();
    try {
      const storyId = await createStory(drifted, writer);
      await drifted.db.prisma.$executeRaw`ALTER TABLE metadata RENAME TO metadata_gone`;
      const response = await fetch(drifted.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${writer}` },
        body: JSON.stringify({ query: `query($id: ID!) { story(id: $id) { title metadata { key } } }`, variables: { id: storyId } }),
      });
      const body = (await response.json()) as GraphQLResponse<unknown>;
      // one error (the story page is one statement: the whole page fails, not one field)
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]).toMatchObject({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR", requestId: expect.any(String) } });
      expect(Object.keys(body.errors![0]!.extensions!).sort()).toEqual(["code", "requestId"]);
      expect(JSON.stringify(body)).not.toMatch(/metadata_gone|relation|does not exist/);
    } finally {
      await drifted.close();
    }
  });

  it("a conflict says the story's actual revision", async () => {
    const response = await send(TABLE.find((row) => row.code === "REVISION_CONFLICT")!);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: "REVISION_CONFLICT", actualRevision: 1 });
  });
});
