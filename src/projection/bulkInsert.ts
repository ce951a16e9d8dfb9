// Loads new stories' read rows: what rebuild writes into the new tables it fills beside the live
// ones. Stories and versions, the bulk, go by COPY: each row a line of COPY's text format, its
// fields in the order of its table's column map (./tableColumns.ts), so the loader follows the
// maps as they change. Module rows (five a story) go by INSERT, which puts the content of outputs
// held as references back together (an expression COPY cannot run); content that a log from
// before content by reference brings is stored first, as the write path stores it.
import type { BulkStatements } from "./bulkConnection.ts";
import type { NewStoryPlan } from "./projectionPlan.ts";
import type { ContentRow } from "../domain/content.ts";
import type { StoryModuleRow } from "./storyRows.ts";
import { CONTENT_COLUMNS, fieldsOf, insertRows, MODULE_COLUMNS, STORY_COLUMNS, VERSION_COLUMNS, type Entry, type TableName } from "./tableColumns.ts";

/** The three read tables a load writes to: rebuild's new ones. */
export type ReadTableNames = {
  readonly stories: TableName;
  readonly modules: TableName;
  readonly versions: TableName;
};

/** Lines of COPY text for stories and versions, and module and content rows, gathered until they are loaded together. */
export type NewStoryLines = { stories: string[]; modules: StoryModuleRow[]; versions: string[]; contents: ContentRow[]; rows: number };

export const noLines = (): NewStoryLines => ({ stories: [], modules: [], versions: [], contents: [], rows: 0 });

export function addNewStory(lines: NewStoryLines, plan: NewStoryPlan): void {
  lines.stories.push(copyLine(STORY_FIELDS, plan.story));
  lines.modules.push(...plan.modules);
  lines.contents.push(...plan.contents);
  for (const version of plan.versions) lines.versions.push(copyLine(VERSION_FIELDS, version));
  lines.rows += 1 + plan.modules.length + plan.versions.length;
}

/** One COPY per table, parents first: when catch-up loads, the foreign keys are in place. */
export async function loadNewStories(db: BulkStatements, lines: NewStoryLines, tables: ReadTableNames): Promise<void> {
  if (lines.contents.length > 0) await db.query(...statement(insertRows("story_contents", CONTENT_COLUMNS, lines.contents, { skipExisting: true })));
  if (lines.stories.length > 0) await db.copy(copyTarget(tables.stories, STORY_FIELDS), lines.stories);
  if (lines.modules.length > 0) await db.query(...statement(insertRows(tables.modules, MODULE_COLUMNS, lines.modules)));
  if (lines.versions.length > 0) await db.copy(copyTarget(tables.versions, VERSION_FIELDS), lines.versions);
}

const STORY_FIELDS = fieldsOf(STORY_COLUMNS);
const VERSION_FIELDS = fieldsOf(VERSION_COLUMNS);

/** A statement built by ./tableColumns.ts as text and values, for the driver. */
const statement = (sql: { text: string; values: unknown[] }) => [sql.text, sql.values] as const;

/** `table (columns)`, from the names in ./tableColumns.ts only. */
const copyTarget = (table: TableName, entries: readonly Entry[]) => `${table} (${entries.map(([, column]) => `"${column}"`).join(", ")})`;

function copyLine(entries: readonly Entry[], row: object): string {
  const values = row as Record<string, unknown>;
  let line = "";
  for (let i = 0; i < entries.length; i++) {
    const [field, , sqlType] = entries[i]!;
    if (i > 0) line += "\t";
    line += copyText(values[field], sqlType);
  }
  return line + "\n";
}

/** A field as COPY's text format reads it for its column's SQL type. */
function copyText(value: unknown, sqlType: string): string {
  if (value === null || value === undefined) return "\\N";
  switch (sqlType) {
    case "jsonb":
      // JSON writes tabs and line breaks as escapes already: only its backslashes need doubling
      return doubledBackslashes(JSON.stringify(value));
    case "timestamptz":
      return (value as Date).toISOString();
    case "boolean":
      return value ? "t" : "f";
    case "int":
      return String(value);
    case "int[]":
      return `{${(value as readonly number[]).join(",")}}`;
    default:
      return escaped(String(value));
  }
}

/** COPY's text format gives backslash, tab, newline and carriage return their escapes. */
const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };
const escaped = (text: string) => (SPECIAL.test(text) ? text.replace(SPECIALS, (c) => ESCAPES[c]!) : text);
const doubledBackslashes = (json: string) => (json.includes("\\") ? json.replaceAll("\\", "\\\\") : json);
