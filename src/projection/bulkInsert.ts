// Loads new stories' read rows with COPY: what rebuild writes into the new tables it fills
// beside the live ones. Each row is a line of COPY's text format, its fields in the order of
// its table's column map (./tableColumns.ts), so the loader follows the maps as they change.
import type { BulkStatements } from "./bulkConnection.ts";
import type { NewStoryPlan } from "./projectionPlan.ts";
import { fieldsOf, MODULE_COLUMNS, STORY_COLUMNS, VERSION_COLUMNS, type Entry, type TableName } from "./tableColumns.ts";

/** The three read tables a load writes to: rebuild's new ones. */
export type ReadTableNames = {
  readonly stories: TableName;
  readonly modules: TableName;
  readonly versions: TableName;
};

/** Lines of COPY text for the three tables, gathered until they are loaded together. */
export type NewStoryLines = { stories: string[]; modules: string[]; versions: string[]; rows: number };

export const noLines = (): NewStoryLines => ({ stories: [], modules: [], versions: [], rows: 0 });

export function addNewStory(lines: NewStoryLines, plan: NewStoryPlan): void {
  lines.stories.push(copyLine(STORY_FIELDS, plan.story));
  for (const module of plan.modules) lines.modules.push(copyLine(MODULE_FIELDS, module));
  for (const version of plan.versions) lines.versions.push(copyLine(VERSION_FIELDS, version));
  lines.rows += 1 + plan.modules.length + plan.versions.length;
}

/** One COPY per table, parents first: when catch-up loads, the foreign keys are in place. */
export async function loadNewStories(db: BulkStatements, lines: NewStoryLines, tables: ReadTableNames): Promise<void> {
  if (lines.stories.length > 0) await db.copy(copyTarget(tables.stories, STORY_FIELDS), lines.stories);
  if (lines.modules.length > 0) await db.copy(copyTarget(tables.modules, MODULE_FIELDS), lines.modules);
  if (lines.versions.length > 0) await db.copy(copyTarget(tables.versions, VERSION_FIELDS), lines.versions);
}

const STORY_FIELDS = fieldsOf(STORY_COLUMNS);
const MODULE_FIELDS = fieldsOf(MODULE_COLUMNS);
const VERSION_FIELDS = fieldsOf(VERSION_COLUMNS);

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
