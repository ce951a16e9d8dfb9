// The application service for stories: one function runs a command — load the story's state,
// check the request, decide, append the events and apply their projection in one statement that
// holds the story to the revision decided on — and then announces what it appended.
// GraphQL, AI generation and import all go through it.
import { createHash, randomUUID } from "node:crypto";
import { MODULES, moduleByName, moduleBySnapshotKey, type ModuleName, type SnapshotKey } from "../domain/catalogue.ts";
import { StorySparkError, badInput, notFound } from "../domain/errors.ts";
import { canonicalJson } from "../domain/json.ts";
import {
  activeVersion,
  changedModules,
  decide,
  evolve,
  initialState,
  versionsNeededBy,
  type ModuleIds,
  type RecordedStoryEvent,
  type StoryCommand,
  type StoryState,
} from "../domain/story.ts";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { appendAndProject, inAppendTransaction } from "../eventstore/append.ts";
import { findByIdempotencyKey, recordEvents, type StoredEvent, type StoryEventRow } from "../eventstore/eventStore.ts";
import { publishStoryChanges } from "../live/publish.ts";
import { announceEventsAppended } from "../analytics/signals.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import { loadCommandState, type CommandState } from "../projection/loadStoryState.ts";
import { recentState, rememberState } from "./recentStates.ts";
import { authorize } from "../domain/membership.ts";
import { planProjection } from "../projection/projectionPlan.ts";
import { deleteStoryComments, isUniqueViolation } from "../eventstore/commentStream.ts";

/** What running a command needs: where it is stored, and where it is announced. */
export type CommandServices = { readonly db: Database; readonly pubsub: LivePubSub };

/**
 * A story's exported log, imported as a new story: its events already re-decided one by one
 * through the story's rules (./importStory.ts), appended as they are.
 */
export type ImportLog = { type: "ImportLog"; events: readonly RecordedStoryEvent[] };

export type StoryCommandRequest = {
  storyId: string;
  actorId: string;
  command: StoryCommand | ImportLog;
  expectedRevision?: number | null;
  idempotencyKey?: string | null;
  /** what identifies the request for its idempotency key, when not the command itself */
  requestIdentity?: unknown;
};

export type StoryCommandResult = {
  storyId: string;
  /** the events appended, or the earlier ones when an idempotency key repeats */
  events: StoredEvent[];
  /** the command's last event, whose activeVersionNumber is the story's active version after it */
  event: StoredEvent;
  /** true when an earlier request with the same idempotency key answered */
  replayed: boolean;
  /** per appended event, the modules whose content it changed (empty on replay) */
  changes: { event: StoredEvent; modules: ModuleName[] }[];
  /** the story after the command (partial history; null on replay) */
  after: StoryState | null;
};

/** Runs the command, then tells the story's subscribers what it appended. */
export async function runStoryCommand(services: CommandServices, request: StoryCommandRequest): Promise<StoryCommandResult> {
  const result = await executeStoryCommand(services.db, request);
  if (!result.replayed) announceEventsAppended(result.events.map((event) => event.type));
  publishStoryChanges(services.pubsub, result);
  return result;
}

/** Long enough for many writers queued on one story's lock. */
const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 60_000 } as const;
/** An import appends its whole log in one transaction. */
const IMPORT_TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 10 * 60_000 } as const;
/** Events per statement: a long imported log is appended in batches of this many. */
const EVENTS_PER_STATEMENT = 500;
const IDEMPOTENCY_KEY_MAX = 200;

/**
 * Runs the command, without announcing it: `runStoryCommand` is what the application calls.
 * A change to a story takes two round trips and no transaction of its own: its state is read
 * without a lock, decided on, and appended by one statement that applies only if the story is
 * still at the revision decided on (./eventstore/append.ts). A writer that finds the story moved
 * on decides again; after a few tries it takes turns under the story's lock instead, so that a
 * crowd of writers on one story can't starve one of them.
 */
