// SQL column lists from one map per table. A map names every field of a row type with its
// column and the SQL type the field travels as inside JSON; each INSERT column list,
// jsonb_to_recordset definition and UPDATE SET list is generated from it. The maps are typed
// against the row types (./storyRows.ts), so a renamed field fails to compile instead of
// quietly writing NULL. Rows travel as one bound JSON parameter per list; the only text
// spliced into a statement is the names written in this file (`TableName` and the maps).
import { Prisma } from "../generated/prisma/client.ts";
import type { ContentRow } from "../domain/content.ts";
import type { StoryEventRow } from "../eventstore/eventStore.ts";
import type { CollaboratorRow, InvitationRow, StoryBranchRow, StoryModuleRow, StoryRow, StoryVersionRow } from "./storyRows.ts";

/** Every table a statement is built for: the live tables and the ones rebuild fills beside them. */
export type TableName =
  | "story_events"
  | "story_contents"
  | "stories"
  | "story_modules"
  | "story_versions"
  | "collaborators"
  | "story_invitations"
  | "stories_rebuild"
  | "story_modules_rebuild"
  | "story_versions_rebuild"
  // comments: a stream of their own per story and its read table (./commentRows.ts)
  | "story_comment_events"
  | "story_comments"
  | "collaborators_rebuild"
  | "story_invitations_rebuild"
  // branches: projected from BranchCreated, rebuilt in place (./branchProjection.ts)
  | "story_branches";

/** The SQL type a field of this TypeScript type is read back as from JSON. */
type SqlTypeOf<T> = [NonNullable<T>] extends [Date]
  ? "timestamptz"
  : [NonNullable<T>] extends [string]
    ? "uuid" | "text"
    : [NonNullable<T>] extends [number]
      ? "int"
      : [NonNullable<T>] extends [boolean]
        ? "boolean"
        : [NonNullable<T>] extends [readonly number[]]
          ? "int[]"
          : "jsonb";

/**
 * Each field of `Row`, no more and no fewer: its column (null for a field that only travels, for
 * another column's expression), its SQL type, and the expression that computes the column from
 * the row `x` when it is not the field itself.
 */
export type ColumnMap<Row> = {
  readonly [Field in keyof Row]-?: readonly [column: string | null, sqlType: SqlTypeOf<Row[Field]>, expression?: string];
};

export const CONTENT_COLUMNS: ColumnMap<ContentRow> = {
  storyId: ["story_id", "uuid"],
  hash: ["hash", "text"],
  // a field holding JSON null is content too: jsonb_to_recordset reads it as SQL NULL
  value: ["value", "jsonb", `coalesce(x."value", 'null'::jsonb)`],
};

export const EVENT_COLUMNS: ColumnMap<StoryEventRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  seq: ["seq", "int"],
  type: ["type", "text"],
  schemaVersion: ["schema_version", "int"],
  payload: ["payload", "jsonb"],
  actorId: ["actor_id", "uuid"],
  createdAt: ["created_at", "timestamptz"],
  activeVersionNumber: ["active_version_number", "int"],
  idempotencyKey: ["idempotency_key", "text"],
  requestHash: ["request_hash", "text"],
};

export const STORY_COLUMNS: ColumnMap<StoryRow> = {
  id: ["id", "uuid"],
  userId: ["user_id", "uuid"],
  title: ["title", "text"],
  logline: ["logline", "text"],
  genre: ["genre", "text"],
  createdAt: ["created_at", "timestamptz"],
  updatedAt: ["updated_at", "timestamptz"],
  isComplete: ["is_complete", "boolean"],
  activeVersionId: ["active_version_id", "uuid"],
  activeVersionNumber: ["active_version_number", "int"],
  revision: ["revision", "int"],
  latestVersionNumber: ["latest_version_number", "int"],
  redoVersionNumbers: ["redo_version_numbers", "int[]"],
  undoStacks: ["undo_stacks", "jsonb"],
  redoStacks: ["redo_stacks", "jsonb"],
  trashedAt: ["trashed_at", "timestamptz"],
};

