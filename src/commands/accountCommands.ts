// A writer's account erased: the user, every story they own (for good, as eraseStory wipes one),
// their sessions, generations and error logs; in stories owned by others they leave, their pending
// invitations are declined, their comments lose their text, and every trace of them in the log
// (actor, payload fields, invitation emails) names one fresh anonymous id instead, after which
// those stories' read rows are projected again from the rewritten log. One transaction: an
// erasure is acknowledged whole or not at all.
import { randomUUID } from "node:crypto";
import type { DbClient } from "../database/types.ts";
import { StorySparkError } from "../domain/errors.ts";
import { foldEvents } from "../domain/story.ts";
import { foldComments } from "../domain/comments.ts";
import type { User } from "../generated/prisma/client.ts";
import type { AuthThrottle } from "../auth/throttle.ts";
import { verifyPassword } from "../auth/passwords.ts";
import { readStream } from "../eventstore/eventStore.ts";
import { readCommentStream } from "../eventstore/commentStream.ts";
import { publishStoryChanges, publishStoryDeleted } from "../live/publish.ts";
import { branchRows, collaboratorRows, invitationRows, moduleRows, storyRow, versionRow } from "../projection/storyRows.ts";
import { COMMENT_COLUMNS, commentRow } from "../projection/commentRows.ts";
import {
  BRANCH_COLUMNS,
  COLLABORATOR_COLUMNS,
  INVITATION_COLUMNS,
  MODULE_CHANGE_COLUMNS,
  STORY_CHANGE_COLUMNS,
  VERSION_COLUMNS,
  insertRows,
  updateRows,
} from "../projection/tableColumns.ts";
import { forgetState } from "./recentStates.ts";
import { eraseStory, executeStoryCommandInTransaction, type CommandServices, type StoryCommandResult } from "./storyCommands.ts";

/** How recent a token must be (its `iat`) to delete an account that has no password here (a Supabase Auth user's). */
export const FRESH_TOKEN_MS = 5 * 60_000;

/** A long erasure (many stories) is one transaction. */
const ERASURE_TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 10 * 60_000 } as const;
/** Rows per statement when a story's read rows are projected again. */
const ROWS_PER_STATEMENT = 500;

export type AccountErasureServices = CommandServices & { readonly throttle: AuthThrottle };

/** Who asks, and how they prove it is them. */
export type DeleteAccountRequest = {
  readonly userId: string;
  /** the token's `iat`, in ms since the epoch */
  readonly tokenIssuedAt: number;
  /** the account's password; asked of every account that has one */
  readonly password: string | null;
  /** the client's address, for throttling as sign-in does */
  readonly address: string | null;
};

/** What an erasure left: the anonymous id that stands for the user in others' stories and in spend figures. */
export type AccountErasure = { readonly anonymousId: string; readonly erasedStories: number; readonly anonymisedStories: number };

export async function deleteAccount(services: AccountErasureServices, request: DeleteAccountRequest): Promise<AccountErasure> {
  const { db, pubsub } = services;
  const user = await db.prisma.user.findUnique({ where: { id: request.userId } });
  if (!user) throw new StorySparkError("UNAUTHENTICATED", "sign in first");
  await checkCredentials(services, user, request);

  const anonymousId = randomUUID();
  const erased = await db.prisma.$transaction((tx) => eraseAccount(tx, user, anonymousId), ERASURE_TRANSACTION_OPTIONS);

  for (const storyId of erased.ownStories) {
    forgetState(db, storyId);
    publishStoryDeleted(pubsub, storyId);
  }
  for (const storyId of erased.otherStories) forgetState(db, storyId);
  // after the commit: their subscriptions to those stories end (removedMember), others hear of the change
  for (const result of erased.appended) publishStoryChanges(pubsub, result);
  return { anonymousId, erasedStories: erased.ownStories.length, anonymisedStories: erased.otherStories.length };
}

/**
 * The password, for an account that has one; otherwise a token issued within FRESH_TOKEN_MS (a
 * Supabase user signs in again). Throttled as sign-in is: failures count towards a lock-out.
 */
