// A story's comments as a decider of their own: decide(command, state) → events, evolve(state,
// event) → state. Comments live in a stream of their own per story (story_comment_events), so a
// comment never moves the story's revision or makes a version: a writer's expectedRevision never
// conflicts with a commenter. Pure: the command handler (src/commands/commentCommands.ts), the
// projector, rebuild and verify share this one fold.
//
// Rules, as decided here:
// - commenter and up comment and reply; editor and owner resolve and reopen threads;
// - a comment's author edits and deletes it; the story's owner may also delete anyone's (they
//   answer for what their story holds), but edits nobody's;
// - threads are one level deep: a reply to a reply joins the thread of its root, and carries the
//   root's anchor (module, field path, version), so that a thread is listed as one;
// - resolving or reopening a reply resolves or reopens its thread; doing it twice changes nothing;
// - a deleted comment stays as a tombstone (its body gone from the read table, its place in the
//   thread kept); a deleted comment cannot be edited, deleted again or replied to.
import { moduleByName, type JsonObject, type ModuleName } from "./catalogue.ts";
import { StorySparkError, badInput } from "./errors.ts";
import { requireRole, type Role } from "./roles.ts";
import { checkText } from "./text.ts";

export const COMMENT_LIMITS = {
  /** characters of a comment's body, once trimmed */
  bodyChars: 10_000,
  /** characters of a field path, e.g. `characters.0.need` */
  fieldPathChars: 200,
  /** keys and indexes in a field path */
  fieldPathSegments: 16,
  /** characters of one key of a field path */
  fieldPathKeyChars: 64,
  /** comments (replies and tombstones included) one story may hold */
  perStory: 10_000,
  /** replies in one thread */
  repliesPerThread: 500,
} as const;

// ---------------------------------------------------------------- events

/** A character range of a string field: UTF-16 code units, as JavaScript and GraphQL count them; end exclusive. */
export type CommentRange = { readonly start: number; readonly end: number };

export type CommentEventData =
  | {
      type: "CommentAdded";
      payload: {
        commentId: string;
        /** the thread's root; null for a new thread */
        parentId: string | null;
        authorId: string;
        module: ModuleName | null;
        fieldPath: string | null;
        range: CommentRange | null;
        versionNumber: number;
        body: string;
      };
    }
  | { type: "CommentEdited"; payload: { commentId: string; body: string } }
  | { type: "CommentDeleted"; payload: { commentId: string } }
  | { type: "CommentResolved"; payload: { commentId: string } }
  | { type: "CommentReopened"; payload: { commentId: string } };

export type CommentEventType = CommentEventData["type"];

export const COMMENT_EVENT_SCHEMA_VERSION = 1;

/** An event as stored in the story's comment stream. */
export type RecordedCommentEvent = CommentEventData & {
  readonly id: string;
  readonly storyId: string;
  readonly seq: number;
  readonly schemaVersion: number;
  readonly actorId: string | null;
  readonly createdAt: Date;
};

// ---------------------------------------------------------------- commands

/** Who acts, and the role they hold in the story (a stranger never gets this far: NOT_FOUND). */
export type CommentActor = { readonly id: string; readonly role: Role };

/**
 * Where a new comment points, with what the handler read for it: the module's output in that
 * version (null when the module is empty), so that the path and range can be checked here.
 */
export type CommentAnchor = {
  module: string | null;
  fieldPath: string | null;
  range: CommentRange | null;
  versionNumber: number;
  moduleOutput: JsonObject | null;
};

export type CommentCommand =
  | { type: "AddComment"; actor: CommentActor; commentId: string; anchor: CommentAnchor; body: string }
  | { type: "ReplyToComment"; actor: CommentActor; commentId: string; parentId: string; body: string }
  | { type: "EditComment"; actor: CommentActor; commentId: string; body: string }
  | { type: "DeleteComment"; actor: CommentActor; commentId: string }
  | { type: "ResolveComment"; actor: CommentActor; commentId: string }
  | { type: "ReopenComment"; actor: CommentActor; commentId: string };

// ---------------------------------------------------------------- state

export type CommentState = {
  readonly id: string;
  readonly storyId: string;
  readonly parentId: string | null;
  readonly authorId: string;
  readonly module: ModuleName | null;
  readonly fieldPath: string | null;
  readonly range: CommentRange | null;
  readonly versionNumber: number;
  /** "" once deleted */
  readonly body: string;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: string | null;
  readonly editedAt: Date | null;
  readonly deletedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** seq of the comment stream's event that last changed it */
  readonly seq: number;
};

export type StoryCommentsState = {
  readonly storyId: string;
  /** seq of the comment stream's last event */
  readonly revision: number;
  readonly comments: ReadonlyMap<string, CommentState>;
  /** replies per thread root */
  readonly replyCounts: ReadonlyMap<string, number>;
};

export function initialCommentsState(storyId: string): StoryCommentsState {
  return { storyId, revision: 0, comments: new Map(), replyCounts: new Map() };
}

