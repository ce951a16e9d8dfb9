// The one write path: a command's events appended to the log and the read-table changes they
// make applied, as one statement (one round trip, its own transaction unless in the caller's). A new story
// and a change to a story are two fixed statements, chosen by the plan's kind. Data-modifying
// CTEs all see the same snapshot and run to completion; foreign keys are checked at the end.
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { StorySparkError } from "../domain/errors.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { NewStoryPlan, ProjectionPlan, StoryChangePlan } from "../projection/projectionPlan.ts";
import {
  BRANCH_COLUMNS,
  COLLABORATOR_COLUMNS,
  COLLABORATOR_KEY_COLUMNS,
  CONTENT_COLUMNS,
  INVITATION_COLUMNS,
  deleteRows,
  upsertRows,
  EVENT_COLUMNS,
  LABEL_COLUMNS,
  MODULE_CHANGE_COLUMNS,
  MODULE_COLUMNS,
  STORY_CHANGE_COLUMNS,
  STORY_COLUMNS,
  VERSION_COLUMNS,
  insertRows,
  updateRows,
} from "../projection/tableColumns.ts";
import { storedPayload, streamRevision, type StoryEventRow } from "./eventStore.ts";

/**
 * What an append did: applied, or refused because the story was no longer at the revision its
 * command was decided on (then `revision` is where it is, null when it is gone).
 */
export type AppendOutcome = { applied: true } | { applied: false; revision: number | null };

/**
 * Appends the events and applies the plan they make, in one statement. A change to a story applies
 * only if, under the story's lock, it is still at `decidedAt`, the revision its command was decided
 * on: a command decided without the lock learns of a writer that came between, and decides again.
 */
export async function appendAndProject(db: DbClient, events: readonly StoryEventRow[], plan: ProjectionPlan, decidedAt: number): Promise<AppendOutcome> {
  const rows = events.map((event) => ({ ...event, payload: storedPayload(event) }));
  if (plan.kind === "newStory") {
    await db.$executeRaw(newStoryStatement(rows, plan));
    return { applied: true };
  }
  const [locked] = await db.$queryRaw<{ revision: number }[]>(storyChangeStatement(rows, plan, decidedAt));
  return locked?.revision === decidedAt ? { applied: true } : { applied: false, revision: locked?.revision ?? null };
}

function newStoryStatement(events: readonly StoryEventRow[], plan: NewStoryPlan): Prisma.Sql {
  return Prisma.sql`
    WITH contents AS (${insertRows("story_contents", CONTENT_COLUMNS, plan.contents, { skipExisting: true })}),
         appended AS (${insertRows("story_events", EVENT_COLUMNS, events)}),
         story AS (${insertRows("stories", STORY_COLUMNS, [plan.story])}),
         modules AS (${insertRows("story_modules", MODULE_COLUMNS, plan.modules)}),
         collaborators AS (${insertRows("collaborators", COLLABORATOR_COLUMNS, plan.collaborators)}),
         invitations AS (${insertRows("story_invitations", INVITATION_COLUMNS, plan.invitations)}),
         branches AS (${insertRows("story_branches", BRANCH_COLUMNS, plan.branches)})
    ${insertRows("story_versions", VERSION_COLUMNS, plan.versions)}`;
}

/**
 * Every part is a data-modifying CTE guarded by the story's row, locked first (`locked` is
 * materialized, so it runs once, when the first part asks). Locked behind another writer, it reads
 * the row as that writer committed it: a revision other than `decidedAt`, and nothing is written.
 */
