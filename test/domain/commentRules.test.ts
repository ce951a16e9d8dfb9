// The comment rules (src/domain/comments.ts), one line each: given these comment events, when this
// command by someone of this role, then these events or this refusal. No database, no server.
import { describe, expect, it } from "vitest";
import { StorySparkError, type ErrorCode } from "../../src/domain/errors.ts";
import {
  COMMENT_LIMITS,
  decideComment,
  evolveComments,
  initialCommentsState,
  isDetached,
  type CommentAnchor,
  type CommentCommand,
  type CommentEventData,
  type StoryCommentsState,
} from "../../src/domain/comments.ts";
import type { Role } from "../../src/domain/roles.ts";

const STORY = "story-1";
const OWNER = "owner-1";
const EDITOR = "editor-1";
const COMMENTER = "commenter-1";
const VIEWER = "viewer-1";
const ROLES: Record<string, Role> = { [OWNER]: "owner", [EDITOR]: "editor", [COMMENTER]: "commenter", [VIEWER]: "viewer" };

const as = (actorId: string) => ({ id: actorId, role: ROLES[actorId]! });

const OUTPUT = { characters: [{ name: "Mara", need: "to forgive her brother" }], themes: ["loss"] };
const storyAnchor: CommentAnchor = { module: null, fieldPath: null, range: null, versionNumber: 1, moduleOutput: null };
const fieldAnchor = (fieldPath: string, range: CommentAnchor["range"] = null): CommentAnchor => ({
  module: "CHARACTER_FORGE",
  fieldPath,
  range,
  versionNumber: 3,
  moduleOutput: OUTPUT,
});

const added = (commentId: string, authorId: string, extra: Partial<Extract<CommentEventData, { type: "CommentAdded" }>["payload"]> = {}): CommentEventData => ({
  type: "CommentAdded",
  payload: { commentId, parentId: null, authorId, module: null, fieldPath: null, range: null, versionNumber: 1, body: "Why here?", ...extra },
});

/** The events with who appended each (actors[i], the comment's author by default). */
function given(history: readonly CommentEventData[], actors: readonly string[] = []) {
  let state: StoryCommentsState = initialCommentsState(STORY);
  history.forEach((event, i) => {
    const actorId = actors[i] ?? (event.type === "CommentAdded" ? event.payload.authorId : OWNER);
    state = evolveComments(state, { ...event, id: `event-${i + 1}`, storyId: STORY, seq: state.revision + 1, schemaVersion: 1, actorId, createdAt: new Date(1_000 * (i + 1)) });
  });
  return {
    state,
    when(command: CommentCommand) {
      return {
        then: (expected: CommentEventData[]) => expect(decideComment(command, state)).toEqual(expected),
        thenRefused(code: ErrorCode, message: RegExp) {
          let refusal: unknown;
          try {
            decideComment(command, state);
          } catch (error) {
            refusal = error;
          }
          expect(refusal, "the command was accepted").toBeInstanceOf(StorySparkError);
          expect((refusal as StorySparkError).code).toBe(code);
          expect((refusal as StorySparkError).message).toMatch(message);
        },
      };
    },
  };
}

const thread = added("c1", COMMENTER);

