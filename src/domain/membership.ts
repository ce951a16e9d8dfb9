// A story's members and invitations: the part of the story's rules that says who may do what.
// story.ts's decide and evolve hand membership commands and events to this file, so the story
// keeps one fold; membership events live in the story's own stream (they bump its revision and
// make no version). Pure: the command carries what the handler knows (who acts, when, the
// invitee's account), and the decider never reads a clock or the database.
import { StorySparkError, badInput, notFound } from "./errors.ts";
import { isRole, requireRole, type Role } from "./roles.ts";

/** How long an invitation's token can be accepted. */
export const INVITATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Emails are compared as accounts store them (normalised by the caller); this bounds their length. */
const EMAIL_MAX = 320;

/** A role one can be invited to, or changed to: ownership moves only by transfer. */
export type MemberRole = Exclude<Role, "owner">;

export type MemberRecord = {
  /** who invited the member; null for the story's creator */
  readonly invitedBy: string | null;
  /** when the member joined */
  readonly since: Date;
  /** when the member's role last changed */
  readonly updatedAt: Date;
};

export type InvitationStatus = "pending" | "accepted" | "declined" | "revoked";

export type Invitation = {
  readonly id: string;
  /** normalised, as accounts store emails */
  readonly email: string;
  readonly role: MemberRole;
  /** sha-256 of the token, hex: the token itself is never stored */
  readonly tokenHash: string;
  readonly invitedBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly status: InvitationStatus;
  /** when it was accepted, declined or revoked (a new invitation to the same email revokes the pending one) */
  readonly respondedAt: Date | null;
  /** the user who accepted it */
  readonly acceptedBy: string | null;
};

/** The membership part of a story's state. */
export type MembershipState = {
  /** every member with their role, the owner included */
  readonly members: ReadonlyMap<string, Role>;
  /** when each member joined and who invited them, by user id */
  readonly memberRecords: ReadonlyMap<string, MemberRecord>;
  /** every invitation the story has made, by id: pending ones and what became of the others */
  readonly invitations: ReadonlyMap<string, Invitation>;
};

export const NO_MEMBERS: MembershipState = { members: new Map(), memberRecords: new Map(), invitations: new Map() };

// ---------------------------------------------------------------- events

export type MembershipEventData =
  | {
      type: "CollaboratorInvited";
      payload: { invitationId: string; email: string; role: MemberRole; tokenHash: string; expiresAt: string; replaces: string | null };
    }
  | { type: "InvitationAccepted"; payload: { invitationId: string; userId: string; role: MemberRole } }
  | { type: "InvitationDeclined"; payload: { invitationId: string } }
  | { type: "InvitationRevoked"; payload: { invitationId: string } }
  | { type: "CollaboratorRoleChanged"; payload: { userId: string; from: MemberRole; to: MemberRole } }
  | { type: "CollaboratorRemoved"; payload: { userId: string; role: MemberRole; left: boolean } }
  | { type: "OwnershipTransferred"; payload: { from: string; to: string } };

export const MEMBERSHIP_EVENT_TYPES = [
  "CollaboratorInvited",
  "InvitationAccepted",
  "InvitationDeclined",
  "InvitationRevoked",
  "CollaboratorRoleChanged",
  "CollaboratorRemoved",
  "OwnershipTransferred",
] as const satisfies readonly MembershipEventData["type"][];

