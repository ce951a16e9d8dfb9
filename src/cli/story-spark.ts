// The operators' command line: `story-spark <command>`, straight on the configured database.
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, readConfig } from "../config.ts";
import { DatabaseNotMigratedError, openDatabase, type Database } from "../database/connect.ts";
import { DataDirInUseError } from "../database/dataDirLock.ts";
import { DatabaseConfigError } from "../database/connectionConfig.ts";
import { StorySparkError } from "../domain/errors.ts";
import { readStream, type StoredEvent } from "../eventstore/eventStore.ts";
import { START, parseCheckpoint, readAllAfter, type GlobalCheckpoint } from "../eventstore/globalFeed.ts";
import { decodeGlobalId, encodeGlobalId } from "../domain/globalIds.ts";
import { buildStoryExport } from "../history/exportStory.ts";
import { storyAtRevision } from "../history/storyAt.ts";
import { storyToMarkdown } from "../history/storyMarkdown.ts";
import { importStory } from "../commands/importStory.ts";
import { createLiveMessaging } from "../live/pubsub.ts";
import { purgeTrashedBefore } from "../commands/trashCommands.ts";
import { rebuildReadTables } from "../projection/rebuild.ts";
import { verifyReadTables, verifyStory, type Difference } from "../projection/verify.ts";
import { OutputClosedError, outputTo } from "./output.ts";
import { progressReporter } from "./progress.ts";

const USAGE = `usage: story-spark <command> [options]

commands:
  events --story ID [--after SEQ] [--follow]         a story's events as NDJSON, oldest first
  events --all [--after CHECKPOINT] [--follow]       every story's events in commit order, as NDJSON;
                                                     each line carries the checkpoint to resume after
  replay --story ID [--to REVISION]                  the story (details, active version, modules) as of
                                                     a revision, replayed from its log, as JSON
  verify [--story ID]                                replay every story (or one) and compare with the read
                                                     tables (story_comments too); exit 1 on any difference
  rebuild                                            build the read tables again from the log, beside the live ones, and swap them in;
                                                     then story_comments from the comment streams
  export --story ID [--format json|markdown] [--output FILE]
  import FILE --owner EMAIL                          a JSON export as a new story of that user
  empty-trash [--days N]                             erase for good the stories deleted more than N days ago
                                                     (default TRASH_DAYS, 30; 0: all of the trash), as the
                                                     server's hourly sweep does; prints the uuids erased

ID is a story's GraphQL id or its uuid. The database is DIRECT_URL (else DATABASE_URL), or the embedded one
in DATA_DIR (default ./.data), which must not be open in a running server at the same time.
events, replay, verify and export only read: they never migrate the database, and refuse
one that is not migrated (npm run db:migrate). An unknown story, file or data folder is an
error (exit 1) that changes nothing.`;

/** Commands that only read: they never migrate, and refuse a database that is not migrated. */
const READ_ONLY = new Set(["events", "replay", "verify", "export"]);

const FOLLOW_POLL_MS = 250;

class UsageError extends Error {}
/** A command that cannot run as asked: its message is the whole story, one line. */
class CommandError extends Error {}

type Options = { values: Record<string, string | boolean | undefined>; positionals: string[] };

