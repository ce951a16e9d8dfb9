// A writer's own data, as one JSON document or a ZIP of per-story exports: the account, their
// memberships and comments in others' stories, the provenance of generations, and every story
// they own in the story export format. Everything is read a page at a time and given out as text
// as it is read, so that an account of many long stories never sits in memory whole.
import { PassThrough, Readable } from "node:stream";
import yazl from "yazl";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { Prisma } from "../generated/prisma/client.ts";
import { readStoryExportHeader, storyExportJson, type StoryExportHeader } from "./exportStory.ts";
import { exportFileName } from "./exportFormat.ts";

export const ACCOUNT_EXPORT_FORMAT = "story-spark.account";
export const ACCOUNT_EXPORT_FORMAT_VERSION = 1;

/** The account document's parts, as `account.json` and the JSON export hold them (`stories` in the JSON export only). */
export type AccountExport = {
  format: typeof ACCOUNT_EXPORT_FORMAT;
  formatVersion: typeof ACCOUNT_EXPORT_FORMAT_VERSION;
  exportedAt: string;
  account: { id: string; email: string | null; username: string; createdAt: string };
  /** the stories of others the user is a member of */
  memberships: { storyId: string; role: string; since: string }[];
  /** the user's comment events in others' stories, oldest first per story (a deleted comment's text is gone) */
  commentsInOthersStories: { storyId: string; seq: number; type: string; payload: unknown; createdAt: string }[];
  /** ai_generations of the user's stories, and the user's own generations in others' stories */
  generations: ExportedGeneration[];
  /** ZIP: the files beside account.json, one per story (stories/…) */
  files?: { storyId: string; title: string; path: string }[];
  /** JSON: every story the user owns, in the story export format */
  stories?: unknown[];
};

type ExportedGeneration = {
  id: string;
  userId: string;
  storyId: string;
  moduleName: string;
  status: string;
  model: string;
  promptVersion: string;
  messages: unknown;
  inputText: string;
  contextVersionNumber: number;
  attempts: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: string | null;
  durationMs: number | null;
  finishReason: string | null;
  errorCode: string | null;
  versionNumber: number | null;
  createdAt: string;
  finishedAt: string | null;
};

/** Rows per statement: generations carry their prompts, stories are exported one at a time. */
const PAGE_ROWS = 100;

/** The JSON export: one document, given out a piece at a time. Null when there is no such user. */
export async function accountExportJson(db: Database, userId: string): Promise<AsyncGenerator<string> | null> {
  const account = await readAccount(db.prisma, userId);
  if (!account) return null;
  return (async function* () {
    yield* accountParts(db.prisma, account);
    yield `,"stories":[`;
    let first = true;
    for await (const header of ownedStoryHeaders(db, userId)) {
      if (!first) yield ",";
      first = false;
      yield* storyExportJson(db.prisma, header);
    }
    yield "]}";
  })();
}

/**
 * The ZIP export, written into a stream as it is read: `account.json`, then one file per story the
 * user owns, `stories/<title>-<id>.json`, each the story's own export. Null when there is no such
 * user. The stream errors (and stops) when a read fails; destroying it stops the reads.
 */
export async function accountExportZip(db: Database, userId: string): Promise<Readable | null> {
  const account = await readAccount(db.prisma, userId);
  if (!account) return null;
  const zip = new yazl.ZipFile();
  const output = new PassThrough();
  let reading: Readable | null = null;
  const fail = (error: Error) => {
    reading?.destroy();
    output.destroy(error);
  };
  zip.on("error", fail);
  // yazl's stream is piped into ours, so that a consumer that goes away stops the story being read
  zip.outputStream.pipe(output);
  output.on("close", () => reading?.destroy());

  const readingFrom = (parts: AsyncGenerator<string>): Readable => {
    reading = Readable.from(parts, { objectMode: false });
    reading.on("error", fail);
    return reading;
  };
  const files: NonNullable<AccountExport["files"]> = [];
  void (async () => {
    // the list of files first (ids and titles only), so that account.json can name them
    for await (const page of ownedStoryPages(db.prisma, userId)) {
      for (const story of page) files.push({ storyId: story.id, title: story.title, path: storyPath(story) });
    }
    zip.addReadStreamLazy("account.json", (done) => done(null, readingFrom(accountDocument(db.prisma, account, files))));
    for (const file of files) {
      zip.addReadStreamLazy(file.path, (done) => done(null, readingFrom(storyFile(db, file.storyId, userId))));
    }
    zip.end();
  })().catch(fail);
  return output;
}