export function isMembershipEvent(type: string): type is MembershipEventData["type"] {
  return (MEMBERSHIP_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * A membership event's payload as readers outside the owner's invitation list see it: never the
 * token's hash, and never the invitee's email (members see each other's usernames, not emails).
 */
export function publicPayload(type: string, payload: object): object {
  if (type !== "CollaboratorInvited") return payload;
  const { tokenHash: _hash, email: _email, ...rest } = payload as Record<string, unknown>;
  return rest;
}

// ---------------------------------------------------------------- commands

/** What the handler knows about the invitee when the invitation is made. */
export type MembershipCommand =
  | {
      type: "InviteCollaborator";
      actorId: string;
      invitationId: string;
      email: string;
      role: string;
      tokenHash: string;
      expiresAt: Date;
      /** the account with this email, if there is one: a member is not invited again */
      inviteeUserId: string | null;
    }
  | { type: "AcceptInvitation"; actorId: string; actorEmail: string | null; tokenHash: string; now: Date }
  | { type: "DeclineInvitation"; actorId: string; actorEmail: string | null; tokenHash: string; now: Date }
  | { type: "RevokeInvitation"; actorId: string; invitationId: string }
  | { type: "ChangeRole"; actorId: string; userId: string; role: string }
  | { type: "RemoveCollaborator"; actorId: string; userId: string }
  | { type: "LeaveStory"; actorId: string }
  | { type: "TransferOwnership"; actorId: string; userId: string };

export const MEMBERSHIP_COMMAND_TYPES = [
  "InviteCollaborator",
  "AcceptInvitation",
  "DeclineInvitation",
  "RevokeInvitation",
  "ChangeRole",
  "RemoveCollaborator",
  "LeaveStory",
  "TransferOwnership",
] as const satisfies readonly MembershipCommand["type"][];

export function isMembershipCommand(command: { type: string }): command is MembershipCommand {
  return (MEMBERSHIP_COMMAND_TYPES as readonly string[]).includes(command.type);
}

/**
 * The least role each command needs, and what it is called in a FORBIDDEN message. null: no
 * membership needed (creating a story; answering an invitation, whose token says who may).
 */
export const LEAST_ROLE = {
  CreateStory: null,
  ChangeStoryDetails: ["editor", "changing the story's details"],
  WriteModule: ["editor", "writing a module"],
  ClearModule: ["editor", "clearing a module"],
  Undo: ["editor", "undo"],
  Redo: ["editor", "redo"],
  RestoreVersion: ["editor", "restoring a version"],
  LabelVersion: ["editor", "labeling a version"],
  // the creator's role in the parent is checked by the handler: the branch is a new story
  CreateBranch: null,
  MergeBranch: ["editor", "merging a branch"],
  TrashStory: ["owner", "deleting the story"],
  RestoreFromTrash: ["owner", "restoring the story from the trash"],
  // not a command of the story's: purging erases its log (src/commands/trashCommands.ts)
  PurgeStory: ["owner", "purging the story"],
  ImportLog: null,
  InviteCollaborator: ["owner", "inviting collaborators"],
  AcceptInvitation: null,
  DeclineInvitation: null,
  RevokeInvitation: ["owner", "revoking an invitation"],
  ChangeRole: ["owner", "changing a member's role"],
  RemoveCollaborator: ["owner", "removing a member"],
  LeaveStory: ["viewer", "leaving the story"],
  TransferOwnership: ["owner", "transferring ownership"],
} as const satisfies Record<string, readonly [Role, string] | null>;

/**
 * Whether the actor may run a command of this type on the story: a stranger gets what a missing
 * story gets (NOT_FOUND), a member whose role is too low FORBIDDEN naming the role needed.
 */
export function authorize(
  state: MembershipState & { exists: boolean; trashedAt?: Date | null },
  actorId: string,
  commandType: keyof typeof LEAST_ROLE,
): void {
  const needed = LEAST_ROLE[commandType];
  if (needed === null) return;
  // in the trash, the story's members are nobody's but for bringing it back
  const visible = state.exists && (state.trashedAt == null || commandType === "RestoreFromTrash" || commandType === "PurgeStory");
  const held = visible ? state.members.get(actorId) : undefined;
  if (held === undefined) throw notFound("story");
  requireRole(held, needed[0], needed[1]);
}

export function decideMembership(command: MembershipCommand, state: MembershipState & { ownerId: string }): MembershipEventData[] {
  switch (command.type) {
    case "InviteCollaborator": {
      const role = checkMemberRole(command.role, "nobody is invited as owner: invite as editor, then transfer ownership");
      const email = command.email;
      if (email.length === 0 || email.length > EMAIL_MAX || !email.includes("@")) throw badInput("email", "must be an email address");
      if (command.inviteeUserId !== null && state.members.has(command.inviteeUserId)) {
        throw badInput("email", "is already a member of the story: change their role instead");
      }
      // a new invitation to an email with one pending replaces it: the last token sent is the one that works
      const pending = [...state.invitations.values()].find((i) => i.status === "pending" && i.email === email);
      return [
        {
          type: "CollaboratorInvited",
          payload: {
            invitationId: command.invitationId,
            email,
            role,
            tokenHash: command.tokenHash,
            expiresAt: command.expiresAt.toISOString(),
            replaces: pending?.id ?? null,
          },
        },
      ];
    }
    case "AcceptInvitation": {
      const invitation = answerable(state, command);
      if (state.members.has(command.actorId)) throw badInput("token", "you are already a member of this story");
      return [{ type: "InvitationAccepted", payload: { invitationId: invitation.id, userId: command.actorId, role: invitation.role } }];
    }
    case "DeclineInvitation": {
      const invitation = answerable(state, command);
      return [{ type: "InvitationDeclined", payload: { invitationId: invitation.id } }];
    }
    case "RevokeInvitation": {
      const invitation = state.invitations.get(command.invitationId);
      if (!invitation) throw notFound("invitation");
      if (invitation.status !== "pending") throw badInput("invitationId", `the invitation was ${invitation.status} already`);
      return [{ type: "InvitationRevoked", payload: { invitationId: invitation.id } }];
    }
    case "ChangeRole": {
      const to = checkMemberRole(command.role, "ownership moves only by transferOwnership");
      const from = existingMember(state, command.userId, "the owner's role changes only by transferOwnership");
      if (from === to) throw badInput("role", `is the member's role already`);
      return [{ type: "CollaboratorRoleChanged", payload: { userId: command.userId, from, to } }];
    }
    case "RemoveCollaborator": {
      const role = existingMember(state, command.userId, "the owner cannot be removed: transfer ownership first");
      return [{ type: "CollaboratorRemoved", payload: { userId: command.userId, role, left: false } }];
    }
    case "LeaveStory": {
      const role = state.members.get(command.actorId);
      if (role === undefined) throw notFound("story");
      if (role === "owner") throw badInput("storyId", "the owner cannot leave the story: transfer ownership to a member first");
      return [{ type: "CollaboratorRemoved", payload: { userId: command.actorId, role, left: true } }];
    }
    case "TransferOwnership": {
      if (command.userId === state.ownerId) throw badInput("userId", "is the owner already");
      if (!state.members.has(command.userId)) throw badInput("userId", "is not a member of the story: invite them first");
      return [{ type: "OwnershipTransferred", payload: { from: state.ownerId, to: command.userId } }];
    }
    default:
      return assertNever(command);
  }
}

function checkMemberRole(role: string, ownerReason: string): MemberRole {
  if (!isRole(role)) throw badInput("role", "must be EDITOR, COMMENTER or VIEWER");
  if (role === "owner") throw badInput("role", ownerReason);
  return role;
}

function existingMember(state: MembershipState, userId: string, ownerReason: string): MemberRole {
  const role = state.members.get(userId);
  if (role === undefined) throw badInput("userId", "is not a member of the story");
  if (role === "owner") throw badInput("userId", ownerReason);
  return role;
}

/**
 * The invitation a token answers, if it may still be answered by this user. Every refusal is
 * BAD_USER_INPUT on `token`, with the reason: the story is never named to someone it wasn't sent to.
 */
function answerable(state: MembershipState, command: { actorEmail: string | null; tokenHash: string; now: Date }): Invitation {
  const invitation = [...state.invitations.values()].find((i) => i.tokenHash === command.tokenHash);
  if (!invitation) throw invalidToken("UNKNOWN", "this invitation does not exist");
  if (invitation.status === "accepted") throw invalidToken("USED", "this invitation was accepted already: a token works once");
  if (invitation.status === "declined") throw invalidToken("DECLINED", "this invitation was declined");
  if (invitation.status === "revoked") throw invalidToken("REVOKED", "this invitation was revoked, or replaced by a newer one");
  if (invitation.expiresAt.getTime() <= command.now.getTime()) throw invalidToken("EXPIRED", "this invitation has expired: ask for a new one");
  // the token is sent to an email: only the account with that email may answer it, so a
  // forwarded or leaked token lets nobody else in
  if (command.actorEmail !== invitation.email) throw invalidToken("OTHER_ACCOUNT", "this invitation was sent to another email address than your account's");
  return invitation;
}

export function invalidToken(reason: string, message: string): StorySparkError {
  return new StorySparkError("BAD_USER_INPUT", `token: ${message}`, { field: "token", reason });
}

// ---------------------------------------------------------------- evolve

export function evolveMembership<S extends MembershipState & { ownerId: string }>(
  state: S,
  event: MembershipEventData & { actorId: string | null; createdAt: Date },
): S {
  const at = event.createdAt;
  switch (event.type) {
    case "CollaboratorInvited": {
      const p = event.payload;
      const invitations = new Map(state.invitations);
      if (p.replaces !== null) respond(invitations, p.replaces, { status: "revoked", respondedAt: at });
      invitations.set(p.invitationId, {
        id: p.invitationId,
        email: p.email,
        role: p.role,
        tokenHash: p.tokenHash,
        invitedBy: event.actorId ?? "",
        createdAt: at,
        expiresAt: new Date(p.expiresAt),
        status: "pending",
        respondedAt: null,
        acceptedBy: null,
      });
      return { ...state, invitations };
    }
    case "InvitationAccepted": {
      const p = event.payload;
      const invitations = new Map(state.invitations);
      const invitation = respond(invitations, p.invitationId, { status: "accepted", respondedAt: at, acceptedBy: p.userId });
      return {
        ...state,
        invitations,
        members: new Map(state.members).set(p.userId, p.role),
        memberRecords: new Map(state.memberRecords).set(p.userId, { invitedBy: invitation.invitedBy, since: at, updatedAt: at }),
      };
    }
    case "InvitationDeclined":
    case "InvitationRevoked": {
      const invitations = new Map(state.invitations);
      respond(invitations, event.payload.invitationId, { status: event.type === "InvitationDeclined" ? "declined" : "revoked", respondedAt: at });
      return { ...state, invitations };
    }
    case "CollaboratorRoleChanged": {
      const p = event.payload;
      return { ...state, members: new Map(state.members).set(p.userId, p.to), memberRecords: touched(state.memberRecords, [p.userId], at) };
    }
    case "CollaboratorRemoved": {
      const members = new Map(state.members);
      const memberRecords = new Map(state.memberRecords);
      members.delete(event.payload.userId);
      memberRecords.delete(event.payload.userId);
      return { ...state, members, memberRecords };
    }
    case "OwnershipTransferred": {
      const p = event.payload;
      // the old owner stays, as an editor: giving the story away is not leaving it
      const members = new Map(state.members).set(p.from, "editor").set(p.to, "owner");
      return { ...state, ownerId: p.to, members, memberRecords: touched(state.memberRecords, [p.from, p.to], at) };
    }
    default:
      return assertNever(event);
  }
}

/** The creator is the first member, and its owner. */
export function withCreator<S extends MembershipState>(state: S, ownerId: string, at: Date): S {
  return {
    ...state,
    members: new Map([[ownerId, "owner"]]),
    memberRecords: new Map([[ownerId, { invitedBy: null, since: at, updatedAt: at }]]),
    invitations: new Map(),
  };
}

function respond(invitations: Map<string, Invitation>, id: string, answer: Partial<Invitation>): Invitation {
  const invitation = invitations.get(id);
  if (!invitation) throw new Error(`invitation ${id} is not in the state`);
  const answered = { ...invitation, ...answer };
  invitations.set(id, answered);
  return answered;
}

function touched(records: ReadonlyMap<string, MemberRecord>, userIds: readonly string[], at: Date): ReadonlyMap<string, MemberRecord> {
  const next = new Map(records);
  for (const id of userIds) {
    const record = next.get(id);
    if (record) next.set(id, { ...record, updatedAt: at });
  }
  return next;
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
