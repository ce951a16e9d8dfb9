// A story's members and invitations: who may do what (src/domain/membership.ts), and the
// mutations that invite, answer, change, remove and transfer. Membership changes are events of
// the story's own log, run through the same command service as any change.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { builder } from "../builder.ts";
import { clearLoaders, orNotFound, outsideTrash } from "../loaders.ts";
import { encodeGlobalId, idOf } from "../globalIds.ts";
import type { GraphQLContext, SignedInContext } from "../context.ts";
import type { StoryInvitation, User } from "../../generated/prisma/client.ts";
import { ROLES, isRole, requireRole, type Role } from "../../domain/roles.ts";
import { INVITATION_TTL_MS, invalidToken, type InvitationStatus } from "../../domain/membership.ts";
import { badInput } from "../../domain/errors.ts";
import { normalizeEmail } from "../../auth/accounts.ts";
import { runStoryCommand } from "../../commands/storyCommands.ts";
import { changeStory, COMMAND_TERMS, StoryChangeInterface, StoryChangePayload, StoryType, type StoryChange } from "./story.ts";
import { UserType } from "./user.ts";

const ROLE_DESCRIPTIONS: Record<Role, string> = {
  owner: "Everything: the story's content, deleting it, transferring it, and managing its members. Exactly one per story.",
  editor: "Writes the story: modules, details, generate, undo, redo, restore, labels, metadata.",
  commenter: "Reads the story and comments on it.",
  viewer: "Reads the story: its modules, versions, history, exports and live updates.",
};

export const StoryRoleEnum = builder.enumType("StoryRole", {
  description: "A member's role in a story: each may do what the roles below it may.",
  values: Object.fromEntries(ROLES.map((role) => [role.toUpperCase(), { value: role, description: ROLE_DESCRIPTIONS[role] }])) as Record<
    Uppercase<Role>,
    { value: Role; description: string }
  >,
});

type InvitationState = InvitationStatus | "expired";

const InvitationStatusEnum = builder.enumType("InvitationStatus", {
  description: "Where an invitation stands.",
  values: {
    PENDING: { value: "pending", description: "Sent, and can still be accepted or declined." },
    EXPIRED: { value: "expired", description: "Never answered, and past its expiresAt." },
    ACCEPTED: { value: "accepted", description: "Accepted: its invitee is a member (or was)." },
    DECLINED: { value: "declined", description: "Declined by its invitee." },
    REVOKED: { value: "revoked", description: "Revoked by the owner, or replaced by a newer invitation to the same email." },
  } satisfies Record<string, { value: InvitationState; description: string }>,
});

/** A member as Story.collaborators lists them. */
type Member = { storyId: string; user: User; role: Role; since: Date; invitedBy: string | null };

const CollaboratorType = builder.objectRef<Member>("Collaborator").implement({
  description: "A member of a story, the owner included.",
  fields: (t) => ({
    user: t.field({ type: UserType, description: "Who: their username (their email is shown to themselves only).", resolve: (m) => m.user }),
    role: t.field({ type: StoryRoleEnum, description: "What they may do in the story.", resolve: (m) => m.role }),
    since: t.expose("since", { type: "DateTime", description: "When they joined the story (for its creator, when it was made)." }),
    invitedBy: t.field({
      type: UserType,
      nullable: true,
      description: "Who invited them; null for the story's creator, or when that user no longer shares the story.",
      resolve: (m, _args, context) => (m.invitedBy ? context.loaders.user.load(m.invitedBy) : null),
    }),
  }),
});

const StoryInvitationType = builder.objectRef<StoryInvitation>("StoryInvitation").implement({
  description: "An invitation to join a story, as its owner sees it. The token is never shown again after inviteCollaborator.",
  fields: (t) => ({
    id: t.id({ description: "The invitation's global id: revokeInvitation takes it.", resolve: (i) => encodeGlobalId("StoryInvitation", i.id) }),
    email: t.exposeString("email", { description: "Whom it was sent to." }),
    role: t.field({ type: StoryRoleEnum, description: "The role accepting it gives.", resolve: (i) => (isRole(i.role) ? i.role : "viewer") }),
    status: t.field({ type: InvitationStatusEnum, description: "Where it stands.", resolve: (i) => invitationState(i) }),
    invitedBy: t.field({
      type: UserType,
      nullable: true,
      description: "Who sent it; null when that user no longer shares the story.",
      resolve: (i, _args, context) => context.loaders.user.load(i.invitedBy),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was sent." }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", description: "Until when it can be accepted." }),
    respondedAt: t.expose("respondedAt", { type: "DateTime", nullable: true, description: "When it was accepted, declined or revoked." }),
  }),
});

