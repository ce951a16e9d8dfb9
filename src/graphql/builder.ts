// The Pothos schema builder: plugins, scalars and the auth scopes every field declares.
import SchemaBuilder from "@pothos/core";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import ComplexityPlugin from "@pothos/plugin-complexity";
import { GraphQLError } from "graphql";
import type { GraphQLContext } from "./context.ts";
import { decodeGlobalId, encodeGlobalId, type NodeTypeName } from "./globalIds.ts";
import { notFound } from "../domain/errors.ts";
import { fieldCost } from "./documentLimits.ts";

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { signedIn: boolean };
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  // each field's cost; the limit is checked once, at validation (documentLimits.ts), not again per root field
  complexity: { fieldComplexity: fieldCost, disabled: true },
  scopeAuth: {
    // subscriptions are checked when they start, not at each message
    authorizeOnSubscribe: true,
    authScopes: (context) => ({ signedIn: context.viewer !== null }),
    unauthorizedError: (_parent, context) =>
      new GraphQLError(context.tokenRejected ? "the token is invalid or expired" : "sign in first", {
        extensions: { code: "UNAUTHENTICATED" },
      }),
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    encodeGlobalID: (typename, id) => encodeGlobalId(typename as NodeTypeName, String(id)),
    decodeGlobalID: (globalID) => {
      const decoded = decodeGlobalId(globalID);
      if (!decoded) throw notFound("node");
      return decoded;
    },
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
