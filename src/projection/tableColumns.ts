// SQL column lists from one map per table. A map names every field of a row type with its
// column and the SQL type the field travels as inside JSON; each INSERT column list,
// jsonb_to_recordset definition and UPDATE SET list is generated from it. The maps are typed
// against the row types (./storyRows.ts), so a renamed field fails to compile instead of
// quietly writing NULL. Rows travel as one bound JSON parameter per list; the only text
// spliced into a statement is the names written in this file (`TableName` and the maps).
import { Prisma } from "../generated/prisma/client.ts";
import type { StoryEventRow } from "../eventstore/eventStore.ts";
import type { StoryModuleRow, StoryRow, StoryVersionRow } from "./storyRows.ts";

/** Every table a statement is built for: the live tables and the ones rebuild fills beside them. */
export type TableName =
  | "story_events"
  | "stories"
  | "story_modules"
  | "story_versions"
  | "stories_rebuild"
  | "story_modules_rebuild"
  | "story_versions_rebuild";

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

/** Each field of `Row`, no more and no fewer: its column, and its SQL type. */
export type ColumnMap<Row> = { readonly [Field in keyof Row]-?: readonly [column: string, sqlType: SqlTypeOf<Row[Field]>] };

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
};

export const MODULE_COLUMNS: ColumnMap<StoryModuleRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  moduleName: ["module_name", "text"],
  inputText: ["input_text", "text"],
  outputText: ["output_text", "jsonb"],
  moduleOrder: ["module_order", "int"],
  createdAt: ["created_at", "timestamptz"],
  updatedAt: ["updated_at", "timestamptz"],
};

export const VERSION_COLUMNS: ColumnMap<StoryVersionRow> = {
  id: ["id", "uuid"],
  storyId: ["story_id", "uuid"],
  versionNumber: ["version_number", "int"],
  fullSnapshot: ["full_snapshot", "jsonb"],
  inputs: ["inputs", "jsonb"],
  parentVersionId: ["parent_version_id", "uuid"],
  eventSeq: ["event_seq", "int"],
  createdAt: ["created_at", "timestamptz"],
  label: ["label", "text"],
  generationId: ["generation_id", "uuid"],
};

/** The map of some fields only: for an UPDATE that sets those. */
export function pick<Row, Field extends keyof Row>(columns: ColumnMap<Row>, fields: readonly Field[]): ColumnMap<Pick<Row, Field>> {
  return Object.fromEntries(Object.entries(columns).filter(([field]) => (fields as readonly PropertyKey[]).includes(field))) as ColumnMap<Pick<Row, Field>>;
}

/** The map without some fields: for an UPDATE that leaves those as they are. */
export function omit<Row, Field extends keyof Row>(columns: ColumnMap<Row>, fields: readonly Field[]): ColumnMap<Omit<Row, Field>> {
  return Object.fromEntries(Object.entries(columns).filter(([field]) => !(fields as readonly PropertyKey[]).includes(field))) as ColumnMap<Omit<Row, Field>>;
}

/** `INSERT INTO table (columns) SELECT … FROM jsonb_to_recordset(rows)`: every field of the map. */
export function insertRows<Row>(table: TableName, columns: ColumnMap<Row>, rows: readonly Row[]): Prisma.Sql {
  const fields = fieldsOf(columns);
  return Prisma.sql`INSERT INTO ${Prisma.raw(table)} (${Prisma.raw(fields.map(([, column]) => quoted(column)).join(", "))})
  SELECT ${Prisma.raw(fields.map(([field]) => `x.${quoted(field)}`).join(", "))}
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${recordDefinition(fields)})`;
}

/**
 * `UPDATE table SET … FROM jsonb_to_recordset(rows) WHERE …`: the rows are found by the `key`
 * fields, and every other field of the map is set.
 */
export function updateRows<Row, Key extends keyof Row>(table: TableName, columns: ColumnMap<Row>, key: readonly Key[], rows: readonly Row[]): Prisma.Sql {
  const fields = fieldsOf(columns);
  const isKey = ([field]: Entry) => (key as readonly string[]).includes(field);
  const set = fields.filter((f) => !isKey(f)).map(([field, column]) => `${quoted(column)} = x.${quoted(field)}`);
  const match = fields.filter(isKey).map(([field, column]) => `t.${quoted(column)} = x.${quoted(field)}`);
  return Prisma.sql`UPDATE ${Prisma.raw(table)} t SET ${Prisma.raw(set.join(", "))}
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${recordDefinition(fields)})
   WHERE ${Prisma.raw(match.join(" AND "))}`;
}

/** One field of a map: its name in the row (and the JSON), its column, its SQL type. */
export type Entry = readonly [field: string, column: string, sqlType: string];

export function fieldsOf<Row>(columns: ColumnMap<Row>): Entry[] {
  return Object.entries(columns as Record<string, readonly [string, string]>).map(([field, [column, sqlType]]) => [field, column, sqlType]);
}

const recordDefinition = (fields: readonly Entry[]) => Prisma.raw(fields.map(([field, , sqlType]) => `${quoted(field)} ${sqlType}`).join(", "));

const quoted = (name: string) => `"${name}"`;