function invitationState(invitation: Pick<StoryInvitation, "status" | "expiresAt">): InvitationState {
  if (invitation.status === "pending" && invitation.expiresAt.getTime() <= Date.now()) return "expired";
  return invitation.status as InvitationStatus;
}

// ------------------------------------------------------------------ Story's fields

builder.objectFields(StoryType, (t) => ({
  viewerRole: t.field({
    type: StoryRoleEnum,
    description: "The viewer's role in the story: what they may do in it.",
    resolve: async (story, _args, context) => orNotFound(await context.loaders.storyRole.load(story.id), "story"),
  }),
  collaborators: t.field({
    type: [CollaboratorType],
    description: "The story's members, the owner first, then in the order they joined. Any member sees them.",
    resolve: async (story, _args, context) => {
      const rows = await context.reader.collaborator.findMany({ where: { storyId: outsideTrash(story).id }, include: { user: true }, orderBy: [{ createdAt: "asc" }, { userId: "asc" }] });
      for (const row of rows) context.loaders.user.prime(row.userId, row.user);
      const members = rows.flatMap((row) =>
        isRole(row.role) ? [{ storyId: row.storyId, user: row.user, role: row.role, since: row.createdAt, invitedBy: row.invitedBy }] : [],
      );
      return members.sort((a, b) => Number(b.role === "owner") - Number(a.role === "owner"));
    },
  }),
  invitations: t.field({
    type: [StoryInvitationType],
    description: "The story's invitations, newest first; only the pending ones with `pending: true`. The owner's only: FORBIDDEN for other members.",
    args: { pending: t.arg.boolean({ description: "Only those that can still be accepted. Default false." }) },
    resolve: async (story, { pending }, context) => {
      const role = orNotFound(await context.loaders.storyRole.load(story.id), "story");
      requireRole(role, "owner", "listing invitations");
      const rows = await context.reader.storyInvitation.findMany({ where: { storyId: story.id }, orderBy: [{ createdAt: "desc" }, { id: "asc" }] });
      return pending ? rows.filter((row) => invitationState(row) === "pending") : rows;
    },
  }),
}));

// ------------------------------------------------------------------ mutations

const InviteCollaboratorInput = builder.inputType("InviteCollaboratorInput", {
  description: "Whom to invite to a story, and as what.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    email: t.string({ required: true, description: "The invitee's email: they accept signed in with an account of this email (made before or after)." }),
    role: t.field({ type: StoryRoleEnum, required: true, description: "EDITOR, COMMENTER or VIEWER: nobody is invited as OWNER (transferOwnership)." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    idempotencyKey: t.string({ description: COMMAND_TERMS.idempotencyKey }),
  }),
});

const TokenInput = (name: string, what: string) =>
  builder.inputType(name, {
    description: what,
    fields: (t) => ({ token: t.string({ required: true, description: "The invitation's token, as inviteCollaborator answered it." }) }),
  });
const AcceptInvitationInput = TokenInput("AcceptInvitationInput", "The invitation to accept.");
const DeclineInvitationInput = TokenInput("DeclineInvitationInput", "The invitation to decline.");

const RevokeInvitationInput = builder.inputType("RevokeInvitationInput", {
  description: "The pending invitation to revoke.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    invitationId: t.id({ required: true, description: "The invitation's global id (StoryInvitation.id)." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
  }),
});

const ChangeRoleInput = builder.inputType("ChangeRoleInput", {
  description: "A member's new role.",
  fields: (t) => ({
    storyId: t.id({ required: true, description: "The story's global id." }),
    userId: t.id({ required: true, description: "The member's global id (a User's)." }),
    role: t.field({ type: StoryRoleEnum, required: true, description: "EDITOR, COMMENTER or VIEWER: ownership moves only by transferOwnership." }),
    expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
  }),
});

const MemberInput = (name: string, what: string, who: string) =>
  builder.inputType(name, {
    description: what,
    fields: (t) => ({
      storyId: t.id({ required: true, description: "The story's global id." }),
      userId: t.id({ required: true, description: who }),
      expectedRevision: t.int({ description: COMMAND_TERMS.expectedRevision }),
    }),
  });