const commands: Record<string, (db: Database, options: Options) => Promise<number>> = {
  async events(db, { values }) {
    if (values.all) return followAll(db, values.after ? checkpointFrom(String(values.after)) : START, values.follow === true);
    const storyId = storyIdFrom(values.story);
    let after = values.after ? Number(values.after) : 0;
    if (!Number.isInteger(after) || after < 0) throw new UsageError("--after takes a seq (a whole number)");
    if (!(await db.prisma.storyEvent.findFirst({ where: { storyId }, select: { id: true } }))) throw storyNotFound(storyId);
    for (;;) {
      const events = await readStream(db.prisma, storyId, { after, limit: 1_000 });
      for (const event of events) await printLine(eventLine(event));
      after = events.at(-1)?.seq ?? after;
      if (events.length === 1_000) continue;
      if (!values.follow || stopping) return 0;
      await sleep(FOLLOW_POLL_MS);
    }
  },

  async replay(db, { values }) {
    const storyId = storyIdFrom(values.story);
    const to = values.to === undefined ? undefined : Number(values.to);
    if (to !== undefined && (!Number.isInteger(to) || to < 1)) throw new UsageError("--to takes a revision (1 or more)");
    const events = await readStream(db.prisma, storyId, to === undefined ? {} : { limit: to });
    if (events.length === 0) throw storyNotFound(storyId);
    if (to !== undefined && events.length < to) throw new StorySparkError("NOT_FOUND", `the story has only ${events.length} events`);
    await printLine(JSON.stringify(storyAtRevision(storyId, events), null, 2));
    return 0;
  },

  async verify(db, { values }) {
    if (values.story !== undefined) {
      const storyId = storyIdFrom(values.story);
      const differences = await verifyStory(db, storyId);
      if (!differences) throw storyNotFound(storyId);
      return reportDifferences(differences, `story ${storyId}`);
    }
    const progress = progressReporter("verifying");
    const differences = await verifyReadTables(db, progress);
    progress.finish();
    return reportDifferences(differences, "the read tables");
  },

  async rebuild(db) {
    const progress = progressReporter("rebuilding");
    const started = performance.now();
    const done = await rebuildReadTables(db, progress);
    progress.finish();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const meanwhile = done.caughtUp > 0 ? `; stories written to meanwhile were caught up ${done.caughtUp} times (${done.refolded} from their whole log)` : "";
    const retries = done.swapRetries > 0 ? `; the swap gave way to readers and writers ${done.swapRetries} times` : "";
    const comments = `; story_comments from ${done.comments.events} comment events of ${done.comments.streams} stories`;
    console.error(`rebuild: ${done.streams} stories from ${done.events} events in ${seconds} s${meanwhile}${retries}${comments}.`);
    return 0;
  },

  async export(db, { values }) {
    const storyId = storyIdFrom(values.story);
    const format = String(values.format ?? "json").toLowerCase();
    if (format !== "json" && format !== "markdown") throw new UsageError("--format is json or markdown");
    const data = await buildStoryExport(db.prisma, storyId, null);
    if (!data) throw storyNotFound(storyId);
    const text = format === "json" ? `${JSON.stringify(data, null, 2)}\n` : storyToMarkdown(data);
    if (typeof values.output === "string") {
      await fs.writeFile(values.output, text);
      console.error(`export: wrote ${values.output}`);
    } else {
      await stdout.write(text);
    }
    return 0;
  },

  async "empty-trash"(db, { values }) {
    const days = values.days === undefined ? readConfig().trashDays : Number(values.days);
    if (!Number.isSafeInteger(days) || days < 0) throw new UsageError("empty-trash [--days N]: N is a whole number of days, 0 or more");
    // the stories' subscribers were told when they went to the trash; told again through Redis when the servers share one
    const live = createLiveMessaging(readConfig().redisUrl);
    const cutoff = new Date(Date.now() - days * 24 * 60 * 60 * 1000);
    const erased = await purgeTrashedBefore({ db, pubsub: live.pubsub }, cutoff).finally(() => live.close());
    for (const id of erased) await printLine(id);
    console.error(`empty-trash: erased ${erased.length} ${erased.length === 1 ? "story" : "stories"} deleted more than ${days} days ago.`);
    return 0;
  },
  async import(db, { values, positionals }) {
    const file = positionals[0];
    if (!file || typeof values.owner !== "string") throw new UsageError("import FILE --owner EMAIL");
    const data = await readJsonFile(file);
    const owner = await db.prisma.user.findUnique({ where: { email: values.owner.trim().toLowerCase() } });
    if (!owner) throw new StorySparkError("NOT_FOUND", `no user with email ${values.owner}`);
    // announced like any write, through Redis when the servers share one
    const live = createLiveMessaging(readConfig().redisUrl);
    const { storyId, event } = await importStory({ db, pubsub: live.pubsub }, owner.id, data).finally(() => live.close());
    await printLine(JSON.stringify({ storyId: encodeGlobalId("Story", storyId), uuid: storyId, revision: event.seq }));
    return 0;
  },
};

async function followAll(db: Database, from: GlobalCheckpoint, follow: boolean): Promise<number> {
  let after = from;
  for (;;) {
    const events = await readAllAfter(db.prisma, after, 1_000);
    for (const event of events) await printLine(JSON.stringify({ checkpoint: event.checkpoint, position: event.position.toString(), ...eventFields(event) }));
    const last = events.at(-1);
    if (last) after = checkpointFrom(last.checkpoint);
    if (events.length === 1_000) continue;
    if (!follow || stopping) return 0;
    await sleep(FOLLOW_POLL_MS);
  }
}