export async function executeStoryCommand(db: Database, request: StoryCommandRequest): Promise<StoryCommandResult> {
  try {
    return await executeOnce(db, request);
  } catch (error) {
    if (error instanceof StorySparkError && (error.code === "MODULE_CONFLICT" || error.code === "UNDO_CONFLICT")) {
      throw await withCurrentContent(db.prisma, request.storyId, error);
    }
    throw error;
  }
}

async function executeOnce(db: Database, request: StoryCommandRequest): Promise<StoryCommandResult> {
  const { storyId, command } = request;
  const terms = requestTerms({ ...request, requestIdentity: request.requestIdentity ?? command });
  if (command.type === "ImportLog") {
    const appendImport = async (tx: DbClient) => (await decideAndAppend(tx, request, terms, { state: initialState(storyId), earlier: null }))!;
    return remember(db, await inAppendTransaction(db, storyId, appendImport, IMPORT_TRANSACTION_OPTIONS));
  }
  if (command.type === "CreateStory" || command.type === "CreateBranch") return remember(db, await appendNewStory(db.prisma, request, terms));

  const remembered = rememberedState(db, request, terms);
  if (remembered) {
    // decided on the state this process left the story in: if that is not where the story is
    // now, the append says so (null), or the rules may refuse what the real state allows: read it
    const result = await decideAndAppend(db.prisma, request, terms, remembered).catch((error: unknown) => {
      if (error instanceof StorySparkError) return null;
      throw error;
    });
    if (result) return remember(db, result);
  }
  for (let attempt = 0; attempt < UNLOCKED_ATTEMPTS; attempt++) {
    const result = await decideAndAppend(db.prisma, request, terms, await loadStory(db.prisma, request, terms, { lock: false }));
    if (result) return remember(db, result);
  }
  return remember(
    db,
    await inAppendTransaction(
      db,
      storyId,
      async (tx) => (await decideAndAppend(tx, request, terms, await loadStory(tx, request, terms, { lock: true })))!,
      TRANSACTION_OPTIONS,
    ),
  );
}

/**
 * Makes a new story (or branch). With an idempotency key its id is the key's (newStoryIds), so a
 * retry finds the first try's story and answers its event, even when it came in beside the first
 * and lost the race to append.
 */
async function appendNewStory(db: DbClient, request: StoryCommandRequest, terms: RequestTerms): Promise<StoryCommandResult> {
  const earlier = async () => (terms.idempotencyKey === null ? null : await findByIdempotencyKey(db, request.storyId, terms.idempotencyKey));
  const appendOn = async (found: CommandState["earlier"]) => (await decideAndAppend(db, request, terms, { state: initialState(request.storyId), earlier: found }))!;
  const found = await earlier();
  try {
    return await appendOn(found);
  } catch (error) {
    if (found || terms.idempotencyKey === null || !isUniqueViolation(error)) throw error;
    const first = await earlier();
    if (!first) throw error;
    return appendOn(first);
  }
}

/**
 * Runs the command in the caller's transaction, under the story's lock: for changes that must
 * commit with others or not at all (an account's erasure). Announces nothing and remembers no
 * state: the caller announces after its commit and forgets the story's state (forgetState).
 */
export async function executeStoryCommandInTransaction(tx: DbClient, request: StoryCommandRequest): Promise<StoryCommandResult> {
  const terms = requestTerms({ ...request, requestIdentity: request.requestIdentity ?? request.command });
  // under the lock the story can't move on between reading and appending: never null
  return (await decideAndAppend(tx, request, terms, await loadStory(tx, request, terms, { lock: true })))!;
}

/**
 * The state this process's last write left the story in (./recentStates.ts), when the command
 * can be decided on it: a story the actor is a member of (their role is checked on it, as on any
 * state), no idempotency key to look up, no older version to read, and the revision the request
 * expects, if it names one.
 */
function rememberedState(db: Database, request: StoryCommandRequest, terms: RequestTerms): CommandState | null {
  const state = recentState(db, request.storyId);
  if (!state || !state.members.has(request.actorId) || terms.idempotencyKey !== null) return null;
  if (request.command.type === "ImportLog" || !versionsNeededBy(request.command).every((number) => state.versions.get(number))) return null;
  if (terms.expectedRevision !== null && terms.expectedRevision !== state.revision) return null;
  return { state, earlier: null };
}

