// Loads stories' read rows in bulk: what rebuild writes into the new tables it fills beside the
// live ones, whole stories at first, then the changes its catch-up finds. New stories and their
// versions, the bulk, go by COPY: each row a line of COPY's text format, its fields in the order
// of its table's column map (./tableColumns.ts), so the loader follows the maps as they change. Module rows (five a story) go by INSERT, which puts the content of outputs
// held as references back together (an expression COPY cannot run); content that a log from
// before content by reference brings is stored first, as the write path stores it.
import type { BulkStatements } from "./bulkConnection.ts";
import { planNewStory, type NewStoryPlan, type StoryChangePlan } from "./projectionPlan.ts";
import { foldEvents, type StoryState } from "../domain/story.ts";
import type { StoredEvent } from "../eventstore/eventStore.ts";
import type { ContentRow } from "../domain/content.ts";
import type { CollaboratorRow, InvitationRow, StoryModuleRow } from "./storyRows.ts";
import {
  COLLABORATOR_COLUMNS,
  COLLABORATOR_KEY_COLUMNS,
  CONTENT_COLUMNS,
  deleteRows,
  INVITATION_COLUMNS,
  upsertRows,
  fieldsOf,
  insertRows,
  LABEL_COLUMNS,
  MODULE_CHANGE_COLUMNS,
  MODULE_COLUMNS,
  STORY_CHANGE_COLUMNS,
  STORY_COLUMNS,
  updateRows,
  VERSION_COLUMNS,
  type Entry,
  type TableName,
} from "./tableColumns.ts";

/** Rows per COPY: large enough to amortise round trips, small enough for memory. */
const ROWS_PER_LOAD = 10_000;

/** The read tables a load writes to: rebuild's new ones. */
export type ReadTableNames = {
  readonly stories: TableName;
  readonly modules: TableName;
  readonly versions: TableName;
  readonly collaborators: TableName;
  readonly invitations: TableName;
};

/** Lines of COPY text for stories and versions, and module, content, member and invitation rows, gathered until they are loaded together. */
export type NewStoryLines = {
  stories: string[];
  modules: StoryModuleRow[];
  versions: string[];
  contents: ContentRow[];
  collaborators: CollaboratorRow[];
  invitations: InvitationRow[];
  rows: number;
};

export const noLines = (): NewStoryLines => ({ stories: [], modules: [], versions: [], contents: [], collaborators: [], invitations: [], rows: 0 });

export function addNewStory(lines: NewStoryLines, plan: NewStoryPlan): void {
  lines.stories.push(copyLine(STORY_FIELDS, plan.story));
  lines.modules.push(...plan.modules);
  lines.contents.push(...plan.contents);
  lines.collaborators.push(...plan.collaborators);
  lines.invitations.push(...plan.invitations);
  for (const version of plan.versions) lines.versions.push(copyLine(VERSION_FIELDS, version));
  lines.rows += 1 + plan.modules.length + plan.versions.length + plan.collaborators.length + plan.invitations.length;
}

/** One COPY per table, parents first: when catch-up loads, the foreign keys are in place. */
export async function loadNewStories(db: BulkStatements, lines: NewStoryLines, tables: ReadTableNames): Promise<void> {
  if (lines.contents.length > 0) await db.query(...statement(insertRows("story_contents", CONTENT_COLUMNS, lines.contents, { skipExisting: true })));
  if (lines.stories.length > 0) await db.copy(copyTarget(tables.stories, STORY_FIELDS), lines.stories);
  if (lines.modules.length > 0) await db.query(...statement(insertRows(tables.modules, MODULE_COLUMNS, lines.modules)));
  if (lines.versions.length > 0) await db.copy(copyTarget(tables.versions, VERSION_FIELDS), lines.versions);
  if (lines.collaborators.length > 0) await db.query(...statement(insertRows(tables.collaborators, COLLABORATOR_COLUMNS, lines.collaborators)));
  if (lines.invitations.length > 0) await db.query(...statement(insertRows(tables.invitations, INVITATION_COLUMNS, lines.invitations)));
}

