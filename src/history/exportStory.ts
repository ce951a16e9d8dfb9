// Builds a story's export: its details, current modules, every version and the full log.
// Versions and events are read a page at a time, so that an export can be streamed (a story of
// thousands of versions is hundreds of megabytes of JSON) as well as built whole for GraphQL.
import { MODULES, inStoryOrder, type JsonObject, type ModuleInputs, type ModuleOutputs } from "../domain/catalogue.ts";
import type { DbClient } from "../database/types.ts";
import { readStream } from "../eventstore/eventStore.ts";
import { readCommentStream } from "../eventstore/commentStream.ts";
import { publicPayload } from "../domain/membership.ts";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type StoryExport } from "./exportFormat.ts";

/** Everything of an export but its versions and its log, which are read page by page. */
export type StoryExportHeader = Omit<StoryExport, "versions" | "events" | "comments">;
type ExportedVersion = StoryExport["versions"][number];
type ExportedEvent = StoryExport["events"][number];
type ExportedComment = NonNullable<StoryExport["comments"]>[number];

/** Rows per statement: a page of versions holds a full snapshot each (50 KB and more). */
const PAGE_ROWS = 50;

/** null when there is no such story shared with this member, in any role, or it is in the trash (memberId null: any story, for operators). */
export async function readStoryExportHeader(db: DbClient, storyId: string, memberId: string | null): Promise<StoryExportHeader | null> {
  const story = await db.story.findFirst({ where: { id: storyId, ...(memberId === null ? {} : { trashedAt: null, collaborators: { some: { userId: memberId } } }) } });
  if (!story) return null;
  const modules = await db.storyModule.findMany({ where: { storyId }, orderBy: { moduleOrder: "asc" } });
  return {
    format: EXPORT_FORMAT,
    formatVersion: EXPORT_FORMAT_VERSION,
    exportedAt: new Date().toISOString(),
    story: {
      id: story.id,
      title: story.title,
      logline: story.logline,
      genre: story.genre,
      isComplete: story.isComplete,
      createdAt: story.createdAt.toISOString(),
      updatedAt: story.updatedAt.toISOString(),
      revision: story.revision,
      activeVersionNumber: story.activeVersionNumber,
    },
    modules: MODULES.map((m) => {
      const row = modules.find((r) => r.moduleName === m.moduleName);
      return {
        name: m.name,
        title: m.title,
        order: m.order,
        inputText: row?.inputText ?? null,
        output: (row?.outputText ?? null) as JsonObject | null,
        updatedAt: (row?.updatedAt ?? story.createdAt).toISOString(),
      };
    }),
  };
}

/** A version as exports read it: its snapshot and inputs as PostgreSQL's JSON text, parsed only when needed. */
type VersionText = Omit<ExportedVersion, "snapshot" | "inputs"> & { snapshotJson: string; inputsJson: string };
type VersionRow = { id: string; number: number; parentId: string | null; label: string | null; snapshotJson: string; inputsJson: string; eventSeq: number; createdAt: Date };

/**
 * The one read of versions' snapshots for exports: the versions after `afterNumber` made by
 * events up to `revision` (later ones belong to a newer export), oldest first. The snapshots come
 * as text, so that a streamed export passes them on without parsing and printing them again.
 */
function readVersionPage(db: DbClient, storyId: string, revision: number, afterNumber: number): Promise<VersionRow[]> {
  return db.$queryRaw<VersionRow[]>`
    SELECT id, version_number AS "number", parent_version_id AS "parentId", label,
           full_snapshot::text AS "snapshotJson", inputs::text AS "inputsJson", event_seq AS "eventSeq", created_at AS "createdAt"
      FROM story_version_snapshots
     WHERE story_id = ${storyId}::uuid AND version_number > ${afterNumber} AND event_seq <= ${revision}
     ORDER BY version_number
     LIMIT ${PAGE_ROWS}`;
}

/** The header's versions, oldest first, a page at a time. */
async function* versionTextPages(db: DbClient, header: StoryExportHeader): AsyncGenerator<VersionText[]> {
  // a parent is always older than its child: it was read on an earlier page or this one
  const numberOf = new Map<string, number>();
  for (let after = 0; ; ) {
    const rows = await readVersionPage(db, header.story.id, header.story.revision, after);
    if (rows.length === 0) return;
    for (const row of rows) numberOf.set(row.id, row.number);
    yield rows.map((v) => ({
      number: v.number,
      parentNumber: v.parentId ? (numberOf.get(v.parentId) ?? null) : null,
      label: v.label,
      snapshotJson: v.snapshotJson,
      inputsJson: v.inputsJson,
      eventSeq: v.eventSeq,
      createdAt: v.createdAt.toISOString(),
    }));
    after = rows[rows.length - 1]!.number;
  }
}