function remember(db: Database, result: StoryCommandResult): StoryCommandResult {
  if (result.after) rememberState(db, result.after);
  return result;
}

/** Tries of a command decided without the story's lock before it takes turns under it. */
const UNLOCKED_ATTEMPTS = 3;

/**
 * Checks the request against the state, decides, and appends the events with their projection.
 * Null when the story moved on since the state was read (never under its lock): decide again.
 */
async function decideAndAppend(
  db: DbClient,
  request: StoryCommandRequest,
  terms: RequestTerms,
  { state: before, earlier }: CommandState,
  options: { authorize: boolean } = { authorize: true },
): Promise<StoryCommandResult | null> {
  const { storyId, actorId, command } = request;
  // who may: a stranger gets what a missing story gets, a member whose role is too low FORBIDDEN
  if (command.type !== "ImportLog" && options.authorize) authorize(before, actorId, command.type);
  const replayed = checkLoadedRequest(before, terms, earlier);
  if (replayed) return { storyId, events: [replayed], event: replayed, replayed: true, changes: [], after: null };

  const recorded =
    command.type === "ImportLog" ? command.events : recordEvents(storyId, decide(command, before), { currentRevision: before.revision, actorId });
  const events: StoredEvent[] = [];
  const changes: StoryCommandResult["changes"] = [];
  let after = before;
  let written = before;
  let unwritten: StoryEventRow[] = [];
  for (const [i, event] of recorded.entries()) {
    const previous = after;
    after = evolve(after, event);
    const last = i === recorded.length - 1;
    // the key marks the command's last event, which carries its answer
    const stored: StoredEvent = { ...event, activeVersionNumber: after.activeVersionNumber, idempotencyKey: last ? terms.idempotencyKey : null };
    events.push(stored);
    changes.push({ event: stored, modules: previous.exists ? changedModules(activeVersion(previous), activeVersion(after)).map(moduleNameOf) : [] });
    unwritten.push({ ...stored, requestHash: last ? terms.requestHash : null });
    if (last || unwritten.length === EVENTS_PER_STATEMENT) {
      const outcome = await appendAndProject(db, unwritten, planProjection(written, after), written.revision);
      if (!outcome.applied) return movedOn(outcome.revision, terms);
      written = after;
      unwritten = [];
    }
  }
  return { storyId, events, event: events.at(-1)!, replayed: false, changes, after };
}

/**
 * The story moved on between reading it and appending: gone, a conflict for a request that named
 * the revision it expected, or otherwise a reason to decide again (null).
 */
function movedOn(revision: number | null, terms: RequestTerms): null {
  if (revision === null) throw notFound("story");
  if (terms.expectedRevision !== null) {
    throw new StorySparkError("REVISION_CONFLICT", `expected revision ${terms.expectedRevision}, the story is at ${revision}`, { actualRevision: revision });
  }
  return null;
}

/**
 * Decides the command on the story as it is now, without appending: what AI generation checks
 * before it spends tokens on a write the rules would refuse (a MODULE_CONFLICT comes with the
 * module's current content, as from a command).
 */
export async function checkCommand(db: Database, storyId: string, command: StoryCommand): Promise<void> {
  const loaded = await loadCommandState(db.prisma, storyId, { extraVersions: versionsNeededBy(command) });
  if (!loaded) throw notFound("story");
  try {
    decide(command, loaded.state);
  } catch (error) {
    if (error instanceof StorySparkError && (error.code === "MODULE_CONFLICT" || error.code === "UNDO_CONFLICT")) {
      throw await withCurrentContent(db.prisma, storyId, error);
    }
    throw error;
  }
}

/** A request's idempotency key (checked) with its fingerprint, and the revision it expects. */
export type RequestTerms = {
  idempotencyKey: string | null;
  requestHash: string | null;
  /** the fingerprint servers before canonical JSON stored: a retry across an upgrade is still the same request */
  earlierRequestHash: string | null;
  expectedRevision: number | null;
};

