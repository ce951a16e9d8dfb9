// ErrorCode: the codes of the errors a client can act on (API.md §5), as an enum where a field
// carries one (a failed generation's draft); in error answers they are `extensions.code`.
import { builder } from "../builder.ts";
import type { ErrorCode } from "../../domain/errors.ts";

const ERROR_CODES = {
  UNAUTHENTICATED: { description: "No token, or one that is invalid or expired, where one is needed." },
  NOT_FOUND: { description: "The object does not exist, or is someone else's (never which)." },
  BAD_USER_INPUT: { description: "An invalid value: the message names the field and says why." },
  REVISION_CONFLICT: { description: "`expectedRevision` is not the story's revision; `extensions.actualRevision` says what it is." },
  NOTHING_TO_UNDO: { description: "Undo at version 1." },
  NOTHING_TO_REDO: { description: "Redo with no undo left to redo." },
  EMAIL_TAKEN: { description: "Sign-up with an email that has an account." },
  INVALID_CREDENTIALS: { description: "Sign-in with a wrong email or password; deleteAccount with a wrong password, or without a fresh token for an account without one." },
  LOCAL_AUTH_DISABLED: {
    description: "Sign-up or sign-in on a server whose accounts are Supabase Auth's (AUTH_MODE=supabase): sign in with Supabase, and send its access token.",
  },
  AI_NOT_CONFIGURED: { description: "The server has no AI provider configured." },
  AI_TIMEOUT: { description: "The generation took longer than the server allows." },
  AI_OUTPUT_INVALID: { description: "The model's answer did not fit the module, even after a repair attempt." },
  AI_PROVIDER_ERROR: { description: "The AI provider failed, or its answer broke off." },
  RATE_LIMITED: { description: "Too many attempts or too much at once; `extensions.retryAfter` (seconds) when known." },
  AI_BUDGET_EXCEEDED: { description: "The user's AI token budget for the day is spent." },
  GENERATION_CANCELLED: { description: "cancelGeneration stopped the generation." },
  FORBIDDEN: { description: "A member of the story whose role does not allow the action; `extensions.requiredRole` names the role needed (non-members get NOT_FOUND)." },
  MODULE_CONFLICT: {
    description: "The module changed after `baseVersionNumber`; `extensions` carry its current content, who changed it and when.",
  },
  UNDO_CONFLICT: { description: "The viewer's change can't be taken back or re-applied: someone else changed those modules since; `extensions` say who and when." },
  MERGE_CONFLICT: { description: "A merge has conflicts without a resolution; `extensions.conflicts` lists them ({ module, path, base, ours, theirs })." },
  SERVICE_UNAVAILABLE: { description: "A dependency failed mid-request; nothing was committed, and it is safe to retry." },
} as const satisfies Record<ErrorCode, { description: string }>;

export const ErrorCodeEnum = builder.enumType("ErrorCode", {
  description: "What went wrong, in a way a client can act on.",
  values: ERROR_CODES,
});