const RemoveCollaboratorInput = MemberInput("RemoveCollaboratorInput", "The member to remove.", "The member's global id (a User's); not the owner.");
const TransferOwnershipInput = MemberInput(
  "TransferOwnershipInput",
  "The member to give the story to.",
  "The new owner's global id (a User's): a member of the story already.",
);

const LeaveStoryInput = builder.inputType("LeaveStoryInput", {
  description: "The story to leave.",
  fields: (t) => ({ storyId: t.id({ required: true, description: "The story's global id." }) }),
});

/** What inviting answers: the change, the invitation, and its token. */
type Invited = StoryChange & { invitationId: string; token: string };

const InviteCollaboratorPayload = builder.objectRef<Invited>("InviteCollaboratorPayload").implement({
  description: "What inviting answers: the invitation, and its token, shown this once.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    token: t.exposeString("token", {
      description: "The single-use token to send the invitee (e.g. in a link): stored only as its hash, never shown again. Expires with the invitation.",
    }),
    invitation: t.field({
      type: StoryInvitationType,
      description: "The invitation made.",
      resolve: async (p, _args, context) => orNotFound(await context.reader.storyInvitation.findUnique({ where: { id: p.invitationId } }), "invitation"),
    }),
    replayed: t.exposeBoolean("replayed", { description: "True when this answers an earlier request with the same idempotency key; its token is not shown again (empty)." }),
  }),
});

const AcceptInvitationPayload = builder.objectRef<StoryChange>("AcceptInvitationPayload").implement({
  description: "What accepting answers: the story the viewer is now a member of.",
  interfaces: () => [StoryChangeInterface],
  fields: (t) => ({
    role: t.field({
      type: StoryRoleEnum,
      description: "The viewer's role in the story now.",
      resolve: async (p, _args, context) => orNotFound(await context.loaders.storyRole.load(p.storyId), "story"),
    }),
  }),
});

const DeclineInvitationPayload = builder.objectRef<{ declined: true }>("DeclineInvitationPayload").implement({
  description: "What declining answers. The token works no more.",
  fields: (t) => ({ declined: t.exposeBoolean("declined", { description: "Always true." }) }),
});

const LeaveStoryPayload = builder.objectRef<{ storyId: string }>("LeaveStoryPayload").implement({
  description: "What leaving answers: the story is no longer the viewer's to read.",
  fields: (t) => ({ leftStoryId: t.id({ description: "The global id of the story left.", resolve: (p) => encodeGlobalId("Story", p.storyId) }) }),
});