// ---------------------------------------------------------------- decide

export function decideComment(command: CommentCommand, state: StoryCommentsState): CommentEventData[] {
  const { actor } = command;
  switch (command.type) {
    case "AddComment": {
      requireRole(actor.role, "commenter", "commenting");
      if (state.comments.size >= COMMENT_LIMITS.perStory) throw tooMany(`at most ${COMMENT_LIMITS.perStory} comments per story`);
      const anchor = checkAnchor(command.anchor);
      return [
        {
          type: "CommentAdded",
          payload: { commentId: command.commentId, parentId: null, authorId: actor.id, ...anchor, body: checkBody(command.body) },
        },
      ];
    }
    case "ReplyToComment": {
      requireRole(actor.role, "commenter", "replying to a comment");
      const parent = existing(state, command.parentId, "commentId");
      const root = parent.parentId === null ? parent : existing(state, parent.parentId, "commentId");
      if (parent.deletedAt !== null || root.deletedAt !== null) throw badInput("commentId", "the comment was deleted: it takes no replies");
      if (state.comments.size >= COMMENT_LIMITS.perStory) throw tooMany(`at most ${COMMENT_LIMITS.perStory} comments per story`);
      if ((state.replyCounts.get(root.id) ?? 0) >= COMMENT_LIMITS.repliesPerThread) {
        throw tooMany(`at most ${COMMENT_LIMITS.repliesPerThread} replies per thread`);
      }
      return [
        {
          type: "CommentAdded",
          payload: {
            commentId: command.commentId,
            parentId: root.id,
            authorId: actor.id,
            module: root.module,
            fieldPath: root.fieldPath,
            range: null,
            versionNumber: root.versionNumber,
            body: checkBody(command.body),
          },
        },
      ];
    }
    case "EditComment": {
      requireRole(actor.role, "commenter", "editing a comment");
      const comment = existing(state, command.commentId, "commentId");
      if (comment.authorId !== actor.id) throw notTheAuthor("edit");
      if (comment.deletedAt !== null) throw badInput("commentId", "the comment was deleted");
      const body = checkBody(command.body);
      return body === comment.body ? [] : [{ type: "CommentEdited", payload: { commentId: comment.id, body } }];
    }
    case "DeleteComment": {
      const comment = existing(state, command.commentId, "commentId");
      if (comment.authorId === actor.id) requireRole(actor.role, "commenter", "deleting a comment");
      else requireRole(actor.role, "owner", "deleting someone else's comment");
      if (comment.deletedAt !== null) throw badInput("commentId", "the comment was deleted already");
      return [{ type: "CommentDeleted", payload: { commentId: comment.id } }];
    }
    case "ResolveComment":
    case "ReopenComment": {
      const resolving = command.type === "ResolveComment";
      requireRole(actor.role, "editor", resolving ? "resolving a comment" : "reopening a comment");
      const comment = existing(state, command.commentId, "commentId");
      const root = comment.parentId === null ? comment : existing(state, comment.parentId, "commentId");
      // twice is once: the thread is already where the command would put it
      if ((root.resolvedAt !== null) === resolving) return [];
      return [{ type: resolving ? "CommentResolved" : "CommentReopened", payload: { commentId: root.id } }];
    }
    default:
      return assertNever(command);
  }
}

/** The comment, or NOT_FOUND: a comment of another story is as missing as one never made. */
function existing(state: StoryCommentsState, commentId: string, field: string): CommentState {
  const comment = state.comments.get(commentId);
  if (!comment) throw new StorySparkError("NOT_FOUND", "comment not found", { field });
  return comment;
}

function notTheAuthor(what: "edit"): StorySparkError {
  return new StorySparkError("FORBIDDEN", `only its author may ${what} a comment`, { requiredRole: "AUTHOR" });
}

function tooMany(reason: string): StorySparkError {
  return badInput("input", reason);
}

export function checkBody(body: string): string {
  const trimmed = checkText("body", body).trim();
  if (trimmed.length === 0) throw badInput("body", "must not be empty");
  if (trimmed.length > COMMENT_LIMITS.bodyChars) throw badInput("body", `must be at most ${COMMENT_LIMITS.bodyChars} characters`);
  return trimmed;
}

const KEY = /^[A-Za-z0-9_-]+$/;
const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/**
 * A field path's segments, or BAD_USER_INPUT: dot-separated keys (letters, digits, `_`, `-`) and
 * array indexes (no leading zeros), bounded in length and depth.
 */
export function parseFieldPath(path: string): (string | number)[] {
  if (path.length === 0 || path.length > COMMENT_LIMITS.fieldPathChars) {
    throw badInput("fieldPath", `must be 1 to ${COMMENT_LIMITS.fieldPathChars} characters`);
  }
  const parts = path.split(".");
  if (parts.length > COMMENT_LIMITS.fieldPathSegments) throw badInput("fieldPath", `must have at most ${COMMENT_LIMITS.fieldPathSegments} parts`);
  return parts.map((part) => {
    if (INDEX.test(part)) return Number(part);
    if (!KEY.test(part) || part.length > COMMENT_LIMITS.fieldPathKeyChars) {
      throw badInput("fieldPath", `"${part.slice(0, COMMENT_LIMITS.fieldPathKeyChars)}" is not a key (letters, digits, _ and -, at most ${COMMENT_LIMITS.fieldPathKeyChars}) or an index`);
    }
    return part;
  });
}

