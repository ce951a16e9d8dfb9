// Row images of the comment tables, shared by the write path, rebuild and verify: a comment's row
// is what the fold of its story's comment stream says, and nothing else.
import { Prisma } from "../generated/prisma/client.ts";
import { MODULES, moduleByName, type ModuleName } from "../domain/catalogue.ts";
import type { CommentState, RecordedCommentEvent, StoryCommentsState } from "../domain/comments.ts";
import type { DbClient } from "../database/types.ts";
import { fieldsOf, type ColumnMap } from "./tableColumns.ts";

/** A row of story_comment_events as the write path inserts it. */
export type CommentEventRow = {
  id: string;
  storyId: string;
  seq: number;
  type: string;
  schemaVersion: number;
  payload: object;
  actorId: string | null;
  createdAt: Date;
  idempotencyKey: string | null;
  requestHash: string | null;
};

/** A row of story_comments. */
export type StoryCommentRow = {
  id: string;
  storyId: string;
  parentId: string | null;
  authorId: string;
  moduleName: string | null;
  fieldPath: string | null;
  rangeStart: number | null;
  rangeEnd: number | null;
  versionNumber: number;
  body: string;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  editedAt: Date | null;
  deletedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  eventSeq: number;
};

export const COMMENT_EVENT_COLUMNS: ColumnMap<CommentEventRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  seq: ["seq", "int"],
  type: ["type", "text"],
  schemaVersion: ["schema_version", "int"],
  payload: ["payload", "jsonb"],
  actorId: ["actor_id", "uuid"],
  createdAt: ["created_at", "timestamptz"],
  idempotencyKey: ["idempotency_key", "text"],
  requestHash: ["request_hash", "text"],
};

export const COMMENT_COLUMNS: ColumnMap<StoryCommentRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  parentId: ["parent_id", "uuid"],
  authorId: ["author_id", "uuid"],
  moduleName: ["module_name", "text"],
  fieldPath: ["field_path", "text"],
  rangeStart: ["range_start", "int"],
  rangeEnd: ["range_end", "int"],
  versionNumber: ["version_number", "int"],
  body: ["body", "text"],
  resolvedAt: ["resolved_at", "timestamptz"],
  resolvedBy: ["resolved_by", "uuid"],
  editedAt: ["edited_at", "timestamptz"],
  deletedAt: ["deleted_at", "timestamptz"],
  createdAt: ["created_at", "timestamptz"],
  updatedAt: ["updated_at", "timestamptz"],
  eventSeq: ["event_seq", "int"],
};

export function commentRow(comment: CommentState): StoryCommentRow {
  return {
    id: comment.id,
    storyId: comment.storyId,
    parentId: comment.parentId,
    authorId: comment.authorId,
    moduleName: comment.module === null ? null : moduleByName(comment.module)!.moduleName,
    fieldPath: comment.fieldPath,
    rangeStart: comment.range?.start ?? null,
    rangeEnd: comment.range?.end ?? null,
    versionNumber: comment.versionNumber,
    body: comment.body,
    resolvedAt: comment.resolvedAt,
    resolvedBy: comment.resolvedBy,
    editedAt: comment.editedAt,
    deletedAt: comment.deletedAt,
    createdAt: comment.createdAt,
    updatedAt: comment.updatedAt,
    eventSeq: comment.seq,
  };
}

export function commentEventRow(event: RecordedCommentEvent, terms: { idempotencyKey: string | null; requestHash: string | null }): CommentEventRow {
  return {
    id: event.id,
    storyId: event.storyId,
    seq: event.seq,
    type: event.type,
    schemaVersion: event.schemaVersion,
    payload: event.payload,
    actorId: event.actorId,
    createdAt: event.createdAt,
    ...terms,
  };
}

/** `c.column AS "field", …` for every column of story_comments (aliased `c`): rows read raw come back as StoryCommentRow. */
export const COMMENT_SELECT = Prisma.raw(fieldsOf(COMMENT_COLUMNS).map(([field, column]) => `c."${column}" AS "${field}"`).join(", "));

const nameOfModule = new Map<string, ModuleName>(MODULES.map((m) => [m.moduleName, m.name]));

/** A row read back as the comment the fold made it from (commentRow's inverse). */
export function commentStateOf(row: StoryCommentRow): CommentState {
  return {
    id: row.id,
    storyId: row.storyId,
    parentId: row.parentId,
    authorId: row.authorId,
    module: row.moduleName === null ? null : nameOfModule.get(row.moduleName)!,
    fieldPath: row.fieldPath,
    range: row.rangeStart === null || row.rangeEnd === null ? null : { start: row.rangeStart, end: row.rangeEnd },
    versionNumber: row.versionNumber,
    body: row.body,
    resolvedAt: row.resolvedAt,
    resolvedBy: row.resolvedBy,
    editedAt: row.editedAt,
    deletedAt: row.deletedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    seq: row.eventSeq,
  };
}

/**
 * A story's comments as a command needs them, from the read table (bounded by the rules' limit on
 * comments per story, where the stream grows with every edit), with the stream's revision, in one
 * statement: one snapshot. verify holds the rows to the fold of the stream.
 */
export async function loadCommentsState(db: DbClient, storyId: string): Promise<StoryCommentsState> {
  const rows = await db.$queryRaw<(Partial<StoryCommentRow> & { revision: number })[]>`
    WITH stream AS (SELECT coalesce(max(seq), 0)::int AS revision FROM story_comment_events WHERE story_id = ${storyId}::uuid)
    SELECT stream.revision, ${COMMENT_SELECT} FROM stream LEFT JOIN story_comments c ON c.story_id = ${storyId}::uuid`;
  const comments = new Map<string, CommentState>();
  const replyCounts = new Map<string, number>();
  for (const row of rows) {
    if (!row.id) continue; // no comments: the stream's revision alone
    const comment = commentStateOf(row as StoryCommentRow);
    comments.set(comment.id, comment);
    if (comment.parentId !== null) replyCounts.set(comment.parentId, (replyCounts.get(comment.parentId) ?? 0) + 1);
  }
  return { storyId, revision: rows[0]?.revision ?? 0, comments, replyCounts };
}