function eventFields(event: StoredEvent) {
  return {
    storyId: event.storyId,
    seq: event.seq,
    type: event.type,
    schemaVersion: event.schemaVersion,
    payload: event.payload,
    actorId: event.actorId,
    createdAt: event.createdAt.toISOString(),
    activeVersionNumber: event.activeVersionNumber,
  };
}

const eventLine = (event: StoredEvent) => JSON.stringify(eventFields(event));

const storyNotFound = (storyId: string) => new StorySparkError("NOT_FOUND", `story ${storyId} not found`);

async function reportDifferences(differences: readonly Difference[], what: string): Promise<number> {
  for (const d of differences) await printLine(JSON.stringify(d));
  console.error(differences.length === 0 ? `verify: ${what} equal the fold of the log.` : `verify: ${differences.length} difference(s).`);
  return differences.length === 0 ? 0 : 1;
}

/** A file of JSON, or one line that says why not. */
async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new CommandError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CommandError(`${file} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * The database the command runs on: an embedded one must already be in DATA_DIR (a mistyped
 * folder is not made into a new, empty database), and a read-only command finds it migrated.
 */
async function openForCommand(name: string): Promise<Database> {
  const config = readConfig();
  if (!config.databaseUrl && !existsSync(path.join(config.dataDir, "pglite", "PG_VERSION"))) {
    throw new CommandError(`no database in ${path.resolve(config.dataDir)}: DATA_DIR must be the folder the server keeps its embedded database in (or set DATABASE_URL)`);
  }
  const readOnly = READ_ONLY.has(name);
  try {
    // the CLI's work is long and session-bound (migrations, rebuild's COPY): the direct URL, never a transaction pooler
    return await openDatabase({
      databaseUrl: config.directUrl,
      sslCa: config.databaseSslCa,
      dataDir: config.dataDir,
      purpose: `story-spark ${name}`,
      migrate: readOnly ? "require" : true,
    });
  } catch (error) {
    if (error instanceof DatabaseNotMigratedError) throw new CommandError(`${error.message}; ${name} only reads`);
    throw error;
  }
}

function storyIdFrom(value: string | boolean | undefined): string {
  if (typeof value !== "string") throw new UsageError("--story ID is required");
  if (/^[0-9a-f-]{36}$/i.test(value)) return value.toLowerCase();
  const decoded = decodeGlobalId(value);
  if (!decoded || decoded.typename !== "Story") throw new UsageError(`not a story id: ${value}`);
  return decoded.id;
}

function checkpointFrom(text: string): GlobalCheckpoint {
  const checkpoint = parseCheckpoint(text);
  if (!checkpoint) throw new UsageError(`not a checkpoint: ${text} (expected TRANSACTION:POSITION, as printed)`);
  return checkpoint;
}

// Every command prints through this: it waits while a slow reader catches up (./output.ts).
const stdout = outputTo(process.stdout);

const printLine = (line: string) => stdout.write(`${line}\n`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stopping = false;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (name === "help" || name === "--help" || name === "-h") {
    await printLine(USAGE);
    return 0;
  }
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  const options = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      story: { type: "string" },
      all: { type: "boolean" },
      after: { type: "string" },
      follow: { type: "boolean" },
      to: { type: "string" },
      format: { type: "string" },
      output: { type: "string" },
      owner: { type: "string" },
      days: { type: "string" },
    },
  });
  const db = await openForCommand(name!);
  const stop = () => {
    stopping = true;
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    return await command(db, options);
  } finally {
    await db.close();
  }
}

// The process is never made to exit: that would drop output still waiting for a pipe. The
// exit code is set, and Node ends by itself once the output is written and the database closed.
main(process.argv.slice(2)).then(
  async (code) => {
    await stdout.flushed();
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof OutputClosedError) {
      // `| head` has read all it wanted: not a failure of ours
      process.exitCode = 0;
    } else if (error instanceof UsageError || (error instanceof Error && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
      console.error(`${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else {
      const oneLine =
        error instanceof DataDirInUseError ||
        error instanceof StorySparkError ||
        error instanceof CommandError ||
        error instanceof ConfigError ||
        error instanceof DatabaseConfigError;
      console.error(oneLine ? error.message : error);
      process.exitCode = 1;
    }
  },
);
