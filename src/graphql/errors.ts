// What clients may see of an error: our typed errors with their codes, GraphQL's own
// validation errors; everything else is masked and logged.
import { GraphQLError, ValuesOfCorrectTypeRule, specifiedRules, type ValidationContext, type ValidationRule } from "graphql";
import type { Plugin } from "graphql-yoga";
import { isConnectionLost } from "../database/connectionErrors.ts";
import { StorySparkError } from "../domain/errors.ts";
import { encodeGlobalId } from "../domain/globalIds.ts";
import { currentRequestId } from "../server/logger.ts";

/** What a request answers when its database connection broke. */
export const DATABASE_CONNECTION_LOST =
  "The connection to the database was lost during the request; it is safe to retry (a write sent again with the same idempotencyKey is applied once).";

/**
 * A typed error's extensions with its code. Users a conflict names (`changedBy`) are given by
 * their global id, as every User the API shows.
 */
function clientExtensions(error: StorySparkError): Record<string, unknown> {
  const extensions: Record<string, unknown> = { ...error.extensions, code: error.code };
  if (error.code !== "MODULE_CONFLICT" && error.code !== "UNDO_CONFLICT") return extensions;
  const withUserId = <T,>(entry: T): T => {
    const changedBy = (entry as { changedBy?: { id: string } }).changedBy;
    return changedBy ? { ...entry, changedBy: { ...changedBy, id: encodeGlobalId("User", changedBy.id) } } : entry;
  };
  return { ...withUserId(extensions), modules: ((extensions.modules ?? []) as object[]).map(withUserId) };
}

export function maskError(error: unknown, message: string, log: (error: unknown) => void): Error {
  if (error instanceof GraphQLError) {
    const original = error.originalError;
    if (original instanceof StorySparkError) {
      return new GraphQLError(original.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: clientExtensions(original),
      });
    }
    // GraphQL's own errors (parse, validation, input coercion) and ours
    if (!original || original instanceof GraphQLError) return error;
    if (original.name === "PothosValidationError") {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, extensions: { code: "BAD_USER_INPUT" } });
    }
  }
  if (error instanceof StorySparkError) return new GraphQLError(error.message, { extensions: clientExtensions(error) });
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
 * The code the client is answered for an error, found without masking or logging it (for the
 * metrics, which see errors before they are masked): the same decisions as maskError.
 */
export function errorCodeOf(error: unknown): string {
  const given = error instanceof GraphQLError ? error.extensions?.code : undefined;
  if (typeof given === "string") return given;
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (original instanceof StorySparkError) return original.code;
  if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return "GRAPHQL_VALIDATION_FAILED";
  if (original instanceof Error && original.name === "PothosValidationError") return "BAD_USER_INPUT";
  if (isConnectionLost(original)) return "SERVICE_UNAVAILABLE";
  return "INTERNAL_SERVER_ERROR";
}

/**
 * Values in the document that do not fit their input type: BAD_USER_INPUT, as the same values sent
 * as variables are. Every other rule's errors say the document does not fit the schema.
 */
const INPUT_VALUE_RULES: ReadonlySet<ValidationRule> = new Set([ValuesOfCorrectTypeRule]);

/**
 * Gives GraphQL's own request errors a code. Validation errors are coded by the rule that reports
 * them: each rule runs with a context whose reportError codes what it reports. An execution that
 * could not start (its variables do not fit their types) is BAD_USER_INPUT.
 */
export function useErrorCodes(): Plugin {
  return {
    onValidate: ({ validateFn, setValidationFn }) => {
      setValidationFn((schema, document, rules = specifiedRules, ...rest) => validateFn(schema, document, rules.map(reportingWithCode), ...rest));
    },
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!("errors" in result) || !result.errors || result.data !== undefined) return;
        setResult({ ...result, errors: (result.errors as readonly GraphQLError[]).map((error) => withCode(error, "BAD_USER_INPUT")) });
      },
    }),
  };
}

function reportingWithCode(rule: ValidationRule): ValidationRule {
  const code = INPUT_VALUE_RULES.has(rule) ? "BAD_USER_INPUT" : "GRAPHQL_VALIDATION_FAILED";
  return (context) => {
    // the rule reads everything else from the real context
    const coding: ValidationContext = Object.create(context);
    coding.reportError = (error) => context.reportError(withCode(error, code));
    return rule(coding);
  };
}

/** The error with `code`, unless it has a code already (ours, or one a plugin gave it). */
function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code },
  });
}