async function* accountDocument(db: DbClient, account: AccountRow, files: AccountExport["files"]): AsyncGenerator<string> {
  yield* accountParts(db, account);
  yield `,"files":${JSON.stringify(files)}}`;
}

/** One story's file: its export, read when the ZIP comes to it. A story gone meanwhile is an error, never a file that looks whole. */
async function* storyFile(db: Database, storyId: string, userId: string): AsyncGenerator<string> {
  const header = await readHeader(db, storyId, userId);
  if (!header) throw new Error(`story ${storyId} is gone since the export began`);
  yield* storyExportJson(db.prisma, header);
}

const storyPath = (story: { id: string; title: string }) => `stories/${exportFileName(story.title, "json").replace(/\.json$/, "")}-${story.id}.json`;

type AccountRow = { id: string; email: string | null; username: string; createdAt: Date };

function readAccount(db: DbClient, userId: string): Promise<AccountRow | null> {
  return db.user.findUnique({ where: { id: userId }, select: { id: true, email: true, username: true, createdAt: true } });
}

/** The document's opening and every part but the stories, without the closing brace. */
async function* accountParts(db: DbClient, account: AccountRow): AsyncGenerator<string> {
  const head = {
    format: ACCOUNT_EXPORT_FORMAT,
    formatVersion: ACCOUNT_EXPORT_FORMAT_VERSION,
    exportedAt: new Date().toISOString(),
    account: { id: account.id, email: account.email, username: account.username, createdAt: account.createdAt.toISOString() },
  };
  yield `${JSON.stringify(head).slice(0, -1)},"memberships":`;
  const memberships = await db.$queryRaw<{ storyId: string; role: string; since: Date }[]>`
    SELECT c.story_id AS "storyId", c.role, c.created_at AS since
      FROM collaborators c JOIN stories s ON s.id = c.story_id
     WHERE c.user_id = ${account.id}::uuid AND s.user_id <> ${account.id}::uuid
     ORDER BY c.created_at, c.story_id`;
  yield JSON.stringify(memberships.map((m) => ({ storyId: m.storyId, role: m.role, since: m.since.toISOString() })));
  yield `,"commentsInOthersStories":[`;
  yield* jsonItems(commentPages(db, account.id));
  yield `],"generations":[`;
  yield* jsonItems(generationPages(db, account.id));
  yield "]";
}

async function* jsonItems(pages: AsyncGenerator<unknown[]>): AsyncGenerator<string> {
  let first = true;
  for await (const page of pages) {
    for (const item of page) {
      yield first ? JSON.stringify(item) : `,${JSON.stringify(item)}`;
      first = false;
    }
  }
}

