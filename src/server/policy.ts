// What the server lets through, in development and in production: request sizes, document
// limits, introspection and field suggestions, GraphiQL, CORS, CSRF prevention, automatic
// persisted queries and trusted documents. Everything here is a yoga option or plugin.
import fs from "node:fs";
import type { CORSOptions, Plugin } from "graphql-yoga";
import { createGraphQLError, createLRUCache } from "graphql-yoga";
import { useDisableIntrospection } from "@graphql-yoga/plugin-disable-introspection";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { useAPQ } from "@graphql-yoga/plugin-apq";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { DEFAULT_DOCUMENT_LIMITS, useDocumentLimits, type DocumentLimits } from "../graphql/documentLimits.ts";

export type ServerPolicy = {
  /** NODE_ENV=production: no introspection, no field suggestions, no GraphiQL unless asked, CSRF header on GET, CORS only from the allow-list */
  production: boolean;
  graphiql: boolean;
  /** origins allowed to call from a browser; null: any origin (development only) */
  corsOrigins: readonly string[] | null;
  /** HTTP bodies and WebSocket messages */
  maxBodyBytes: number;
  documentLimits: DocumentLimits;
  /** hash → document: when set, only these documents run (trusted documents) */
  trustedDocuments: ReadonlyMap<string, string> | null;
  /** Apollo's automatic persisted queries */
  apq: boolean;
};

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Development defaults; production is the same with `production: true` and what follows from it. */
export function developmentPolicy(overrides: Partial<ServerPolicy> = {}): ServerPolicy {
  return {
    production: false,
    graphiql: true,
    corsOrigins: null,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    documentLimits: DEFAULT_DOCUMENT_LIMITS,
    trustedDocuments: null,
    apq: true,
    ...overrides,
  };
}

/** A manifest of `{ "<sha256 hash>": "<document>" }`, as GraphQL Code Generator's client preset writes with `persistedDocuments: true`. */
export function readTrustedDocuments(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`TRUSTED_DOCUMENTS: cannot read ${file}: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || !Object.values(parsed).every((d) => typeof d === "string")) {
    throw new Error(`TRUSTED_DOCUMENTS: ${file} must be a JSON object of hash → document`);
  }
  // keys may carry the algorithm ("sha256:<hex>", codegen's format): a client may send either form
  return new Map(Object.entries(parsed as Record<string, string>).flatMap(([key, document]) => [[key, document], [key.replace(/^sha256:/, ""), document]]));
}

/**
 * CORS: any origin in development (yoga's default), only the allow-list otherwise; an empty
 * list sends no CORS headers at all (yoga would read an empty list as "any").
 */
export function corsOf(policy: ServerPolicy): CORSOptions {
  if (policy.corsOrigins === null) return {};
  if (policy.corsOrigins.length === 0) return false;
  return { origin: [...policy.corsOrigins], credentials: true };
}

/** APQ keeps at most this many documents, each at most this long: registering can't fill the memory. */
const APQ_ENTRIES = 1_000;
const APQ_DOCUMENT_CHARS = 32 * 1024;

export function policyPlugins(policy: ServerPolicy): Plugin[] {
  const plugins: Plugin[] = [useJsonBodiesOnly(), useDocumentLimits(policy.documentLimits)];
  if (policy.production) {
    plugins.push(useDisableIntrospection(), blockFieldSuggestionsPlugin({ mask: "" }) as Plugin);
    // GET carries no body, so a browser sends it without a preflight: require a header it can't add cross-site
    plugins.push(useCSRFPrevention({ requestHeaders: ["x-graphql-yoga-csrf", "apollo-require-preflight", "x-apollo-operation-name", "graphql-require-preflight"] }));
  }
  if (policy.trustedDocuments) {
    const documents = policy.trustedDocuments;
    plugins.push(
      usePersistedOperations({
        getPersistedOperation: (key) => documents.get(key) ?? null,
        // the trusted-documents convention (`documentId`) and Apollo's APQ hash
        extractPersistedOperationId: (params) =>
          stringOrNull((params as { documentId?: unknown }).documentId) ??
          stringOrNull((params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash),
        allowArbitraryOperations: false,
        customErrors: {
          notFound: { message: "this document is not one of the trusted documents", extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } },
          persistedQueryOnly: { message: "only trusted documents run on this server: send the document's hash", extensions: { code: "PERSISTED_QUERY_ONLY" } },
          keyNotFound: { message: "send the document's hash (extensions.persistedQuery.sha256Hash or documentId)", extensions: { code: "PERSISTED_QUERY_ONLY" } },
        },
      }),
    );
  } else if (policy.apq) {
    const cache = createLRUCache<string>({ max: APQ_ENTRIES, ttl: 24 * 3600_000 });
    plugins.push(
      useAPQ({
        store: {
          get: (hash) => cache.get(hash) ?? null,
          set: (hash, document) => {
            if (document.length <= APQ_DOCUMENT_CHARS) cache.set(hash, document);
          },
        },
      }),
    );
  }
  return plugins;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

const JSON_TYPES = ["application/json", "application/graphql-response+json"];

/**
 * POST bodies must be JSON: a form or multipart POST is what a browser sends cross-site without
 * asking (CSRF), and no GraphQL client needs one.
 */
function useJsonBodiesOnly(): Plugin {
  return {
    onRequestParse: ({ request }) => {
      if (request.method !== "POST") return;
      const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
      if (JSON_TYPES.includes(type)) return;
      throw createGraphQLError("POST bodies must be application/json", {
        extensions: { code: "BAD_REQUEST", http: { status: 415 } },
      });
    },
  };
}