/** The value at a field path of a module's output; undefined when the path leads nowhere. */
export function valueAtPath(output: JsonObject | null, path: string): unknown {
  let current: unknown = output;
  let parts: (string | number)[];
  try {
    parts = parseFieldPath(path);
  } catch {
    return undefined;
  }
  for (const part of parts) {
    if (typeof part === "number" ? !Array.isArray(current) : typeof current !== "object" || current === null || Array.isArray(current)) {
      return undefined;
    }
    if (!Object.hasOwn(current as object, part)) return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

/**
 * Whether a comment's anchor no longer exists in the module's current output: its field path
 * leads nowhere (the field was removed, the list shortened, the module cleared).
 */
export function isDetached(comment: { fieldPath: string | null }, currentOutput: JsonObject | null): boolean {
  return comment.fieldPath !== null && valueAtPath(currentOutput, comment.fieldPath) === undefined;
}

function checkAnchor(anchor: CommentAnchor): Pick<Extract<CommentEventData, { type: "CommentAdded" }>["payload"], "module" | "fieldPath" | "range" | "versionNumber"> {
  const module = anchor.module === null ? null : moduleByName(anchor.module);
  if (module === undefined) throw badInput("module", `unknown module "${anchor.module}"`);
  if (anchor.fieldPath !== null && module === null) throw badInput("fieldPath", "needs a module");
  if (anchor.range !== null && anchor.fieldPath === null) throw badInput("range", "needs a field path");
  if (anchor.fieldPath !== null) {
    parseFieldPath(anchor.fieldPath);
    const value = valueAtPath(anchor.moduleOutput, anchor.fieldPath);
    if (value === undefined) throw badInput("fieldPath", `is not in the module's output at version ${anchor.versionNumber}`);
    if (anchor.range !== null) {
      if (typeof value !== "string") throw badInput("range", "the field at fieldPath is not a string");
      const { start, end } = anchor.range;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > value.length) {
        throw badInput("range", `must satisfy 0 ≤ start ≤ end ≤ ${value.length}, the field's length`);
      }
    }
  }
  return { module: module?.name ?? null, fieldPath: anchor.fieldPath, range: anchor.range, versionNumber: anchor.versionNumber };
}

// ---------------------------------------------------------------- evolve

export function evolveComments(state: StoryCommentsState, event: RecordedCommentEvent): StoryCommentsState {
  const at = event.createdAt;
  const base = { ...state, revision: event.seq };
  const change = (commentId: string, update: (comment: CommentState) => Partial<CommentState>): StoryCommentsState => {
    const comment = state.comments.get(commentId);
    if (!comment) throw new Error(`story ${state.storyId}: comment ${commentId} of event ${event.seq} is not in the state`);
    const comments = new Map(state.comments);
    comments.set(commentId, { ...comment, ...update(comment), updatedAt: at, seq: event.seq });
    return { ...base, comments };
  };
  switch (event.type) {
    case "CommentAdded": {
      const p = event.payload;
      const comments = new Map(state.comments);
      comments.set(p.commentId, {
        id: p.commentId,
        storyId: state.storyId,
        parentId: p.parentId,
        authorId: p.authorId,
        module: p.module,
        fieldPath: p.fieldPath,
        range: p.range,
        versionNumber: p.versionNumber,
        body: p.body,
        resolvedAt: null,
        resolvedBy: null,
        editedAt: null,
        deletedAt: null,
        createdAt: at,
        updatedAt: at,
        seq: event.seq,
      });
      const replyCounts = p.parentId === null ? state.replyCounts : new Map(state.replyCounts).set(p.parentId, (state.replyCounts.get(p.parentId) ?? 0) + 1);
      return { ...base, comments, replyCounts };
    }
    case "CommentEdited":
      return change(event.payload.commentId, () => ({ body: event.payload.body, editedAt: at }));
    case "CommentDeleted":
      return change(event.payload.commentId, () => ({ body: "", deletedAt: at }));
    case "CommentResolved":
      return change(event.payload.commentId, () => ({ resolvedAt: at, resolvedBy: event.actorId }));
    case "CommentReopened":
      return change(event.payload.commentId, () => ({ resolvedAt: null, resolvedBy: null }));
    default:
      return assertNever(event);
  }
}

export function foldComments(storyId: string, events: Iterable<RecordedCommentEvent>): StoryCommentsState {
  let state = initialCommentsState(storyId);
  for (const event of events) state = evolveComments(state, event);
  return state;
}

/** The comment an event is about: what its message and its answer show. */
export function commentIdOf(event: CommentEventData): string {
  return event.payload.commentId;
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