async function checkCredentials(services: AccountErasureServices, user: User, request: DeleteAccountRequest): Promise<void> {
  const { throttle } = services;
  const key = user.email ?? user.id;
  await throttle.beforeSignIn(key, request.address);
  if (user.passwordHash === null) {
    if (Date.now() - request.tokenIssuedAt > FRESH_TOKEN_MS) {
      throw new StorySparkError(
        "INVALID_CREDENTIALS",
        `sign in again: deleting an account needs a token issued within the last ${FRESH_TOKEN_MS / 60_000} minutes`,
        { freshTokenSeconds: FRESH_TOKEN_MS / 1000 },
      );
    }
  } else {
    const password = request.password ?? "";
    const check = await throttle.hashing(() => verifyPassword(password, user.passwordHash));
    if (!check.ok) {
      await throttle.signInFailed(key, request.address);
      throw new StorySparkError("INVALID_CREDENTIALS", "wrong password", { field: "password" });
    }
  }
  await throttle.signInSucceeded(key, request.address);
}

type Erased = { ownStories: string[]; otherStories: string[]; appended: StoryCommandResult[] };

async function eraseAccount(tx: DbClient, user: User, anonymousId: string): Promise<Erased> {
  // the user's row first: a second erasure waits, then finds no one
  const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM users WHERE id = ${user.id}::uuid FOR UPDATE`;
  if (locked.length === 0) throw new StorySparkError("UNAUTHENTICATED", "sign in first");

  const own = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM stories WHERE user_id = ${user.id}::uuid ORDER BY id FOR UPDATE`;
  for (const { id } of own) await eraseStory(tx, id);

  const others = await storiesWithTracesOf(tx, user);
  const appended: StoryCommandResult[] = [];
  for (const storyId of others) appended.push(...(await anonymiseIn(tx, storyId, user, anonymousId)));

  // generations keep prompts (their text and others'); their error logs go with them
  const generations = (await tx.aiGeneration.findMany({ where: { userId: user.id }, select: { id: true } })).map((g) => g.id);
  await tx.errorLog.deleteMany({ where: { OR: [{ userId: user.id }, { generationId: { in: generations } }] } });
  await tx.aiGeneration.deleteMany({ where: { userId: user.id } });
  // what stays: spend and usage figures, under the anonymous id
  await tx.moduleUsageLog.updateMany({ where: { userId: user.id }, data: { userId: anonymousId } });
  await tx.aiCostTracking.updateMany({ where: { userId: user.id }, data: { userId: anonymousId } });
  // their revoked tokens and memberships go with the row (foreign keys cascade)
  await tx.user.delete({ where: { id: user.id } });
  return { ownStories: own.map((s) => s.id), otherStories: others, appended };
}