export const MODULE_COLUMNS: ColumnMap<StoryModuleRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  moduleName: ["module_name", "text"],
  inputText: ["input_text", "text"],
  // content stored with this statement travels whole; content stored before is read by reference
  outputText: ["output_text", "jsonb", `coalesce(x."outputText", story_output(x."storyId", x."outputRefs"))`],
  outputRefs: [null, "jsonb"],
  moduleOrder: ["module_order", "int"],
  createdAt: ["created_at", "timestamptz"],
  updatedAt: ["updated_at", "timestamptz"],
  updatedBy: ["updated_by", "uuid"],
};

export const VERSION_COLUMNS: ColumnMap<StoryVersionRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  versionNumber: ["version_number", "int"],
  outputRefs: ["output_refs", "jsonb"],
  inputRefs: ["input_refs", "jsonb"],
  parentVersionId: ["parent_version_id", "uuid"],
  eventSeq: ["event_seq", "int"],
  createdAt: ["created_at", "timestamptz"],
  label: ["label", "text"],
  generationId: ["generation_id", "uuid"],
  authorId: ["author_id", "uuid"],
  writtenIn: ["written_in", "jsonb"],
};

export const COLLABORATOR_COLUMNS: ColumnMap<CollaboratorRow> = {
  storyId: ["story_id", "uuid"],
  userId: ["user_id", "uuid"],
  role: ["role", "text"],
  invitedBy: ["invited_by", "uuid"],
  createdAt: ["created_at", "timestamptz"],
  updatedAt: ["updated_at", "timestamptz"],
};

export const INVITATION_COLUMNS: ColumnMap<InvitationRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  email: ["email", "text"],
  role: ["role", "text"],
  tokenHash: ["token_hash", "text"],
  invitedBy: ["invited_by", "uuid"],
  createdAt: ["created_at", "timestamptz"],
  expiresAt: ["expires_at", "timestamptz"],
  status: ["status", "text"],
  respondedAt: ["responded_at", "timestamptz"],
  acceptedBy: ["accepted_by", "uuid"],
};

export const BRANCH_COLUMNS: ColumnMap<StoryBranchRow> = {
  storyId: ["story_id", "uuid"],
  branchParentId: ["branch_parent_id", "uuid"],
  parentVersionNumber: ["parent_version_number", "int"],
  branchLabel: ["branch_label", "text"],
  createdBy: ["created_by", "uuid"],
  createdAt: ["created_at", "timestamptz"],
};

/** The map of some fields only: for an UPDATE that sets those. */
export function pick<Row, Field extends keyof Row>(columns: ColumnMap<Row>, fields: readonly Field[]): ColumnMap<Pick<Row, Field>> {
  return Object.fromEntries(Object.entries(columns).filter(([field]) => (fields as readonly PropertyKey[]).includes(field))) as ColumnMap<Pick<Row, Field>>;
}

/** The map without some fields: for an UPDATE that leaves those as they are. */
export function omit<Row, Field extends keyof Row>(columns: ColumnMap<Row>, fields: readonly Field[]): ColumnMap<Omit<Row, Field>> {
  return Object.fromEntries(Object.entries(columns).filter(([field]) => !(fields as readonly PropertyKey[]).includes(field))) as ColumnMap<Omit<Row, Field>>;
}

/** The story's row keeps its creation time (its owner changes by transfer); a module row changes only in content and time. */
export const STORY_CHANGE_COLUMNS = omit(STORY_COLUMNS, ["createdAt"]);
/** What identifies a member's row. */
export const COLLABORATOR_KEY_COLUMNS = pick(COLLABORATOR_COLUMNS, ["storyId", "userId"]);
export const MODULE_CHANGE_COLUMNS = pick(MODULE_COLUMNS, ["id", "storyId", "inputText", "outputText", "outputRefs", "updatedAt", "updatedBy"]);
/** A version's label: the one thing a later event changes in a version's row. */
export const LABEL_COLUMNS = pick(VERSION_COLUMNS, ["storyId", "versionNumber", "label"]);

/** What an INSERT or UPDATE does besides: only when a condition holds; skipping rows already there. */
export type WriteOptions = { onlyIf?: Prisma.Sql; skipExisting?: boolean };