function storyChangeStatement(events: readonly StoryEventRow[], plan: StoryChangePlan, decidedAt: number): Prisma.Sql {
  const onlyIf = Prisma.sql`EXISTS (SELECT 1 FROM locked WHERE locked.revision = ${decidedAt})`;
  return Prisma.sql`
    WITH locked AS MATERIALIZED (SELECT revision FROM stories WHERE id = ${plan.story.id}::uuid FOR UPDATE),
         contents AS (${insertRows("story_contents", CONTENT_COLUMNS, plan.contents, { onlyIf, skipExisting: true })}),
         appended AS (${insertRows("story_events", EVENT_COLUMNS, events, { onlyIf })}),
         story AS (${updateRows("stories", STORY_CHANGE_COLUMNS, ["id"], [plan.story], { onlyIf })}),
         modules AS (${updateRows("story_modules", MODULE_CHANGE_COLUMNS, ["id"], plan.modules, { onlyIf })}),
         versions AS (${insertRows("story_versions", VERSION_COLUMNS, plan.versions, { onlyIf })}),
         labels AS (${updateRows("story_versions", LABEL_COLUMNS, ["storyId", "versionNumber"], plan.labels, { onlyIf })})
         ${membershipParts(plan, onlyIf)}
    SELECT revision FROM locked`;
}

/** Members and invitations, for a change that touched them (most don't: no part is added then). */
function membershipParts(plan: StoryChangePlan, onlyIf: Prisma.Sql): Prisma.Sql {
  const parts: Prisma.Sql[] = [];
  if (plan.collaborators.length > 0) {
    parts.push(Prisma.sql`collaborators AS (${upsertRows("collaborators", COLLABORATOR_COLUMNS, ["storyId", "userId"], plan.collaborators, { onlyIf })})`);
  }
  if (plan.removedCollaborators.length > 0) {
    parts.push(Prisma.sql`removed_collaborators AS (${deleteRows("collaborators", COLLABORATOR_KEY_COLUMNS, plan.removedCollaborators, { onlyIf })})`);
  }
  if (plan.invitations.length > 0) {
    parts.push(Prisma.sql`invitations AS (${upsertRows("story_invitations", INVITATION_COLUMNS, ["id"], plan.invitations, { onlyIf })})`);
  }
  return parts.length === 0 ? Prisma.empty : Prisma.sql`, ${Prisma.join(parts, ", ")}`;
}

/**
 * Runs `work`, which appends to the story, in one transaction. Writers to a story take turns
 * under its lock; one that got past it anyway with a sequence number already taken is refused
 * by the unique (story_id, seq) index, and answered REVISION_CONFLICT with the story's revision,
 * read once the transaction has rolled back.
 */
export async function inAppendTransaction<T>(
  db: Database,
  storyId: string,
  work: (tx: DbClient) => Promise<T>,
  options: { maxWait: number; timeout: number },
): Promise<T> {
  try {
    return await db.prisma.$transaction(work, options);
  } catch (error) {
    if (!isTakenSequenceNumber(error)) throw error;
    const actualRevision = await streamRevision(db.prisma, storyId);
    throw new StorySparkError("REVISION_CONFLICT", `the story changed meanwhile: it is at revision ${actualRevision}`, { actualRevision });
  }
}

const SEQ_INDEX = "story_events_story_id_seq_key";
const SEQ_FIELDS = ["story_id", "seq"];

/**
 * Whether the error is a unique violation (SQLSTATE 23505) of the (story_id, seq) index, as the
 * driver adapters describe it in Prisma's `meta.driverAdapterError` (its `cause`): PostgreSQL's
 * adapter names the index, PGlite's names the index's fields.
 */
function isTakenSequenceNumber(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const { originalCode, constraint, meta, cause } = error as Record<string, unknown>;
  if (originalCode === "23505" && typeof constraint === "object" && constraint !== null) {
    const { index, fields } = constraint as { index?: unknown; fields?: unknown };
    if (index === SEQ_INDEX) return true;
    if (Array.isArray(fields) && fields.length === SEQ_FIELDS.length && fields.every((field, i) => field === SEQ_FIELDS[i])) return true;
  }
  const adapterError = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>).driverAdapterError : undefined;
  return isTakenSequenceNumber(adapterError, depth + 1) || isTakenSequenceNumber(cause, depth + 1);
}