describe("commenting", () => {
  it("a commenter starts a thread on the story; the body is trimmed", () => {
    given([]).when({ type: "AddComment", actor: as(COMMENTER), commentId: "c1", anchor: storyAnchor, body: "  Why here? \n" }).then([thread]);
  });

  it("a viewer may not comment", () => {
    given([]).when({ type: "AddComment", actor: as(VIEWER), commentId: "c1", anchor: storyAnchor, body: "hi" }).thenRefused("FORBIDDEN", /commenter role/);
  });

  it("on a field, with a range inside its string", () => {
    given([])
      .when({ type: "AddComment", actor: as(EDITOR), commentId: "c1", anchor: fieldAnchor("characters.0.need", { start: 3, end: 10 }), body: "Vague" })
      .then([added("c1", EDITOR, { module: "CHARACTER_FORGE", fieldPath: "characters.0.need", range: { start: 3, end: 10 }, versionNumber: 3, body: "Vague" })]);
  });

  it("refuses a range past the string's end, a range on a non-string, and a path not in the output", () => {
    const add = (anchor: CommentAnchor) => given([]).when({ type: "AddComment", actor: as(OWNER), commentId: "c1", anchor, body: "x" });
    add(fieldAnchor("characters.0.need", { start: 0, end: 99 })).thenRefused("BAD_USER_INPUT", /^range: must satisfy/);
    add(fieldAnchor("characters.0.need", { start: 5, end: 4 })).thenRefused("BAD_USER_INPUT", /^range: must satisfy/);
    add(fieldAnchor("characters.0", { start: 0, end: 1 })).thenRefused("BAD_USER_INPUT", /^range: the field at fieldPath is not a string/);
    add(fieldAnchor("characters.1.need")).thenRefused("BAD_USER_INPUT", /^fieldPath: is not in the module's output at version 3/);
    add({ ...storyAnchor, fieldPath: "themes" }).thenRefused("BAD_USER_INPUT", /^fieldPath: needs a module/);
    add({ ...storyAnchor, range: { start: 0, end: 0 } }).thenRefused("BAD_USER_INPUT", /^range: needs a field path/);
  });

  it("refuses field paths that are not dot-separated keys and indexes, or too long or deep", () => {
    for (const path of ["", "a..b", ".a", "a.", "characters.01", "char acters", "a/b", "x".repeat(COMMENT_LIMITS.fieldPathKeyChars + 1), Array(17).fill("a").join(".")]) {
      given([]).when({ type: "AddComment", actor: as(OWNER), commentId: "c1", anchor: fieldAnchor(path), body: "x" }).thenRefused("BAD_USER_INPUT", /^fieldPath: /);
    }
    // the prototype is not a field
    given([]).when({ type: "AddComment", actor: as(OWNER), commentId: "c1", anchor: fieldAnchor("constructor"), body: "x" }).thenRefused("BAD_USER_INPUT", /^fieldPath: is not in/);
  });

  it("refuses an empty, too long or unstorable body", () => {
    const add = (body: string) => given([]).when({ type: "AddComment", actor: as(OWNER), commentId: "c1", anchor: storyAnchor, body });
    add("   ").thenRefused("BAD_USER_INPUT", /^body: must not be empty/);
    add("x".repeat(COMMENT_LIMITS.bodyChars + 1)).thenRefused("BAD_USER_INPUT", /^body: must be at most/);
    add("a\0b").thenRefused("BAD_USER_INPUT", /^body: must not contain NUL/);
  });
});

describe("threads", () => {
  it("a reply joins the thread with the thread's anchor; a reply to a reply joins the same thread", () => {
    const root = added("c1", COMMENTER, { module: "CHARACTER_FORGE", fieldPath: "characters.0.need", range: { start: 0, end: 2 }, versionNumber: 3 });
    const reply = added("c2", EDITOR, { parentId: "c1", module: "CHARACTER_FORGE", fieldPath: "characters.0.need", versionNumber: 3, body: "Agreed" });
    given([root]).when({ type: "ReplyToComment", actor: as(EDITOR), commentId: "c2", parentId: "c1", body: "Agreed" }).then([reply]);
    given([root, reply])
      .when({ type: "ReplyToComment", actor: as(OWNER), commentId: "c3", parentId: "c2", body: "Done" })
      .then([added("c3", OWNER, { parentId: "c1", module: "CHARACTER_FORGE", fieldPath: "characters.0.need", versionNumber: 3, body: "Done" })]);
  });

  it("no reply to a deleted comment, nor by a viewer, nor to a comment not there", () => {
    given([thread, { type: "CommentDeleted", payload: { commentId: "c1" } }])
      .when({ type: "ReplyToComment", actor: as(OWNER), commentId: "c2", parentId: "c1", body: "?" })
      .thenRefused("BAD_USER_INPUT", /deleted/);
    given([thread]).when({ type: "ReplyToComment", actor: as(VIEWER), commentId: "c2", parentId: "c1", body: "?" }).thenRefused("FORBIDDEN", /commenter role/);
    given([thread]).when({ type: "ReplyToComment", actor: as(OWNER), commentId: "c2", parentId: "nope", body: "?" }).thenRefused("NOT_FOUND", /comment not found/);
  });
});

describe("limits", () => {
  it("a thread takes a bounded number of replies, and a story a bounded number of comments", () => {
    const replies = Array.from({ length: COMMENT_LIMITS.repliesPerThread }, (_, i) => added(`r${i}`, COMMENTER, { parentId: "c1" }));
    given([thread, ...replies])
      .when({ type: "ReplyToComment", actor: as(COMMENTER), commentId: "one-more", parentId: "c1", body: "?" })
      .thenRefused("BAD_USER_INPUT", /at most 500 replies per thread/);
    const many = Array.from({ length: COMMENT_LIMITS.perStory }, (_, i) => added(`c${i}`, COMMENTER));
    given(many)
      .when({ type: "AddComment", actor: as(COMMENTER), commentId: "one-more", anchor: storyAnchor, body: "?" })
      .thenRefused("BAD_USER_INPUT", /at most 10000 comments per story/);
  });
});

describe("edit and delete", () => {
  it("the author edits their own; nobody else, not even the owner", () => {
    given([thread]).when({ type: "EditComment", actor: as(COMMENTER), commentId: "c1", body: "Why here, of all places?" }).then([
      { type: "CommentEdited", payload: { commentId: "c1", body: "Why here, of all places?" } },
    ]);
    given([thread]).when({ type: "EditComment", actor: as(OWNER), commentId: "c1", body: "mine now" }).thenRefused("FORBIDDEN", /only its author/);
    given([thread]).when({ type: "EditComment", actor: as(EDITOR), commentId: "c1", body: "mine now" }).thenRefused("FORBIDDEN", /only its author/);
  });

  it("an edit to the same body changes nothing", () => {
    given([thread]).when({ type: "EditComment", actor: as(COMMENTER), commentId: "c1", body: "Why here?" }).then([]);
  });

  it("the author deletes their own; the owner deletes anyone's; an editor or commenter not someone else's", () => {
    const deleted = [{ type: "CommentDeleted", payload: { commentId: "c1" } } as const];
    given([thread]).when({ type: "DeleteComment", actor: as(COMMENTER), commentId: "c1" }).then([...deleted]);
    given([thread]).when({ type: "DeleteComment", actor: as(OWNER), commentId: "c1" }).then([...deleted]);
    given([thread]).when({ type: "DeleteComment", actor: as(EDITOR), commentId: "c1" }).thenRefused("FORBIDDEN", /needs the owner role; you are an editor/);
    given([added("c1", EDITOR)]).when({ type: "DeleteComment", actor: as(COMMENTER), commentId: "c1" }).thenRefused("FORBIDDEN", /needs the owner role/);
  });

  it("an author demoted to viewer can no longer edit or delete", () => {
    given([added("c1", VIEWER)]).when({ type: "EditComment", actor: as(VIEWER), commentId: "c1", body: "x" }).thenRefused("FORBIDDEN", /commenter role/);
    given([added("c1", VIEWER)]).when({ type: "DeleteComment", actor: as(VIEWER), commentId: "c1" }).thenRefused("FORBIDDEN", /commenter role/);
  });

  it("a deleted comment is a tombstone: kept, its body gone, not edited or deleted again", () => {
    const history = given([thread, { type: "CommentDeleted", payload: { commentId: "c1" } }]);
    expect(history.state.comments.get("c1")).toMatchObject({ body: "", deletedAt: new Date(2_000) });
    history.when({ type: "EditComment", actor: as(COMMENTER), commentId: "c1", body: "back" }).thenRefused("BAD_USER_INPUT", /deleted/);
    history.when({ type: "DeleteComment", actor: as(COMMENTER), commentId: "c1" }).thenRefused("BAD_USER_INPUT", /deleted already/);
  });
});

describe("resolve and reopen", () => {
  const reply = added("c2", COMMENTER, { parentId: "c1" });

  it("editors and the owner resolve a thread; resolving a reply resolves its thread", () => {
    given([thread]).when({ type: "ResolveComment", actor: as(EDITOR), commentId: "c1" }).then([{ type: "CommentResolved", payload: { commentId: "c1" } }]);
    given([thread, reply]).when({ type: "ResolveComment", actor: as(OWNER), commentId: "c2" }).then([{ type: "CommentResolved", payload: { commentId: "c1" } }]);
  });

  it("a commenter or viewer may not resolve or reopen", () => {
    given([thread]).when({ type: "ResolveComment", actor: as(COMMENTER), commentId: "c1" }).thenRefused("FORBIDDEN", /needs the editor role; you are a commenter/);
    const resolved = [thread, { type: "CommentResolved", payload: { commentId: "c1" } } as const];
    given(resolved).when({ type: "ReopenComment", actor: as(VIEWER), commentId: "c1" }).thenRefused("FORBIDDEN", /needs the editor role; you are a viewer/);
  });

  it("resolving a resolved thread, or reopening an open one, changes nothing", () => {
    const resolved = [thread, { type: "CommentResolved", payload: { commentId: "c1" } } as const];
    given(resolved).when({ type: "ResolveComment", actor: as(EDITOR), commentId: "c1" }).then([]);
    given([thread]).when({ type: "ReopenComment", actor: as(EDITOR), commentId: "c1" }).then([]);
    given(resolved).when({ type: "ReopenComment", actor: as(EDITOR), commentId: "c1" }).then([{ type: "CommentReopened", payload: { commentId: "c1" } }]);
  });

  it("the fold records who resolved, and forgets it on reopening", () => {
    const resolved = given([thread, { type: "CommentResolved", payload: { commentId: "c1" } }], [COMMENTER, EDITOR]);
    expect(resolved.state.comments.get("c1")).toMatchObject({ resolvedBy: EDITOR, resolvedAt: new Date(2_000) });
    const reopened = given([thread, { type: "CommentResolved", payload: { commentId: "c1" } }, { type: "CommentReopened", payload: { commentId: "c1" } }]);
    expect(reopened.state.comments.get("c1")).toMatchObject({ resolvedBy: null, resolvedAt: null });
  });
});

describe("detached", () => {
  it("a comment whose path leads nowhere in the module's current output is detached; one on the whole module never is", () => {
    expect(isDetached({ fieldPath: "characters.0.need" }, OUTPUT)).toBe(false);
    expect(isDetached({ fieldPath: "characters.1.need" }, OUTPUT)).toBe(true);
    expect(isDetached({ fieldPath: "characters.0.need" }, null)).toBe(true);
    expect(isDetached({ fieldPath: null }, null)).toBe(false);
  });
});