builder.mutationFields((t) => ({
  inviteCollaborator: t.withAuth({ signedIn: true }).field({
    type: InviteCollaboratorPayload,
    description:
      "Invites someone to the story by email (the owner only): answers a single-use token that expires in 7 days, for the app to send. " +
      "Inviting a member again is BAD_USER_INPUT; inviting an email with a pending invitation replaces it (the old token works no more).",
    args: { input: t.arg({ type: InviteCollaboratorInput, required: true, description: "The story, the email and the role." }) },
    resolve: async (_root, { input }, context): Promise<Invited> => {
      const email = normalizeEmail(input.email);
      const invitee = await context.db.prisma.user.findUnique({ where: { email }, select: { id: true } });
      const token = randomBytes(32).toString("base64url");
      const invitationId = randomUUID();
      const change = await changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "InviteCollaborator",
        actorId: context.viewer.id,
        invitationId,
        email,
        role: input.role,
        tokenHash: tokenHash(token),
        expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
        inviteeUserId: invitee?.id ?? null,
      });
      if (change.replayed) {
        const event = await context.loaders.event.load(change.eventId);
        const earlier = event?.type === "CollaboratorInvited" ? event.payload.invitationId : invitationId;
        return { ...change, invitationId: earlier, token: "" };
      }
      return { ...change, invitationId, token };
    },
  }),
  acceptInvitation: t.withAuth({ signedIn: true }).field({
    type: AcceptInvitationPayload,
    description:
      "Joins the story an invitation is for, with its role: signed in with an account of the email it was sent to. A token works once; " +
      "an unknown, used, declined, revoked or expired one, or another account's, is BAD_USER_INPUT on `token` with `extensions.reason`.",
    args: { input: t.arg({ type: AcceptInvitationInput, required: true, description: "The invitation's token." }) },
    resolve: async (_root, { input }, context) => {
      const { storyId, hash } = await invitationOf(context, input.token);
      return answer(context, storyId, { type: "AcceptInvitation", actorId: context.viewer.id, actorEmail: context.user?.email ?? null, tokenHash: hash, now: new Date() });
    },
  }),
  declineInvitation: t.withAuth({ signedIn: true }).field({
    type: DeclineInvitationPayload,
    description: "Declines an invitation, signed in with an account of the email it was sent to; its token works no more. Refusals as acceptInvitation's.",
    args: { input: t.arg({ type: DeclineInvitationInput, required: true, description: "The invitation's token." }) },
    resolve: async (_root, { input }, context) => {
      const { storyId, hash } = await invitationOf(context, input.token);
      await answer(context, storyId, { type: "DeclineInvitation", actorId: context.viewer.id, actorEmail: context.user?.email ?? null, tokenHash: hash, now: new Date() });
      return { declined: true as const };
    },
  }),
  revokeInvitation: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Withdraws a pending invitation (the owner only): its token works no more.",
    args: { input: t.arg({ type: RevokeInvitationInput, required: true, description: "The story and the invitation." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "RevokeInvitation",
        actorId: context.viewer.id,
        invitationId: idOf("StoryInvitation", input.invitationId),
      }),
  }),
  changeRole: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Gives a member another role (the owner only). The owner's own role changes only by transferOwnership.",
    args: { input: t.arg({ type: ChangeRoleInput, required: true, description: "The story, the member and the role." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, {
        type: "ChangeRole",
        actorId: context.viewer.id,
        userId: memberId(input.userId),
        role: input.role,
      }),
  }),
  removeCollaborator: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Removes a member from the story (the owner only; not the owner): their live updates of it end within a second.",
    args: { input: t.arg({ type: RemoveCollaboratorInput, required: true, description: "The story and the member." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, { type: "RemoveCollaborator", actorId: context.viewer.id, userId: memberId(input.userId) }),
  }),
  leaveStory: t.withAuth({ signedIn: true }).field({
    type: LeaveStoryPayload,
    description: "Leaves a story shared with the viewer. The owner cannot leave: transfer ownership first.",
    args: { input: t.arg({ type: LeaveStoryInput, required: true, description: "The story." }) },
    resolve: async (_root, { input }, context) => {
      const storyId = idOf("Story", input.storyId);
      await changeStory(context, { storyId }, { type: "LeaveStory", actorId: context.viewer.id });
      return { storyId };
    },
  }),
  transferOwnership: t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Gives the story to another member (the owner only): they become its owner, and the viewer an editor.",
    args: { input: t.arg({ type: TransferOwnershipInput, required: true, description: "The story and its new owner." }) },
    resolve: (_root, { input }, context) =>
      changeStory(context, { ...input, storyId: idOf("Story", input.storyId) }, { type: "TransferOwnership", actorId: context.viewer.id, userId: memberId(input.userId) }),
  }),
}));

/** A token is 43 characters; anything much longer is not one, and is not hashed. */
const TOKEN_MAX = 200;

function tokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The story an invitation token is for; the same refusal as a used one's for a token nobody made. */
async function invitationOf(context: GraphQLContext, token: string): Promise<{ storyId: string; hash: string }> {
  if (token.length === 0 || token.length > TOKEN_MAX) throw invalidToken("UNKNOWN", "this invitation does not exist");
  const hash = tokenHash(token);
  const invitation = await context.db.prisma.storyInvitation.findUnique({ where: { tokenHash: hash }, select: { storyId: true } });
  if (!invitation) throw invalidToken("UNKNOWN", "this invitation does not exist");
  return { storyId: invitation.storyId, hash };
}

/** Runs an answer to an invitation: the invitee is not a member yet, so changeStory's answer is built here. */
async function answer(
  context: SignedInContext,
  storyId: string,
  command: { type: "AcceptInvitation" | "DeclineInvitation"; actorId: string; actorEmail: string | null; tokenHash: string; now: Date },
): Promise<StoryChange> {
  const result = await runStoryCommand(context, { storyId, actorId: context.viewer.id, command }).catch((error: unknown) => {
    // the story went away with its invitations: the token is as good as unknown
    if (error instanceof Error && "code" in error && error.code === "NOT_FOUND") throw invalidToken("UNKNOWN", "this invitation does not exist");
    throw error;
  });
  clearLoaders(context.loaders);
  return { storyId, eventId: result.event.id, activeVersionNumber: result.event.activeVersionNumber, replayed: result.replayed };
}

/** A member's user id; a malformed one is a member the story does not have. */
function memberId(globalId: string): string {
  try {
    return idOf("User", globalId);
  } catch {
    throw badInput("userId", "is not a member of the story");
  }
}
