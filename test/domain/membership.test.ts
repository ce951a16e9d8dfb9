// Who may do what in a story (src/domain/membership.ts), as specifications through decide and
// evolve alone: given these events, when this member runs this command, then these events or this
// refusal. No database, no server.
import { describe, expect, it } from "vitest";
import { StorySparkError, type ErrorCode } from "../../src/domain/errors.ts";
import { authorize, LEAST_ROLE, type MembershipCommand } from "../../src/domain/membership.ts";
import { EVENT_SCHEMA_VERSION, decide, evolve, initialState, type StoryEventData, type StoryState } from "../../src/domain/story.ts";
import { MODULES } from "../../src/domain/catalogue.ts";

const OWNER = "owner-1";
const BOB = "bob-1";
const CAROL = "carol-1";
const T0 = Date.UTC(2026, 0, 1);
const DAY = 24 * 60 * 60 * 1000;

const created: StoryEventData = {
  type: "StoryCreated",
  payload: {
    ownerId: OWNER,
    title: "Shared",
    logline: null,
    genre: null,
    version: { id: "version-1", number: 1 },
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, `module-${m.snapshotKey}`])) as never,
  },
};
const invited = (id: string, email: string, role: "editor" | "commenter" | "viewer", replaces: string | null = null): StoryEventData => ({
  type: "CollaboratorInvited",
  payload: { invitationId: id, email, role, tokenHash: `hash-${id}`, expiresAt: new Date(T0 + 7 * DAY).toISOString(), replaces },
});
const accepted = (id: string, userId: string, role: "editor" | "commenter" | "viewer"): StoryEventData => ({
  type: "InvitationAccepted",
  payload: { invitationId: id, userId, role },
});

/** Events with who appended them: [event, actor]. */
type Step = StoryEventData | [StoryEventData, string];

function fold(steps: readonly Step[]): StoryState {
  return steps.reduce<StoryState>((state, step) => {
    const [event, actor] = Array.isArray(step) ? step : [step, OWNER];
    const seq = state.revision + 1;
    return evolve(state, { ...event, id: `e${seq}`, storyId: "s", seq, schemaVersion: EVENT_SCHEMA_VERSION, actorId: actor, createdAt: new Date(T0 + seq * 1000) });
  }, initialState("s"));
}

/** Bob, an editor by invitation. */
const withBob: Step[] = [created, invited("i1", "bob@example.com", "editor"), [accepted("i1", BOB, "editor"), BOB]];

function given(steps: readonly Step[]) {
  const state = fold(steps);
  return {
    state,
    when(command: MembershipCommand) {
      const run = () => {
        authorize(state, command.actorId, command.type);
        return decide(command, state);
      };
      return {
        then: (expected: StoryEventData[]) => expect(run()).toEqual(expected),
        thenRefused(code: ErrorCode, message: RegExp, extensions: Record<string, unknown> = {}) {
          let refusal: unknown;
          try {
            run();
          } catch (error) {
            refusal = error;
          }
          expect(refusal, "the command was accepted").toBeInstanceOf(StorySparkError);
          expect((refusal as StorySparkError).code).toBe(code);
          expect((refusal as StorySparkError).message).toMatch(message);
          expect((refusal as StorySparkError).extensions).toMatchObject(extensions);
        },
      };
    },
  };
}

const invite = (actorId: string, email: string, role: string, inviteeUserId: string | null = null): MembershipCommand => ({
  type: "InviteCollaborator",
  actorId,
  invitationId: "i9",
  email,
  role,
  tokenHash: "hash-i9",
  expiresAt: new Date(T0 + 7 * DAY),
  inviteeUserId,
});
const accept = (actorId: string, actorEmail: string, tokenHash: string, now = new Date(T0 + DAY)): MembershipCommand => ({
  type: "AcceptInvitation",
  actorId,
  actorEmail,
  tokenHash,
  now,
});

describe("creating a story", () => {
  it("makes its creator its one member, as owner", () => {
    expect([...fold([created]).members]).toEqual([[OWNER, "owner"]]);
  });
});

