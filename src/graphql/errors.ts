// What clients may see of an error: our typed errors with their codes, GraphQL's own
// validation errors; everything else is masked and logged.
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { isConnectionLost } from "../database/connectionErrors.ts";
import { StorySparkError } from "../domain/errors.ts";
import { currentRequestId } from "../server/logger.ts";

/** What a request answers when its database connection broke. */
export const DATABASE_CONNECTION_LOST =
  "The connection to the database was lost during the request; it is safe to retry (a write sent again with the same idempotencyKey is applied once).";

export function maskError(error: unknown, message: string, log: (error: unknown) => void): Error {
  if (error instanceof GraphQLError) {
    const original = error.originalError;
    if (original instanceof StorySparkError) {
      return new GraphQLError(original.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: { ...original.extensions, code: original.code },
      });
    }
    // GraphQL's own errors (parse, validation, input coercion) and ours
    if (!original || original instanceof GraphQLError) return error;
    if (original.name === "PothosValidationError") {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, extensions: { code: "BAD_USER_INPUT" } });
    }
  }
  if (error instanceof StorySparkError) return new GraphQLError(error.message, { extensions: { ...error.extensions, code: error.code } });
  // a database connection broke under the request: PostgreSQL rolled its transaction back,
  // the pool replaces the connection, and the pool's listener has logged it (once per burst)
  if (isConnectionLost(error instanceof GraphQLError ? error.originalError : error)) {
    return new GraphQLError(DATABASE_CONNECTION_LOST, {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions: { code: "SERVICE_UNAVAILABLE" },
    });
  }
  // logged once, here; the request id in the answer finds the log entry
  log(error);
  const requestId = currentRequestId();
  return new GraphQLError(message, {
    ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    extensions: { code: "INTERNAL_SERVER_ERROR", ...(requestId ? { requestId } : {}) },
  });
}

/**
 * Gives GraphQL's own request errors a code: values that do not fit the schema's
 * input types are BAD_USER_INPUT (the message names the field), other invalid
 * documents GRAPHQL_VALIDATION_FAILED.
 */
export function useErrorCodes(): Plugin {
  const withCode = (errors: readonly GraphQLError[], code: (error: GraphQLError) => string) =>
    errors.map((error) =>
      error.extensions?.code
        ? error
        : new GraphQLError(error.message, {
            nodes: error.nodes,
            source: error.source,
            positions: error.positions,
            path: error.path,
            originalError: error.originalError,
            extensions: { ...error.extensions, code: code(error) },
          }),
    );
  const isInputError = (error: GraphQLError) =>
    /^Variable "\$[^"]+" (got invalid value|of required type|of non-null type)|^(Expected value of type|Value ".*" does not exist in|Field ".*" of required type ".*" was not provided|Expected type ".*", found)/.test(
      error.message,
    );
  return {
    onValidate: () => ({ result, setResult }) => {
      if (result.length > 0) setResult(withCode(result as readonly GraphQLError[], (e) => (isInputError(e) ? "BAD_USER_INPUT" : "GRAPHQL_VALIDATION_FAILED")));
    },
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!("errors" in result) || !result.errors || result.data !== undefined) return;
        setResult({ ...result, errors: withCode(result.errors as readonly GraphQLError[], () => "BAD_USER_INPUT") });
      },
    }),
  };
}
