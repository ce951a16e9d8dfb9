// Access is closed by default: every root field and every type needs a signed-in viewer but the
// few public ones listed here. A new field or type is closed unless it opts out, and then these
// lists must name it.
import {
  getNamedType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isRequiredArgument,
  isRequiredInputField,
  parse,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subscribeSse } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

const PUBLIC_ROOT_FIELDS = ["Mutation.signIn", "Mutation.signUp", "Query.node", "Query.nodes", "Query.viewer"];
/** Types that reach a client without a token: what signing up or in answers, and the Node interface that `node` answers (null). */
const PUBLIC_TYPES = ["AuthPayload", "Node", "PageInfo", "StoryConnection", "StoryEdge", "User"];
/** A well-formed global id of no story. */
const MISSING_ID = Buffer.from("Story:6f1c1b0e-0000-4000-8000-000000000000").toString("base64");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

type RootField = { operation: "query" | "mutation" | "subscription"; coordinate: string; document: TypedDocumentNode<unknown, Record<string, never>> };

function rootFields(): RootField[] {
  const { schema } = server.app;
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
    ["subscription", schema.getSubscriptionType()],
  ] as const;
  return roots.flatMap(([operation, type]) =>
    Object.values((type as GraphQLObjectType).getFields()).map((field) => ({
      operation,
      coordinate: `${type!.name}.${field.name}`,
      document: parse(`${operation} { ${call(field)} }`) as TypedDocumentNode<unknown, Record<string, never>>,
    })),
  );
}

/** The field with its required arguments, each given a value of its type, selecting only `__typename`. */
function call(field: GraphQLField<unknown, unknown>): string {
  const args = field.args.filter(isRequiredArgument).map((arg) => `${arg.name}: ${valueOf(arg.type)}`);
  const selection = isCompositeType(getNamedType(field.type)) ? " { __typename }" : "";
  return `${field.name}${args.length > 0 ? `(${args.join(", ")})` : ""}${selection}`;
}

function valueOf(type: GraphQLInputType): string {
  if (isNonNullType(type)) return valueOf(type.ofType);
  if (isListType(type)) return `[${valueOf(type.ofType)}]`;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter(isRequiredInputField);
    return `{ ${fields.map((field) => `${field.name}: ${valueOf(field.type)}`).join(", ")} }`;
  }
  if (isEnumType(type)) return type.getValues()[0]!.name;
  const literals: Record<string, string> = { Int: "1", Float: "1", Boolean: "false", JSON: "{}", DateTime: '"2026-01-01T00:00:00.000Z"' };
  return literals[type.name] ?? `"${MISSING_ID}"`;
}

/** What the field answers a client that sends `token`: over SSE for a subscription, its first message. */
async function answer(field: RootField, token: string | null): Promise<GraphQLResponse<unknown>> {
  if (field.operation !== "subscription") return server.request(field.document, {}, token);
  const subscription = subscribeSse(server.url, field.document, {}, token);
  try {
    return (await subscription.received.until((r) => r.results.length > 0 || r.ended)).results[0] ?? {};
  } finally {
    subscription.stop();
  }
}

describe("the root fields", () => {
  it("are public only where listed", () => {
    const fields = rootFields().map((f) => f.coordinate);
    expect(fields.length).toBeGreaterThan(PUBLIC_ROOT_FIELDS.length);
    for (const coordinate of PUBLIC_ROOT_FIELDS) expect(fields).toContain(coordinate);
  });

  it("not listed answer UNAUTHENTICATED without a token, and with an invalid one, and give away nothing", async () => {
    const closed = rootFields().filter((f) => !PUBLIC_ROOT_FIELDS.includes(f.coordinate));
    for (const field of closed) {
      for (const [token, message] of [[null, "sign in first"], ["not-a-token", "the token is invalid or expired"]] as const) {
        const response = await answer(field, token);
        expect({ field: field.coordinate, codes: errorCodes(response), messages: response.errors?.map((e) => e.message) }).toEqual({
          field: field.coordinate,
          codes: ["UNAUTHENTICATED"],
          messages: [message],
        });
        expect(Object.values(response.data ?? {}).filter((value) => value !== null)).toEqual([]);
      }
    }
  });

  it("listed answer without a token (null, or the refusal of the values sent)", async () => {
    const open = rootFields().filter((f) => PUBLIC_ROOT_FIELDS.includes(f.coordinate));
    expect(open.map((f) => f.coordinate).sort()).toEqual(PUBLIC_ROOT_FIELDS);
    for (const field of open) {
      const response = await answer(field, null);
      expect({ field: field.coordinate, codes: errorCodes(response) }).not.toEqual({ field: field.coordinate, codes: ["UNAUTHENTICATED"] });
    }
    const strangersView = parse(`{ viewer { id } node(id: "${MISSING_ID}") { id } nodes(ids: ["${MISSING_ID}"]) { id } }`);
    expect(await server.request(strangersView as TypedDocumentNode<unknown, Record<string, never>>, {}, null)).toEqual({
      data: { viewer: null, node: null, nodes: [null] },
    });
  });
});

describe("the types", () => {
  it("need a signed-in viewer but the public ones listed", () => {
    const scopes = Object.values(server.app.schema.getTypeMap())
      .filter((type) => (isObjectType(type) || isInterfaceType(type)) && !type.name.startsWith("__"))
      .map((type) => ({ type: type.name, scopes: (type.extensions.pothosOptions as { authScopes?: Record<string, unknown> }).authScopes }));
    expect(scopes.filter((s) => s.scopes && "public" in s.scopes).map((s) => s.type)).toEqual(PUBLIC_TYPES);
    expect(scopes.filter((s) => !PUBLIC_TYPES.includes(s.type))).toEqual(
      scopes.filter((s) => !PUBLIC_TYPES.includes(s.type)).map((s) => ({ type: s.type, scopes: { signedIn: true } })),
    );
  });
});
