// The command handler: one transaction per command — lock and load the story's
// state, decide, append the events, project them — then report what was appended.
import { createHash, randomUUID } from "node:crypto";
import { MODULES, moduleBySnapshotKey, type ModuleName, type SnapshotKey } from "../domain/catalogue.ts";
import { StorySparkError, notFound } from "../domain/errors.ts";
import { canonicalJson } from "../domain/json.ts";
import {
  activeVersion,
  changedModules,
  decide,
  evolve,
  initialState,
  versionsNeededBy,
  type ModuleIds,
  type StoryCommand,
  type StoryState,
} from "../domain/story.ts";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { findByIdempotencyKey, recordEvents, type StoredEvent } from "../eventstore/eventStore.ts";
import { loadStoryStateForUpdate } from "../projection/loadStoryState.ts";
import { planProjection } from "../projection/projectStory.ts";
import { commitStoryChange } from "./commitStoryChange.ts";

export type StoryCommandRequest = {
  storyId: string;
  actorId: string;
  command: StoryCommand;
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

/** Long enough for many writers queued on one story's lock. */
const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 60_000 } as const;
const IDEMPOTENCY_KEY_MAX = 200;

export async function executeStoryCommand(db: Database, request: StoryCommandRequest): Promise<StoryCommandResult> {
  const { storyId, actorId, command } = request;
  const key = request.idempotencyKey ?? null;
  if (key !== null && (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX)) {
    throw new StorySparkError("BAD_USER_INPUT", `idempotencyKey: must be 1 to ${IDEMPOTENCY_KEY_MAX} characters`, { field: "idempotencyKey" });
  }
  const requestHash = key === null ? null : fingerprint(request.requestIdentity ?? command);

  return db.prisma.$transaction(async (tx) => {
    const before = command.type === "CreateStory" ? initialState(storyId) : await loadOwnStory(tx, storyId, actorId, command);

    if (key !== null) {
      const earlier = await findByIdempotencyKey(tx, storyId, key);
      if (earlier) {
        if (earlier.requestHash !== requestHash) {
          throw new StorySparkError("BAD_USER_INPUT", "idempotencyKey: already used for a different request", { field: "idempotencyKey" });
        }
        return { storyId, events: [earlier.event], event: earlier.event, replayed: true, changes: [], after: null };
      }
    }
    const expected = request.expectedRevision;
    if (expected !== undefined && expected !== null && expected !== before.revision) {
      throw new StorySparkError("REVISION_CONFLICT", `expected revision ${expected}, the story is at ${before.revision}`, {
        actualRevision: before.revision,
      });
    }

    const recorded = recordEvents(storyId, decide(command, before), { currentRevision: before.revision, actorId });
    let after = before;
    const activeNumbers: number[] = [];
    const changedBy: ModuleName[][] = [];
    for (const event of recorded) {
      const previous = after;
      after = evolve(after, event);
      activeNumbers.push(after.activeVersionNumber);
      changedBy.push(previous.exists ? changedModules(activeVersion(previous), activeVersion(after)).map(moduleNameOf) : []);
    }
    const events: StoredEvent[] = recorded.map((event, i) => ({
      ...event,
      activeVersionNumber: activeNumbers[i]!,
      // the key marks the command's last event, which carries its answer
      idempotencyKey: i === recorded.length - 1 ? key : null,
    }));
    await commitStoryChange(
      tx,
      events.map((event) => ({ ...event, requestHash: event.idempotencyKey === null ? null : requestHash })),
      planProjection(before, after),
    );
    const changes = events.map((event, i) => ({ event, modules: changedBy[i] ?? [] }));
    return { storyId, events, event: events.at(-1)!, replayed: false, changes, after };
  }, TRANSACTION_OPTIONS);
}

async function loadOwnStory(db: DbClient, storyId: string, actorId: string, command: StoryCommand): Promise<StoryState> {
  // The restore target is the only version a command names; redo's target is loaded anyway.
  const state = await loadStoryStateForUpdate(db, storyId, versionsNeededBy(command, { redo: [] }));
  if (!state || state.ownerId !== actorId) throw notFound("story");
  return state;
}

const moduleNameOf = (key: SnapshotKey): ModuleName => moduleBySnapshotKey(key)!.name;

/** New ids for a story: the story, its first version and its five modules. */
export function newStoryIds(): { storyId: string; versionId: string; moduleIds: ModuleIds } {
  return {
    storyId: randomUUID(),
    versionId: randomUUID(),
    moduleIds: Object.fromEntries(MODULES.map((m) => [m.snapshotKey, randomUUID()])) as unknown as ModuleIds,
  };
}

/**
 * What identifies a request for idempotency: the command without the ids the server made up,
 * as canonical JSON, so a retry that lists the same keys in another order is the same request.
 */
export function fingerprint(identity: unknown): string {
  const { versionId: _ignored, ...rest } = identity as { versionId?: string };
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** The answer an earlier request with this key got, if any (read without locking: a fast path). */
export async function earlierAnswer(db: Database, storyId: string, actorId: string, key: string, identity: unknown) {
  const earlier = await findByIdempotencyKey(db.prisma, storyId, key);
  if (!earlier || earlier.event.actorId !== actorId) return null;
  if (earlier.requestHash !== fingerprint(identity)) {
    throw new StorySparkError("BAD_USER_INPUT", "idempotencyKey: already used for a different request", { field: "idempotencyKey" });
  }
  return earlier.event;
}

/** Deletes a story with its whole log, read rows and metadata. */
export async function deleteStory(db: Database, storyId: string, actorId: string): Promise<void> {
  await db.prisma.$transaction(async (tx) => {
    const owners = await tx.$queryRaw<{ user_id: string }[]>`SELECT user_id FROM stories WHERE id = ${storyId}::uuid FOR UPDATE`;
    if (owners[0]?.user_id !== actorId) throw notFound("story");
    await tx.metadata.deleteMany({ where: { storyId } });
    // generations keep the story's text in their prompts; spend and usage figures stay
    await tx.aiGeneration.deleteMany({ where: { storyId } });
    await tx.errorLog.deleteMany({ where: { storyId } });
    await tx.storyEvent.deleteMany({ where: { storyId } });
    await tx.story.delete({ where: { id: storyId } });
  }, TRANSACTION_OPTIONS);
}