export function requestTerms(request: { expectedRevision?: number | null; idempotencyKey?: string | null; requestIdentity: unknown }): RequestTerms {
  const key = request.idempotencyKey ?? null;
  if (key !== null && (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX)) {
    throw badInput("idempotencyKey", `must be 1 to ${IDEMPOTENCY_KEY_MAX} characters`);
  }
  return {
    idempotencyKey: key,
    requestHash: key === null ? null : fingerprint(request.requestIdentity),
    earlierRequestHash: key === null ? null : fingerprint(request.requestIdentity, JSON.stringify),
    expectedRevision: request.expectedRevision ?? null,
  };
}

/**
 * The checks a request passes before its command is decided, in this order: a repeated
 * idempotency key answers with the event the earlier request appended (and is refused when that
 * was a different request); then an expected revision other than the story's is a
 * REVISION_CONFLICT. A command runs them under the story's lock; AI generation runs them before
 * it too, so that no tokens are spent on a request that would be refused. Returns the earlier
 * answer, if any.
 */
export async function checkRequest(db: DbClient, story: Pick<StoryState, "id" | "revision">, terms: RequestTerms): Promise<StoredEvent | null> {
  const earlier = terms.idempotencyKey === null ? null : await findByIdempotencyKey(db, story.id, terms.idempotencyKey);
  return checkLoadedRequest(story, terms, earlier);
}

/** `checkRequest` with the earlier request's event, if any, already read. */
function checkLoadedRequest(
  story: Pick<StoryState, "revision">,
  terms: RequestTerms,
  earlier: { event: StoredEvent; requestHash: string | null } | null,
): StoredEvent | null {
  if (earlier) {
    const same = earlier.requestHash === terms.requestHash || earlier.requestHash === terms.earlierRequestHash;
    if (!same) throw badInput("idempotencyKey", "already used for a different request");
    return earlier.event;
  }
  if (terms.expectedRevision !== null && terms.expectedRevision !== story.revision) {
    throw new StorySparkError("REVISION_CONFLICT", `expected revision ${terms.expectedRevision}, the story is at ${story.revision}`, {
      actualRevision: story.revision,
    });
  }
  return null;
}

async function loadStory(db: DbClient, request: StoryCommandRequest, terms: RequestTerms, options: { lock: boolean }): Promise<CommandState> {
  const command = request.command as StoryCommand;
  const loaded = await loadCommandState(db, request.storyId, { extraVersions: versionsNeededBy(command), idempotencyKey: terms.idempotencyKey, lock: options.lock });
  if (!loaded) throw notFound("story");
  return loaded;
}

type ConflictedModule = { module: ModuleName; changedBy: { id: string }; changedAt: string };

/**
 * The rules' MODULE_CONFLICT or UNDO_CONFLICT with what a writer needs to merge: each module's
 * current content (output and input text) and the username of who changed it, read as they are
 * now. The rules name the modules and who changed them; they may hold content as references only.
 */
async function withCurrentContent(db: DbClient, storyId: string, error: StorySparkError): Promise<StorySparkError> {
  const modules = error.extensions.modules as readonly ConflictedModule[];
  const names = modules.map((m) => moduleByName(m.module)!.moduleName);
  const rows = await db.$queryRaw<{ moduleName: string; output: unknown; inputText: string | null; changedAt: Date; changedBy: string; username: string | null; versionNumber: number }[]>`
    SELECT s.active_version_number AS "versionNumber", m.module_name AS "moduleName", m.output_text AS output, m.input_text AS "inputText", m.updated_at AS "changedAt",
           m.updated_by AS "changedBy", u.username
      FROM story_modules m JOIN stories s ON s.id = m.story_id LEFT JOIN users u ON u.id = m.updated_by
     WHERE m.story_id = ${storyId}::uuid AND m.module_name = ANY(${names}::text[])`;
  const current = modules.map((m) => {
    const row = rows.find((r) => r.moduleName === moduleByName(m.module)!.moduleName);
    if (!row) return { ...m, output: null, inputText: null };
    return { module: m.module, output: row.output, inputText: row.inputText, changedBy: { id: row.changedBy, username: row.username }, changedAt: row.changedAt.toISOString() };
  });
  // the version they are in: a base for the writer's next try
  const versionNumber = rows[0]?.versionNumber ?? error.extensions.versionNumber;
  // the message names writers as people know them
  let message = error.message;
  for (const row of rows) if (row.username !== null) message = message.replaceAll(`(by ${row.changedBy} at`, `(by ${row.username} at`);
  return new StorySparkError(error.code, message, { ...error.extensions, ...current[0], versionNumber, modules: current });
}