/** Others' stories where the user is a member, acted, commented, invited, or was invited; locked, in id order. */
async function storiesWithTracesOf(tx: DbClient, user: User): Promise<string[]> {
  const pattern = `%${user.id}%`;
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM stories
     WHERE user_id <> ${user.id}::uuid
       AND id IN (SELECT story_id FROM collaborators WHERE user_id = ${user.id}::uuid
                  UNION SELECT story_id FROM story_events WHERE actor_id = ${user.id}::uuid OR payload::text LIKE ${pattern}
                  UNION SELECT story_id FROM story_comment_events WHERE actor_id = ${user.id}::uuid OR payload::text LIKE ${pattern}
                  UNION SELECT story_id FROM story_invitations
                         WHERE email = ${user.email ?? ""} OR invited_by = ${user.id}::uuid OR accepted_by = ${user.id}::uuid)
     ORDER BY id FOR UPDATE`;
  return rows.map((r) => r.id);
}

/** Placeholder for the user's email in a story's invitations: not theirs, and never deliverable (RFC 2606's .invalid). */
const erasedEmail = (anonymousId: string) => `erased-${anonymousId}@erased.invalid`;

/**
 * The user's traces in another's story: they leave, their pending invitations are declined (both as
 * events of the story's rules), then the log is rewritten (the user's id → the anonymous id, their
 * email → a placeholder, their comments' text → "") and the story's rows projected from it again.
 */
async function anonymiseIn(tx: DbClient, storyId: string, user: User, anonymousId: string): Promise<StoryCommandResult[]> {
  const appended: StoryCommandResult[] = [];
  const member = await tx.collaborator.findUnique({ where: { storyId_userId: { storyId, userId: user.id } } });
  if (member) appended.push(await executeStoryCommandInTransaction(tx, { storyId, actorId: user.id, command: { type: "LeaveStory", actorId: user.id } }));
  if (user.email !== null) {
    const now = new Date();
    const pending = await tx.storyInvitation.findMany({ where: { storyId, email: user.email, status: "pending", expiresAt: { gt: now } } });
    for (const invitation of pending) {
      const command = { type: "DeclineInvitation", actorId: user.id, actorEmail: user.email, tokenHash: invitation.tokenHash, now } as const;
      appended.push(await executeStoryCommandInTransaction(tx, { storyId, actorId: user.id, command }));
    }
  }

  const pattern = `%${user.id}%`;
  await tx.$executeRaw`
    UPDATE story_events
       SET actor_id = CASE WHEN actor_id = ${user.id}::uuid THEN ${anonymousId}::uuid ELSE actor_id END,
           payload = replace(payload::text, ${user.id}, ${anonymousId})::jsonb
     WHERE story_id = ${storyId}::uuid AND (actor_id = ${user.id}::uuid OR payload::text LIKE ${pattern})`;
  if (user.email !== null) {
    await tx.$executeRaw`
      UPDATE story_events SET payload = jsonb_set(payload, '{email}', to_jsonb(${erasedEmail(anonymousId)}::text))
       WHERE story_id = ${storyId}::uuid AND type = 'CollaboratorInvited' AND payload->>'email' = ${user.email}`;
  }
  // their comments keep their place in threads, without their text
  await tx.$executeRaw`
    UPDATE story_comment_events SET payload = jsonb_set(payload, '{body}', '""'::jsonb)
     WHERE story_id = ${storyId}::uuid AND payload->'body' IS NOT NULL
       AND payload->>'commentId' IN (SELECT id::text FROM story_comments WHERE story_id = ${storyId}::uuid AND author_id = ${user.id}::uuid)`;
  await tx.$executeRaw`
    UPDATE story_comment_events
       SET actor_id = CASE WHEN actor_id = ${user.id}::uuid THEN ${anonymousId}::uuid ELSE actor_id END,
           payload = replace(payload::text, ${user.id}, ${anonymousId})::jsonb
     WHERE story_id = ${storyId}::uuid AND (actor_id = ${user.id}::uuid OR payload::text LIKE ${pattern})`;

  await projectStoryAgain(tx, storyId);
  await projectCommentsAgain(tx, storyId);
  return appended;
}

/**
 * The story's read rows made again from its log, through the one fold and the row images that the
 * write path, rebuild and verify share: the story's and its modules' and versions' rows updated in
 * place (nothing that refers to them is disturbed), its members and invitations replaced.
 */
async function projectStoryAgain(tx: DbClient, storyId: string): Promise<void> {
  const state = foldEvents(storyId, await readStream(tx, storyId, { content: "references" }));
  await tx.$executeRaw(updateRows("stories", STORY_CHANGE_COLUMNS, ["id"], [storyRow(state)]));
  await tx.$executeRaw(updateRows("story_modules", MODULE_CHANGE_COLUMNS, ["id"], moduleRows(state)));
  const versions = [...state.versions].map((v) => versionRow(state, v));
  for (let i = 0; i < versions.length; i += ROWS_PER_STATEMENT) {
    await tx.$executeRaw(updateRows("story_versions", VERSION_COLUMNS, ["id"], versions.slice(i, i + ROWS_PER_STATEMENT)));
  }
  await tx.collaborator.deleteMany({ where: { storyId } });
  await tx.$executeRaw(insertRows("collaborators", COLLABORATOR_COLUMNS, collaboratorRows(state)));
  await tx.storyInvitation.deleteMany({ where: { storyId } });
  const invitations = invitationRows(state);
  if (invitations.length > 0) await tx.$executeRaw(insertRows("story_invitations", INVITATION_COLUMNS, invitations));
  // a branch's row names who made it
  const branches = branchRows(state);
  if (branches.length > 0) {
    await tx.storyBranch.deleteMany({ where: { storyId } });
    await tx.$executeRaw(insertRows("story_branches", BRANCH_COLUMNS, branches));
  }
}

/** The story's comment rows made again from its rewritten comment stream. */
async function projectCommentsAgain(tx: DbClient, storyId: string): Promise<void> {
  const rows = [...foldComments(storyId, await readCommentStream(tx, storyId)).comments.values()].map(commentRow);
  await tx.storyComment.deleteMany({ where: { storyId } });
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    await tx.$executeRaw(insertRows("story_comments", COMMENT_COLUMNS, rows.slice(i, i + ROWS_PER_STATEMENT)));
  }
}