/**
 * Folds each stream and loads its rows into `tables`, batch after batch, each batch on
 * the next of `loaders`. Loading overlaps folding: at most one load per loader is in flight.
 * Returns how many streams and events it projected.
 */
export async function projectStreams(
  loaders: readonly BulkStatements[],
  tables: ReadTableNames,
  streams: AsyncIterable<[string, StoredEvent[]]>,
  options: {
    onLoaded?: (done: { streams: number; events: number }) => void;
    /** each story's state once folded: catch-up keeps some, to fold only what follows next time */
    onFolded?: (state: StoryState) => void;
  } = {},
): Promise<{ streams: number; events: number }> {
  const { onLoaded = () => {}, onFolded } = options;
  const done = { streams: 0, events: 0 };
  let lines = noLines();
  const loading = loaders.map(() => Promise.resolve());
  let batches = 0;
  // progress is reported in the order batches were read, whichever loader finishes first
  let reported = Promise.resolve();
  const load = async () => {
    const batch = lines;
    const counted = { ...done };
    lines = noLines();
    const turn = batches++ % loaders.length;
    await loading[turn];
    const loaded = loadNewStories(loaders[turn]!, batch, tables);
    loading[turn] = loaded;
    reported = reported.then(() => loaded).then(() => onLoaded(counted));
    // a failed load is reported by the awaits below, not as an unhandled rejection
    loaded.catch(() => {});
    reported.catch(() => {});
  };
  for await (const [storyId, events] of streams) {
    const state = foldEvents(storyId, events);
    onFolded?.(state);
    addNewStory(lines, planNewStory(state));
    done.streams++;
    done.events += events.length;
    if (lines.rows >= ROWS_PER_LOAD) await load();
  }
  await load();
  await Promise.all(loading);
  await reported;
  return done;
}

/**
 * Applies changes to stories already in the tables, many stories a statement per kind of row:
 * content first, then the new versions (which the stories' rows point at), then the rest.
 */
export async function applyStoryChanges(db: BulkStatements, plans: readonly StoryChangePlan[], tables: ReadTableNames): Promise<void> {
  if (plans.length === 0) return;
  const contents = plans.flatMap((p) => p.contents);
  const versions = plans.flatMap((p) => p.versions);
  const labels = plans.flatMap((p) => p.labels);
  const modules = plans.flatMap((p) => p.modules);
  if (contents.length > 0) await db.query(...statement(insertRows("story_contents", CONTENT_COLUMNS, contents, { skipExisting: true })));
  if (versions.length > 0) await db.query(...statement(insertRows(tables.versions, VERSION_COLUMNS, versions)));
  if (labels.length > 0) await db.query(...statement(updateRows(tables.versions, LABEL_COLUMNS, ["storyId", "versionNumber"], labels)));
  await db.query(...statement(updateRows(tables.stories, STORY_CHANGE_COLUMNS, ["id"], plans.map((p) => p.story))));
  if (modules.length > 0) await db.query(...statement(updateRows(tables.modules, MODULE_CHANGE_COLUMNS, ["id"], modules)));
  const collaborators = plans.flatMap((p) => p.collaborators);
  const removed = plans.flatMap((p) => p.removedCollaborators);
  const invitations = plans.flatMap((p) => p.invitations);
  if (removed.length > 0) await db.query(...statement(deleteRows(tables.collaborators, COLLABORATOR_KEY_COLUMNS, removed)));
  if (collaborators.length > 0) {
    await db.query(...statement(upsertRows(tables.collaborators, COLLABORATOR_COLUMNS, ["storyId", "userId"], collaborators)));
  }
  if (invitations.length > 0) await db.query(...statement(upsertRows(tables.invitations, INVITATION_COLUMNS, ["id"], invitations)));
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
