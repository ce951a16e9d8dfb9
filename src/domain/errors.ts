// Errors a client can act on. Their codes are the API's (API.md §5); the GraphQL
// layer turns them into GraphQLErrors with `extensions.code`, and masks everything else.

export type ErrorCode =
  | "UNAUTHENTICATED"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "REVISION_CONFLICT"
  | "NOTHING_TO_UNDO"
  | "NOTHING_TO_REDO"
  | "EMAIL_TAKEN"
  | "INVALID_CREDENTIALS"
  | "LOCAL_AUTH_DISABLED"
  | "AI_NOT_CONFIGURED"
  | "AI_TIMEOUT"
  | "AI_OUTPUT_INVALID"
  | "AI_PROVIDER_ERROR"
  | "RATE_LIMITED"
  | "AI_BUDGET_EXCEEDED"
  | "GENERATION_CANCELLED"
  | "FORBIDDEN"
  | "MODULE_CONFLICT"
  | "UNDO_CONFLICT"
  | "MERGE_CONFLICT"
  | "SERVICE_UNAVAILABLE";

export class StorySparkError extends Error {
  readonly code: ErrorCode;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = "StorySparkError";
    this.code = code;
    this.extensions = extensions;
  }
}

/** Invalid input: names the field and the reason. */
export function badInput(field: string, reason: string): StorySparkError {
  return new StorySparkError("BAD_USER_INPUT", `${field}: ${reason}`, { field });
}

export function notFound(what: string): StorySparkError {
  return new StorySparkError("NOT_FOUND", `${what} not found`);
}