const moduleNameOf = (key: SnapshotKey): ModuleName => moduleBySnapshotKey(key)!.name;

/**
 * New ids for a story: the story, its first version and its five modules. A request with an
 * idempotency key gets the story id that key gives its actor (storyIdForKey), the same on a retry.
 */
export function newStoryIds(key?: { actorId: string; idempotencyKey?: string | null }): { storyId: string; versionId: string; moduleIds: ModuleIds } {
  return {
    storyId: key?.idempotencyKey == null ? randomUUID() : storyIdForKey(key.actorId, key.idempotencyKey),
    versionId: randomUUID(),
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, randomUUID()])) as unknown as ModuleIds,
  };
}

/**
 * The id of the story a request with this idempotency key makes for this actor: a name-based UUID
 * (RFC 9562 version 8, from SHA-256), so every try of the request names one story, and another
 * actor's key, or another key, names another.
 */
export function storyIdForKey(actorId: string, idempotencyKey: string): string {
  const hex = createHash("sha256").update(`story-spark new story\u0000${actorId}\u0000${idempotencyKey}`).digest("hex");
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * What identifies a request for idempotency: the command without the ids the server made up and the actor,
 * as canonical JSON, so a retry that lists the same keys in another order is the same request.
 */
export function fingerprint(identity: unknown, asJson: (value: unknown) => string = canonicalJson): string {
  // the actor undo and redo carry is the request's own, not part of what it asks: a retry from
  // before commands carried it is the same request
  const { versionId: _ignored, actorId: _actor, ...rest } = identity as { versionId?: string; actorId?: string };
  return createHash("sha256").update(asJson(rest)).digest("hex");
}

/**
 * Runs a command in the caller's transaction, under the story's lock: for commands that move
 * several stories together (./trashCommands.ts). `authorize: false` for a story that moves with
 * one whose actor was authorized already. Not announced: the caller announces once it commits.
 */
export async function executeInTransaction(
  tx: DbClient,
  request: Omit<StoryCommandRequest, "command"> & { command: StoryCommand },
  options: { authorize: boolean },
): Promise<StoryCommandResult> {
  const terms = requestTerms({ ...request, requestIdentity: request.requestIdentity ?? request.command });
  return (await decideAndAppend(tx, request, terms, await loadStory(tx, request, terms, { lock: true }), options))!;
}

/** Announces a committed result, as `runStoryCommand` does, and keeps the state it left for the next command. */
export function announceCommitted(services: CommandServices, result: StoryCommandResult): void {
  remember(services.db, result);
  if (!result.replayed) announceEventsAppended(result.events.map((event) => event.type));
  publishStoryChanges(services.pubsub, result);
}

/**
 * Erases a story for good, in the caller's transaction: its log, comments, stored content, read
 * rows (members and invitations too), metadata, generations and error logs. Spend and usage
 * figures stay. The caller holds the story's lock and has checked who may.
 */
export async function eraseStory(tx: DbClient, storyId: string): Promise<void> {
  await tx.metadata.deleteMany({ where: { storyId } });
  // generations keep the story's text in their prompts; spend and usage figures stay
  await tx.aiGeneration.deleteMany({ where: { storyId } });
  await tx.errorLog.deleteMany({ where: { storyId } });
  await tx.storyEvent.deleteMany({ where: { storyId } });
  await deleteStoryComments(tx, storyId);
  await tx.storyContent.deleteMany({ where: { storyId } });
  // its branches stay, stories of their own: they only lose their parent (branchOf.story is null)
  await tx.storyBranch.deleteMany({ where: { storyId } });
  await tx.story.delete({ where: { id: storyId } });
}
