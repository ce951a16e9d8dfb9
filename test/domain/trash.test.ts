// The trash (src/domain/story.ts), as specifications through authorize, decide and evolve alone:
// deleting a story moves it to the trash, where it is a missing story to every command but the
// owner's restore, which brings it back as it was. No database, no server.
import { describe, expect, it } from "vitest";
import { StorySparkError, type ErrorCode } from "../../src/domain/errors.ts";
import { authorize } from "../../src/domain/membership.ts";
import { MODULES } from "../../src/domain/catalogue.ts";
import { EVENT_SCHEMA_VERSION, decide, evolve, initialState, type StoryCommand, type StoryEventData, type StoryState } from "../../src/domain/story.ts";

const OWNER = "owner-1";
const EDITOR = "editor-1";
const STRANGER = "stranger-1";
const T0 = Date.UTC(2026, 0, 1);

const created: StoryEventData = {
  type: "StoryCreated",
  payload: {
    ownerId: OWNER,
    title: "Kept",
    logline: null,
    genre: null,
    version: { id: "version-1", number: 1 },
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, `module-${m.snapshotKey}`])) as never,
  },
};
const editorJoined: StoryEventData[] = [
  {
    type: "CollaboratorInvited",
    payload: { invitationId: "i1", email: "ed@example.com", role: "editor", tokenHash: "h", expiresAt: new Date(T0 + 1e9).toISOString(), replaces: null },
  },
  { type: "InvitationAccepted", payload: { invitationId: "i1", userId: EDITOR, role: "editor" } },
];
const written: StoryEventData = {
  type: "ModuleWritten",
  payload: { module: "IDEA_SPARK", inputText: "a spark", output: { logline: "one" }, version: { id: "version-2", number: 2 } },
};
const trashed: StoryEventData = { type: "StoryTrashed", payload: {} };
const restored: StoryEventData = { type: "StoryRestoredFromTrash", payload: {} };

function fold(events: readonly StoryEventData[], state: StoryState = initialState("s")): StoryState {
  return events.reduce<StoryState>((story, event) => {
    const seq = story.revision + 1;
    return evolve(story, { ...event, id: `e${seq}`, storyId: "s", seq, schemaVersion: EVENT_SCHEMA_VERSION, actorId: OWNER, createdAt: new Date(T0 + seq * 1000) });
  }, state);
}

/** What the command handler does: who may, then the rules. */
function run(state: StoryState, actor: string, command: StoryCommand): StoryEventData[] {
  authorize(state, actor, command.type);
  return decide(command, state);
}

function refusal(action: () => unknown): { code: ErrorCode; message: string } {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(StorySparkError);
    return { code: (error as StorySparkError).code, message: (error as StorySparkError).message };
  }
  throw new Error("the command was accepted");
}

const story = [created, ...editorJoined, written];

describe("moving a story to the trash", () => {
  it("given a story, when its owner deletes it, then StoryTrashed, and the story is in the trash since that event", () => {
    const before = fold(story);
    expect(run(before, OWNER, { type: "TrashStory" })).toEqual([trashed]);
    const after = fold([trashed], before);
    expect(after.trashedAt).toEqual(new Date(T0 + after.revision * 1000));
  });

  it("changes nothing in the story but where it is: versions, members, undo stacks stay", () => {
    const before = fold(story);
    const after = fold([trashed], before);
    expect({ ...after, trashedAt: null, revision: before.revision, updatedAt: before.updatedAt }).toEqual(before);
  });

  it("only the owner: an editor is FORBIDDEN, a stranger NOT_FOUND", () => {
    const state = fold(story);
    expect(refusal(() => run(state, EDITOR, { type: "TrashStory" }))).toMatchObject({ code: "FORBIDDEN" });
    expect(refusal(() => run(state, STRANGER, { type: "TrashStory" }))).toMatchObject({ code: "NOT_FOUND" });
  });

  it("a story in the trash is a missing story to every command, the owner's and a member's alike, deleting it again too", () => {
    const state = fold([...story, trashed]);
    const commands: StoryCommand[] = [
      { type: "TrashStory" },
      { type: "ChangeStoryDetails", details: { title: "Renamed" } },
      { type: "WriteModule", module: "IDEA_SPARK", output: { logline: "two" }, versionId: "v3" },
      { type: "ClearModule", module: "IDEA_SPARK", versionId: "v3" },
      { type: "Undo", actorId: OWNER, versionId: "v3" },
      { type: "RestoreVersion", number: 1, versionId: "v3" },
      { type: "LabelVersion", number: 1, label: "x" },
      { type: "RemoveCollaborator", actorId: OWNER, userId: EDITOR },
      { type: "LeaveStory", actorId: EDITOR },
    ];
    for (const command of commands) {
      for (const actor of [OWNER, EDITOR]) {
        expect(refusal(() => run(state, actor, command)), `${actor} ${command.type}`).toMatchObject({ code: "NOT_FOUND" });
      }
    }
  });

  it("an invitation to a story in the trash can't be accepted: the story is missing", () => {
    const state = fold([created, editorJoined[0]!, trashed]);
    const accept: StoryCommand = { type: "AcceptInvitation", actorId: EDITOR, actorEmail: "ed@example.com", tokenHash: "h", now: new Date(T0) };
    expect(refusal(() => run(state, EDITOR, accept))).toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("restoring a story from the trash", () => {
  it("given a story in the trash, when its owner restores it, then StoryRestoredFromTrash, and it is as it was", () => {
    const before = fold(story);
    const inTrash = fold([trashed], before);
    expect(run(inTrash, OWNER, { type: "RestoreFromTrash" })).toEqual([restored]);
    const after = fold([restored], inTrash);
    expect(after.trashedAt).toBeNull();
    expect({ ...after, revision: before.revision, updatedAt: before.updatedAt }).toEqual(before);
    // and the commands work again
    expect(run(after, EDITOR, { type: "ChangeStoryDetails", details: { title: "Back" } })).toEqual([{ type: "StoryDetailsChanged", payload: { title: "Back" } }]);
  });

  it("a story not in the trash is refused, naming the id", () => {
    expect(refusal(() => run(fold(story), OWNER, { type: "RestoreFromTrash" }))).toEqual({ code: "BAD_USER_INPUT", message: "id: the story is not in the trash" });
  });

  it("only the owner: an editor is FORBIDDEN, a stranger NOT_FOUND", () => {
    const state = fold([...story, trashed]);
    expect(refusal(() => run(state, EDITOR, { type: "RestoreFromTrash" }))).toMatchObject({ code: "FORBIDDEN" });
    expect(refusal(() => run(state, STRANGER, { type: "RestoreFromTrash" }))).toMatchObject({ code: "NOT_FOUND" });
  });

  it("purging (no event: the log goes) is the owner's: an editor FORBIDDEN, a stranger NOT_FOUND, in the trash or not", () => {
    for (const state of [fold(story), fold([...story, trashed])]) {
      expect(() => authorize(state, OWNER, "PurgeStory")).not.toThrow();
      expect(refusal(() => authorize(state, EDITOR, "PurgeStory"))).toMatchObject({ code: "FORBIDDEN" });
      expect(refusal(() => authorize(state, STRANGER, "PurgeStory"))).toMatchObject({ code: "NOT_FOUND" });
    }
  });

  it("a missing story can't be restored", () => {
    expect(refusal(() => run(initialState("s"), OWNER, { type: "RestoreFromTrash" }))).toMatchObject({ code: "NOT_FOUND" });
  });
});