describe("inviting", () => {
  it("is the owner's: an invitation with the token's hash, its role and when it expires", () => {
    given([created]).when(invite(OWNER, "bob@example.com", "editor")).then([invited("i9", "bob@example.com", "editor")].map((e) => ({ ...e, payload: { ...e.payload, invitationId: "i9", tokenHash: "hash-i9" } })) as StoryEventData[]);
  });

  it("as owner is refused: ownership moves only by transfer", () => {
    given([created]).when(invite(OWNER, "bob@example.com", "owner")).thenRefused("BAD_USER_INPUT", /^role: nobody is invited as owner/, { field: "role" });
  });

  it("a member again is refused", () => {
    given(withBob).when(invite(OWNER, "bob@example.com", "viewer", BOB)).thenRefused("BAD_USER_INPUT", /^email: is already a member/, { field: "email" });
  });

  it("an email with a pending invitation replaces it: the older token is revoked", () => {
    const steps: Step[] = [created, invited("i1", "carol@example.com", "viewer")];
    const event = decide(invite(OWNER, "carol@example.com", "editor"), fold(steps))[0]!;
    expect(event).toMatchObject({ type: "CollaboratorInvited", payload: { replaces: "i1", role: "editor" } });
    const after = fold([...steps, event]);
    expect(after.invitations.get("i1")!.status).toBe("revoked");
    expect(after.invitations.get("i9")!.status).toBe("pending");
  });

  it("by an editor is FORBIDDEN, naming the owner role; by a stranger NOT_FOUND", () => {
    given(withBob).when(invite(BOB, "carol@example.com", "viewer")).thenRefused("FORBIDDEN", /needs the owner role; you are an editor/, {
      requiredRole: "OWNER",
      role: "EDITOR",
    });
    given(withBob).when(invite(CAROL, "carol@example.com", "viewer")).thenRefused("NOT_FOUND", /story not found/);
  });
});

describe("answering an invitation", () => {
  const pending: Step[] = [created, invited("i1", "bob@example.com", "commenter")];

  it("accepted by the account of its email makes that user a member with its role", () => {
    given(pending).when(accept(BOB, "bob@example.com", "hash-i1")).then([accepted("i1", BOB, "commenter")]);
    expect(fold([...pending, [accepted("i1", BOB, "commenter"), BOB]]).members.get(BOB)).toBe("commenter");
  });

  it("is refused on `token` once used, declined, revoked or expired, or for another account, with the reason", () => {
    const cases: [Step[], MembershipCommand, string][] = [
      [[...pending, [accepted("i1", BOB, "commenter"), BOB]], accept(CAROL, "bob@example.com", "hash-i1"), "USED"],
      [[...pending, [{ type: "InvitationDeclined", payload: { invitationId: "i1" } }, BOB]], accept(BOB, "bob@example.com", "hash-i1"), "DECLINED"],
      [[...pending, { type: "InvitationRevoked", payload: { invitationId: "i1" } }], accept(BOB, "bob@example.com", "hash-i1"), "REVOKED"],
      [pending, accept(BOB, "bob@example.com", "hash-i1", new Date(T0 + 8 * DAY)), "EXPIRED"],
      [pending, accept(CAROL, "carol@example.com", "hash-i1"), "OTHER_ACCOUNT"],
      [pending, accept(BOB, "bob@example.com", "hash-nothing"), "UNKNOWN"],
    ];
    for (const [steps, command, reason] of cases) given(steps).when(command).thenRefused("BAD_USER_INPUT", /^token: /, { field: "token", reason });
  });

  it("declined leaves the invitee out", () => {
    given(pending)
      .when({ type: "DeclineInvitation", actorId: BOB, actorEmail: "bob@example.com", tokenHash: "hash-i1", now: new Date(T0 + DAY) })
      .then([{ type: "InvitationDeclined", payload: { invitationId: "i1" } }]);
  });
});