/** A version as the export document holds it, printed with its snapshot and inputs as stored. */
function versionJson(v: VersionText): string {
  const { snapshotJson, inputsJson, ...fields } = v;
  const head = JSON.stringify({ number: fields.number, parentNumber: fields.parentNumber, label: fields.label });
  return `${head.slice(0, -1)},"snapshot":${snapshotJson},"inputs":${inputsJson},"eventSeq":${fields.eventSeq},"createdAt":${JSON.stringify(fields.createdAt)}}`;
}

/**
 * The header's log, oldest first, a page at a time, up to its revision. A log that ends before
 * it (the story was deleted meanwhile) is an error, never an export that looks whole.
 */
async function* exportedEventPages(db: DbClient, header: StoryExportHeader): AsyncGenerator<ExportedEvent[]> {
  const { id, revision } = header.story;
  for (let after = 0; after < revision; ) {
    const events = await readStream(db, id, { after, limit: Math.min(PAGE_ROWS, revision - after) });
    if (events.length === 0) throw new Error(`story ${id}: its log ends at ${after}, before the exported revision ${revision}`);
    yield events.map((e) => ({
      seq: e.seq,
      type: e.type,
      schemaVersion: e.schemaVersion,
      // an invitation's email and token hash are not the story's: an export never carries them
      payload: publicPayload(e.type, e.payload) as JsonObject,
      createdAt: e.createdAt.toISOString(),
    }));
    after = events[events.length - 1]!.seq;
  }
}

/**
 * The story's comment log, oldest first, a page at a time. A deleted comment's text is gone from
 * the API, so it is gone from the export too: its bodies read "" in every event that carried one.
 */
async function* exportedCommentPages(db: DbClient, header: StoryExportHeader): AsyncGenerator<ExportedComment[]> {
  const deleted = new Set(
    (await db.storyComment.findMany({ where: { storyId: header.story.id, deletedAt: { not: null } }, select: { id: true } })).map((c) => c.id),
  );
  const withoutDeletedBody = (payload: JsonObject): JsonObject =>
    typeof payload.body === "string" && typeof payload.commentId === "string" && deleted.has(payload.commentId) ? { ...payload, body: "" } : payload;
  for (let after = 0; ; ) {
    const events = await readCommentStream(db, header.story.id, { after, limit: PAGE_ROWS });
    if (events.length === 0) return;
    yield events.map((e) => ({
      seq: e.seq,
      type: e.type,
      schemaVersion: e.schemaVersion,
      payload: withoutDeletedBody(e.payload as unknown as JsonObject),
      actorId: e.actorId,
      createdAt: e.createdAt.toISOString(),
    }));
    after = events[events.length - 1]!.seq;
  }
}

/** The whole export as one value (GraphQL's exportStory, Markdown); null as readStoryExportHeader. */
export async function buildStoryExport(db: DbClient, storyId: string, memberId: string | null): Promise<StoryExport | null> {
  const header = await readStoryExportHeader(db, storyId, memberId);
  if (!header) return null;
  const versions: ExportedVersion[] = [];
  for await (const page of versionTextPages(db, header)) {
    for (const v of page) {
      versions.push({
        number: v.number,
        parentNumber: v.parentNumber,
        label: v.label,
        snapshot: inStoryOrder(JSON.parse(v.snapshotJson)) as ModuleOutputs,
        inputs: inStoryOrder(JSON.parse(v.inputsJson)) as ModuleInputs,
        eventSeq: v.eventSeq,
        createdAt: v.createdAt,
      });
    }
  }
  const events: ExportedEvent[] = [];
  for await (const page of exportedEventPages(db, header)) events.push(...page);
  const comments: ExportedComment[] = [];
  for await (const page of exportedCommentPages(db, header)) comments.push(...page);
  return { ...header, versions, events, comments };
}

/**
 * The export as JSON text, one version or event at a time, never held whole: the same value as
 * buildStoryExport's (snapshot keys in PostgreSQL's order rather than the story's).
 */
export async function* storyExportJson(db: DbClient, header: StoryExportHeader): AsyncGenerator<string> {
  // the header's object without its closing brace, then the two arrays
  yield `${JSON.stringify(header).slice(0, -1)},"versions":[`;
  yield* jsonArrayItems(versionTextPages(db, header), versionJson);
  yield `],"events":[`;
  yield* jsonArrayItems(exportedEventPages(db, header), (event) => JSON.stringify(event));
  yield `],"comments":[`;
  yield* jsonArrayItems(exportedCommentPages(db, header), (comment) => JSON.stringify(comment));
  yield "]}";
}

async function* jsonArrayItems<T>(pages: AsyncGenerator<T[]>, print: (item: T) => string): AsyncGenerator<string> {
  let first = true;
  for await (const page of pages) {
    for (const item of page) {
      yield first ? print(item) : `,${print(item)}`;
      first = false;
    }
  }
}
