// A story's comment stream (story_comment_events): reading it, and appending to it with the
// read-table rows its events make, in one statement. Knows nothing of the comment rules.
import { randomUUID } from "node:crypto";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { COMMENT_EVENT_SCHEMA_VERSION, type CommentEventData, type RecordedCommentEvent } from "../domain/comments.ts";
import { COMMENT_COLUMNS, COMMENT_EVENT_COLUMNS, type CommentEventRow, type StoryCommentRow } from "../projection/commentRows.ts";
import { insertRows, pick, updateRows } from "../projection/tableColumns.ts";

const COMMENT_EVENT_TYPES = new Set<string>([
  "CommentAdded",
  "CommentEdited",
  "CommentDeleted",
  "CommentResolved",
  "CommentReopened",
] satisfies CommentEventData["type"][]);

type CommentEventRecord = Pick<
  Prisma.StoryCommentEventGetPayload<object>,
  "id" | "storyId" | "seq" | "type" | "schemaVersion" | "payload" | "actorId" | "createdAt"
>;

export function toRecordedCommentEvent(row: CommentEventRecord): RecordedCommentEvent {
  if (!COMMENT_EVENT_TYPES.has(row.type)) throw new Error(`unknown comment event type ${row.type} in the log`);
  if (row.schemaVersion > COMMENT_EVENT_SCHEMA_VERSION) {
    throw new Error(`comment event schema version ${row.schemaVersion} is newer than this server's ${COMMENT_EVENT_SCHEMA_VERSION}`);
  }
  return {
    type: row.type,
    payload: row.payload,
    id: row.id,
    storyId: row.storyId,
    seq: row.seq,
    schemaVersion: row.schemaVersion,
    actorId: row.actorId,
    createdAt: row.createdAt,
  } as RecordedCommentEvent;
}

/** Stamps a story's comment events: ids, sequence numbers after `currentRevision`, and time. */
export function recordCommentEvents(storyId: string, events: readonly CommentEventData[], options: { currentRevision: number; actorId: string }): RecordedCommentEvent[] {
  const createdAt = new Date();
  return events.map((event, i) => ({
    ...event,
    id: randomUUID(),
    storyId,
    seq: options.currentRevision + i + 1,
    schemaVersion: COMMENT_EVENT_SCHEMA_VERSION,
    actorId: options.actorId,
    createdAt,
  }));
}

/** A story's comment events with seq > after, oldest first. */
export async function readCommentStream(db: DbClient, storyId: string, options: { after?: number; limit?: number } = {}): Promise<RecordedCommentEvent[]> {
  const rows = await db.storyCommentEvent.findMany({
    where: { storyId, seq: { gt: options.after ?? 0 } },
    orderBy: { seq: "asc" },
    ...(options.limit === undefined ? {} : { take: options.limit }),
  });
  return rows.map(toRecordedCommentEvent);
}

/** The seq of the story's last comment event. */
export async function commentStreamRevision(db: DbClient, storyId: string): Promise<number> {
  const result = await db.storyCommentEvent.aggregate({ where: { storyId }, _max: { seq: true } });
  return result._max.seq ?? 0;
}

/** The event an earlier request with this idempotency key appended, and that request's fingerprint. */
export async function findCommentEventByKey(
  db: DbClient,
  storyId: string,
  idempotencyKey: string,
): Promise<{ event: RecordedCommentEvent; requestHash: string | null } | null> {
  const row = await db.storyCommentEvent.findUnique({ where: { storyId_idempotencyKey: { storyId, idempotencyKey } } });
  return row ? { event: toRecordedCommentEvent(row), requestHash: row.requestHash } : null;
}

/** Every story's comment stream, one story at a time, for the replay tools. */
export async function* readEveryCommentStream(db: DbClient, batchSize = 5_000): AsyncGenerator<[string, RecordedCommentEvent[]]> {
  let after: { storyId: string; seq: number } | null = null;
  let current: { storyId: string; events: RecordedCommentEvent[] } | null = null;
  for (;;) {
    const rows: CommentEventRecord[] = await db.storyCommentEvent.findMany({
      where: after ? { OR: [{ storyId: { gt: after.storyId } }, { storyId: after.storyId, seq: { gt: after.seq } }] } : {},
      orderBy: [{ storyId: "asc" }, { seq: "asc" }],
      take: batchSize,
    });
    for (const event of rows.map(toRecordedCommentEvent)) {
      if (current && current.storyId !== event.storyId) {
        yield [current.storyId, current.events];
        current = null;
      }
      current ??= { storyId: event.storyId, events: [] };
      current.events.push(event);
    }
    if (rows.length < batchSize) break;
    const last = rows.at(-1)!;
    after = { storyId: last.storyId, seq: last.seq };
  }
  if (current) yield [current.storyId, current.events];
}

/** Everything of a comment's row but what never changes once it is made. */
const COMMENT_CHANGE_COLUMNS = pick(COMMENT_COLUMNS, ["id", "body", "resolvedAt", "resolvedBy", "editedAt", "deletedAt", "updatedAt", "eventSeq"]);

/**
 * Appends the events with the rows they add and change, in one statement, while the story exists:
 * its row is held (FOR KEY SHARE) so that a deletion waits for the append or the append finds no
 * story. False when there is no story. A sequence number or idempotency key taken meanwhile fails
 * the statement with a unique violation (see isUniqueViolation): the caller decides again.
 */
export async function appendComments(
  db: DbClient,
  storyId: string,
  events: readonly CommentEventRow[],
  rows: { added: readonly StoryCommentRow[]; changed: readonly StoryCommentRow[] },
): Promise<boolean> {
  const onlyIf = Prisma.sql`EXISTS (SELECT 1 FROM story)`;
  const changed = rows.changed.map((row) => Object.fromEntries(Object.keys(COMMENT_CHANGE_COLUMNS).map((field) => [field, row[field as keyof StoryCommentRow]])));
  const [result] = await db.$queryRaw<{ found: number }[]>`
    WITH story AS MATERIALIZED (SELECT id FROM stories WHERE id = ${storyId}::uuid FOR KEY SHARE),
         appended AS (${insertRows("story_comment_events", COMMENT_EVENT_COLUMNS, events, { onlyIf })}),
         added AS (${insertRows("story_comments", COMMENT_COLUMNS, rows.added, { onlyIf })}),
         changed AS (${updateRows("story_comments", COMMENT_CHANGE_COLUMNS, ["id"], changed as never[], { onlyIf })})
    SELECT count(*)::int AS found FROM story`;
  return (result?.found ?? 0) > 0;
}

/** Whether the error is a unique violation (SQLSTATE 23505), however the driver adapter wraps it. */
export function isUniqueViolation(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const { originalCode, code, meta, cause } = error as Record<string, unknown>;
  if (originalCode === "23505" || code === "23505" || code === "P2002") return true;
  const adapterError = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>).driverAdapterError : undefined;
  return isUniqueViolation(adapterError, depth + 1) || isUniqueViolation(cause, depth + 1);
}

/** Deletes a story's comments and their stream: part of deleting the story (src/commands/storyCommands.ts). */
export async function deleteStoryComments(tx: DbClient, storyId: string): Promise<void> {
  await tx.storyCommentEvent.deleteMany({ where: { storyId } });
  await tx.storyComment.deleteMany({ where: { storyId } });
}