/** `INSERT INTO table (columns) SELECT … FROM jsonb_to_recordset(rows)`: every field of the map. */
export function insertRows<Row>(table: TableName, columns: ColumnMap<Row>, rows: readonly Row[], options: WriteOptions = {}): Prisma.Sql {
  const fields = fieldsOf(columns);
  const stored = fields.filter(([, column]) => column !== null);
  return Prisma.sql`INSERT INTO ${Prisma.raw(table)} (${Prisma.raw(stored.map(([, column]) => quoted(column!)).join(", "))})
  SELECT ${Prisma.raw(stored.map(valueOf).join(", "))}
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${recordDefinition(fields)})
  ${options.onlyIf ? Prisma.sql`WHERE ${options.onlyIf}` : Prisma.empty}
  ${options.skipExisting ? Prisma.sql`ON CONFLICT DO NOTHING` : Prisma.empty}`;
}

/**
 * `UPDATE table SET … FROM jsonb_to_recordset(rows) WHERE …`: the rows are found by the `key`
 * fields, and every other field of the map is set.
 */
export function updateRows<Row, Key extends keyof Row>(
  table: TableName,
  columns: ColumnMap<Row>,
  key: readonly Key[],
  rows: readonly Row[],
  options: Pick<WriteOptions, "onlyIf"> = {},
): Prisma.Sql {
  const fields = fieldsOf(columns);
  const isKey = ([field]: Entry) => (key as readonly string[]).includes(field);
  const set = fields.filter((f) => !isKey(f) && f[1] !== null).map((entry) => `${quoted(entry[1]!)} = ${valueOf(entry)}`);
  const match = fields.filter(isKey).map(([field, column]) => `t.${quoted(column!)} = x.${quoted(field)}`);
  return Prisma.sql`UPDATE ${Prisma.raw(table)} t SET ${Prisma.raw(set.join(", "))}
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${recordDefinition(fields)})
   WHERE ${Prisma.raw(match.join(" AND "))} ${options.onlyIf ? Prisma.sql`AND ${options.onlyIf}` : Prisma.empty}`;
}

/**
 * `INSERT … ON CONFLICT (key) DO UPDATE`: rows new to the table are inserted, rows already there
 * (by the `key` fields' columns) get every other field of the map.
 */
export function upsertRows<Row, Key extends keyof Row>(
  table: TableName,
  columns: ColumnMap<Row>,
  key: readonly Key[],
  rows: readonly Row[],
  options: Pick<WriteOptions, "onlyIf"> = {},
): Prisma.Sql {
  const fields = fieldsOf(columns);
  const isKey = ([field]: Entry) => (key as readonly string[]).includes(field);
  const conflict = fields.filter(isKey).map(([, column]) => quoted(column!));
  const set = fields.filter((f) => !isKey(f) && f[1] !== null).map(([, column]) => `${quoted(column!)} = EXCLUDED.${quoted(column!)}`);
  return Prisma.sql`${insertRows(table, columns, rows, { onlyIf: options.onlyIf })}
  ON CONFLICT (${Prisma.raw(conflict.join(", "))}) DO UPDATE SET ${Prisma.raw(set.join(", "))}`;
}

/** `DELETE FROM table USING jsonb_to_recordset(rows)`: the rows whose every field of the map matches. */
export function deleteRows<Row>(table: TableName, columns: ColumnMap<Row>, rows: readonly Row[], options: Pick<WriteOptions, "onlyIf"> = {}): Prisma.Sql {
  const fields = fieldsOf(columns);
  const match = fields.map(([field, column]) => `t.${quoted(column!)} = x.${quoted(field)}`);
  return Prisma.sql`DELETE FROM ${Prisma.raw(table)} t
    USING jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${recordDefinition(fields)})
   WHERE ${Prisma.raw(match.join(" AND "))} ${options.onlyIf ? Prisma.sql`AND ${options.onlyIf}` : Prisma.empty}`;
}

/** One field of a map: its name in the row (and the JSON), its column, its SQL type, its expression. */
export type Entry = readonly [field: string, column: string | null, sqlType: string, expression?: string];

export function fieldsOf<Row>(columns: ColumnMap<Row>): Entry[] {
  return Object.entries(columns as Record<string, readonly [string | null, string, string?]>).map(([field, [column, sqlType, expression]]) => [
    field,
    column,
    sqlType,
    expression,
  ]);
}

const valueOf = ([field, , , expression]: Entry) => expression ?? `x.${quoted(field)}`;

const recordDefinition = (fields: readonly Entry[]) => Prisma.raw(fields.map(([field, , sqlType]) => `${quoted(field)} ${sqlType}`).join(", "));

const quoted = (name: string) => `"${name}"`;