describe("managing members", () => {
  it("the owner changes a role; never to or from owner", () => {
    given(withBob).when({ type: "ChangeRole", actorId: OWNER, userId: BOB, role: "viewer" }).then([
      { type: "CollaboratorRoleChanged", payload: { userId: BOB, from: "editor", to: "viewer" } },
    ]);
    given(withBob).when({ type: "ChangeRole", actorId: OWNER, userId: BOB, role: "owner" }).thenRefused("BAD_USER_INPUT", /^role: ownership moves only by transferOwnership/);
    given(withBob).when({ type: "ChangeRole", actorId: OWNER, userId: OWNER, role: "editor" }).thenRefused("BAD_USER_INPUT", /^userId: the owner's role/);
    given(withBob).when({ type: "ChangeRole", actorId: BOB, userId: BOB, role: "viewer" }).thenRefused("FORBIDDEN", /changing a member's role needs the owner role/);
  });

  it("the owner removes a member, never themselves; a member leaves, the owner cannot", () => {
    given(withBob).when({ type: "RemoveCollaborator", actorId: OWNER, userId: BOB }).then([
      { type: "CollaboratorRemoved", payload: { userId: BOB, role: "editor", left: false } },
    ]);
    given(withBob).when({ type: "RemoveCollaborator", actorId: OWNER, userId: OWNER }).thenRefused("BAD_USER_INPUT", /the owner cannot be removed: transfer ownership first/);
    given(withBob).when({ type: "LeaveStory", actorId: BOB }).then([{ type: "CollaboratorRemoved", payload: { userId: BOB, role: "editor", left: true } }]);
    given(withBob).when({ type: "LeaveStory", actorId: OWNER }).thenRefused("BAD_USER_INPUT", /the owner cannot leave the story: transfer ownership/);
    const removed = fold([...withBob, { type: "CollaboratorRemoved", payload: { userId: BOB, role: "editor", left: false } }]);
    expect(removed.members.has(BOB)).toBe(false);
  });

  it("ownership goes to a member only; the old owner stays, as an editor", () => {
    given(withBob).when({ type: "TransferOwnership", actorId: OWNER, userId: CAROL }).thenRefused("BAD_USER_INPUT", /^userId: is not a member/);
    given(withBob).when({ type: "TransferOwnership", actorId: OWNER, userId: BOB }).then([{ type: "OwnershipTransferred", payload: { from: OWNER, to: BOB } }]);
    const after = fold([...withBob, { type: "OwnershipTransferred", payload: { from: OWNER, to: BOB } }]);
    expect(after.ownerId).toBe(BOB);
    expect(Object.fromEntries(after.members)).toEqual({ [OWNER]: "editor", [BOB]: "owner" });
  });
});

describe("content commands", () => {
  it("need an editor: a viewer is FORBIDDEN, a stranger NOT_FOUND", () => {
    const withViewer: Step[] = [created, invited("i1", "carol@example.com", "viewer"), [accepted("i1", CAROL, "viewer"), CAROL]];
    const state = fold(withViewer);
    expect(() => authorize(state, CAROL, "WriteModule")).toThrow(/writing a module needs the editor role; you are a viewer/);
    expect(() => authorize(state, BOB, "WriteModule")).toThrow(/story not found/);
    expect(() => authorize(fold(withBob), BOB, "WriteModule")).not.toThrow();
  });

  it("each command type names its least role: content needs an editor, managing members the owner", () => {
    const least = Object.fromEntries(Object.entries(LEAST_ROLE).map(([type, needed]) => [type, needed?.[0] ?? null]));
    expect(least).toEqual({
      CreateStory: null,
      ImportLog: null,
      AcceptInvitation: null,
      DeclineInvitation: null,
      ChangeStoryDetails: "editor",
      WriteModule: "editor",
      ClearModule: "editor",
      Undo: "editor",
      Redo: "editor",
      RestoreVersion: "editor",
      LabelVersion: "editor",
      // a branch is a new story: the handler checks the editor role in the story branched
      CreateBranch: null,
      MergeBranch: "editor",
      LeaveStory: "viewer",
      InviteCollaborator: "owner",
      RevokeInvitation: "owner",
      ChangeRole: "owner",
      RemoveCollaborator: "owner",
      TransferOwnership: "owner",
      TrashStory: "owner",
      RestoreFromTrash: "owner",
      PurgeStory: "owner",
    });
  });
});
