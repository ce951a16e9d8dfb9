// What clients may see of an error: our typed errors with their codes, GraphQL's own
// validation errors; everything else is masked and logged.
import { GraphQLError } from "graphql";
import { StorySparkError } from "../domain/errors.ts";

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
    if (original instanceof GraphQLError) return maskError(original, message, log);
    if (!original) return error; // GraphQL's own (parse, validation, our GraphQLErrors)
    if (original.name === "PothosValidationError") {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, extensions: { code: "BAD_USER_INPUT" } });
    }
  }
  if (error instanceof StorySparkError) return new GraphQLError(error.message, { extensions: { ...error.extensions, code: error.code } });
  log(error);
  return new GraphQLError(message, {
    ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    extensions: { code: "INTERNAL_SERVER_ERROR" },
  });
}
