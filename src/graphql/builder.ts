// The Pothos schema builder: plugins, scalars, and access closed by default (closedByDefault.ts):
// every type and root field requires a signed-in viewer unless it opts out.
import SchemaBuilder from "@pothos/core";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import ComplexityPlugin from "@pothos/plugin-complexity";
import { GraphQLError } from "graphql";
import ClosedByDefaultPlugin, { PUBLIC } from "./closedByDefault.ts";
import type { GraphQLContext, SignedInContext } from "./context.ts";
import { decodeGlobalId, encodeGlobalId, type NodeTypeName } from "./globalIds.ts";
import { notFound } from "../domain/errors.ts";
import { fieldCost, MAX_LIST_ARGUMENT } from "./documentLimits.ts";

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { signedIn: boolean; public: boolean };
  /** what `t.withAuth({ signedIn: true })` gives its resolvers: a context whose viewer is there */
  AuthContexts: { signedIn: SignedInContext };
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  plugins: [ClosedByDefaultPlugin, ScopeAuthPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  // each field's cost; the limit is checked once, at validation (documentLimits.ts), not again per root field
  complexity: { fieldComplexity: fieldCost, disabled: true },
  scopeAuth: {
    // subscriptions are checked when they start, not at each message
    authorizeOnSubscribe: true,
    // a type's scopes are checked once for each object of it, not again at each of its fields
    runScopesOnType: true,
    authScopes: (context) => ({ signedIn: context.viewer !== null, public: true }),
    unauthorizedError: (_parent, context) =>
      new GraphQLError(context.tokenRejected ? "the token is invalid or expired" : "sign in first", {
        extensions: { code: "UNAUTHENTICATED" },
      }),
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    idFieldOptions: { description: "The object's global id: `node(id:)` reads it back." },
    nodeTypeOptions: { authScopes: PUBLIC, description: "An object with a global id." },
    nodeQueryOptions: {
      skipTypeScopes: true,
      description: "The object with this global id; null when there is none, or it is not the viewer's (strangers read null).",
      args: { id: { description: "A global id, as any object's `id` field gives it." } },
    },
    nodesQueryOptions: {
      skipTypeScopes: true,
      description: "The objects with these global ids, in the same order; null for each that is not there or not the viewer's.",
      args: { ids: { description: `Global ids, at most ${MAX_LIST_ARGUMENT}.` } },
    },
    pageInfoTypeOptions: { authScopes: PUBLIC, description: "Where a page of a connection stands." },
    pageInfoFieldOptions: { description: "Where this page stands: pass its `endCursor` as `after` for the next page." },
    hasNextPageFieldOptions: { description: "Whether there are items after this page." },
    hasPreviousPageFieldOptions: { description: "Whether this page was read `after` a cursor: there are items before it." },
    startCursorFieldOptions: { description: "The cursor of the page's first item; null when the page is empty." },
    endCursorFieldOptions: { description: "The cursor of the page's last item; null when the page is empty." },
    edgesFieldOptions: { nullable: false, description: "The page's items, each with its cursor." },
    nodeFieldOptions: { nullable: false, description: "The item." },
    cursorFieldOptions: { description: "Pass as `after` to read the items after this one." },
    encodeGlobalID: (typename, id) => encodeGlobalId(typename as NodeTypeName, String(id)),
    decodeGlobalID: (globalID) => {
      const decoded = decodeGlobalId(globalID);
      if (!decoded) throw notFound("node");
      return decoded;
    },
  },
});

builder.queryType({ description: "Reading: the viewer, their stories, and any object by its global id." });
builder.mutationType({ description: "Writing: accounts, stories, modules, versions, metadata and AI generation." });
builder.subscriptionType({ description: "Live updates of a story, over WebSocket (graphql-transport-ws) or Server-Sent Events." });