/** The user's comment events in stories they don't own; a deleted comment's text is gone, as from the API. */
async function* commentPages(db: DbClient, userId: string): AsyncGenerator<AccountExport["commentsInOthersStories"]> {
  for (let after = { storyId: "00000000-0000-0000-0000-000000000000", seq: 0 }; ; ) {
    const rows = await db.$queryRaw<{ storyId: string; seq: number; type: string; payload: unknown; createdAt: Date }[]>`
      SELECT e.story_id AS "storyId", e.seq, e.type, e.created_at AS "createdAt",
             CASE WHEN c.deleted_at IS NOT NULL AND e.payload->'body' IS NOT NULL THEN jsonb_set(e.payload, '{body}', '""'::jsonb) ELSE e.payload END AS payload
        FROM story_comment_events e
        JOIN stories s ON s.id = e.story_id
        LEFT JOIN story_comments c ON c.story_id = e.story_id AND c.id::text = e.payload->>'commentId'
       WHERE e.actor_id = ${userId}::uuid AND s.user_id <> ${userId}::uuid
         AND (e.story_id, e.seq) > (${after.storyId}::uuid, ${after.seq})
       ORDER BY e.story_id, e.seq
       LIMIT ${PAGE_ROWS}`;
    if (rows.length === 0) return;
    yield rows.map((r) => ({ storyId: r.storyId, seq: r.seq, type: r.type, payload: r.payload, createdAt: r.createdAt.toISOString() }));
    const last = rows[rows.length - 1]!;
    after = { storyId: last.storyId, seq: last.seq };
  }
}

/** Generations of the user's stories, and the user's own anywhere, by id. */
async function* generationPages(db: DbClient, userId: string): AsyncGenerator<ExportedGeneration[]> {
  for (let after = "00000000-0000-0000-0000-000000000000"; ; ) {
    const rows = await db.$queryRaw<(Omit<ExportedGeneration, "costUsd" | "createdAt" | "finishedAt"> & { costUsd: string | null; createdAt: Date; finishedAt: Date | null })[]>`
      SELECT g.id, g.user_id AS "userId", g.story_id AS "storyId", g.module_name AS "moduleName", g.status, g.model,
             g.prompt_version AS "promptVersion", g.messages, g.input_text AS "inputText", g.context_version_number AS "contextVersionNumber",
             g.attempts, g.prompt_tokens AS "promptTokens", g.completion_tokens AS "completionTokens", g.cost_usd::text AS "costUsd",
             g.duration_ms AS "durationMs", g.finish_reason AS "finishReason", g.error_code AS "errorCode", g.version_number AS "versionNumber",
             g.created_at AS "createdAt", g.finished_at AS "finishedAt"
        FROM ai_generations g
       WHERE (g.user_id = ${userId}::uuid OR g.story_id IN (SELECT id FROM stories WHERE user_id = ${userId}::uuid))
         AND g.id > ${after}::uuid
       ORDER BY g.id
       LIMIT ${PAGE_ROWS}`;
    if (rows.length === 0) return;
    yield rows.map((g) => ({ ...g, createdAt: g.createdAt.toISOString(), finishedAt: g.finishedAt?.toISOString() ?? null }));
    after = rows[rows.length - 1]!.id;
  }
}

/** The user's stories (ids and titles), a page at a time, by id. */
async function* ownedStoryPages(db: DbClient, userId: string): AsyncGenerator<{ id: string; title: string }[]> {
  for (let after: string | undefined; ; ) {
    const rows = await db.story.findMany({
      where: { userId, ...(after === undefined ? {} : { id: { gt: after } }) },
      select: { id: true, title: true },
      orderBy: { id: "asc" },
      take: PAGE_ROWS,
    });
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
  }
}

/** Each story the user owns, as the header its export starts from; one deleted meanwhile is left out. */
async function* ownedStoryHeaders(db: Database, userId: string): AsyncGenerator<StoryExportHeader> {
  for await (const page of ownedStoryPages(db.prisma, userId)) {
    for (const story of page) {
      const header = await readHeader(db, story.id, userId);
      if (header) yield header;
    }
  }
}

/** The story and its modules as of one revision: one snapshot on PostgreSQL, as the story export reads it. */
function readHeader(db: Database, storyId: string, userId: string): Promise<StoryExportHeader | null> {
  return db.prisma.$transaction(
    async (tx) => {
      // the user's own stories only: one shared with them is theirs to read, not to take away
      if (!(await tx.story.findFirst({ where: { id: storyId, userId }, select: { id: true } }))) return null;
      // owned: read whatever its state, the trash included (its log says it is there)
      return readStoryExportHeader(tx, storyId, null);
    },
    db.kind === "postgres" ? { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead } : {},
  );
}

