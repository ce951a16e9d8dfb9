// Imports a story export as a new story of the importer: the log is replayed with new
// ids, through the same evolve, and appended and projected in one transaction.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { MODULES } from "../domain/catalogue.ts";
import { StorySparkError, badInput } from "../domain/errors.ts";
import { EVENT_SCHEMA_VERSION, evolve, initialState, type ModuleIds, type RecordedStoryEvent, type StoryEventData } from "../domain/story.ts";
import type { Database } from "../database/connect.ts";
import { appendToStream, type StoredEvent } from "../eventstore/eventStore.ts";
import { upcast } from "../eventstore/upcast.ts";
import { EXPORT_FORMAT } from "../history/exportFormat.ts";
import { projectStory } from "../projection/projectStory.ts";

const exportedLog = z.object({
  format: z.literal(EXPORT_FORMAT),
  formatVersion: z.literal(1),
  events: z
    .array(
      z.object({
        seq: z.number().int().positive(),
        type: z.string(),
        schemaVersion: z.number().int().positive(),
        payload: z.record(z.string(), z.unknown()),
        createdAt: z.iso.datetime({ offset: true }),
      }),
    )
    .min(1)
    .max(1_000_000),
});

export async function importStory(db: Database, ownerId: string, data: unknown): Promise<{ storyId: string; event: StoredEvent }> {
  const parsed = exportedLog.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badInput(["data", ...(issue?.path ?? [])].join("."), issue?.message ?? "is not a Story Spark export");
  }
  const storyId = randomUUID();
  const newIds = new Map<string, string>(); // old version id → new
  const renew = (id: string) => {
    const fresh = newIds.get(id) ?? randomUUID();
    newIds.set(id, fresh);
    return fresh;
  };

  let state = initialState(storyId);
  const recorded: RecordedStoryEvent[] = [];
  const activeNumbers: number[] = [];
  for (const [i, exported] of parsed.data.events.entries()) {
    const where = `data.events[${i}]`;
    if (exported.seq !== i + 1) throw badInput(`${where}.seq`, `must be ${i + 1}: the log has no gaps`);
    let data: StoryEventData;
    try {
      data = withNewIds(upcast(exported), ownerId, renew);
    } catch (error) {
      throw badInput(where, error instanceof Error ? error.message : "is not a Story Spark event");
    }
    if ((i === 0) !== (data.type === "StoryCreated")) throw badInput(`${where}.type`, "the log must start with StoryCreated, once");
    const event: RecordedStoryEvent = {
      ...data,
      id: randomUUID(),
      storyId,
      seq: exported.seq,
      schemaVersion: EVENT_SCHEMA_VERSION,
      actorId: ownerId,
      createdAt: new Date(exported.createdAt),
    };
    try {
      state = evolve(state, event);
    } catch (error) {
      throw badInput(where, `does not follow from the events before it (${error instanceof Error ? error.message : error})`);
    }
    recorded.push(event);
    activeNumbers.push(state.activeVersionNumber);
  }

  const events = await db.prisma.$transaction(
    async (tx) => {
      const stored = await appendToStream(tx, recorded, activeNumbers, {});
      await projectStory(tx, initialState(storyId), state);
      return stored;
    },
    { maxWait: 30_000, timeout: 10 * 60_000 },
  );
  return { storyId, event: events.at(-1)! };
}

function withNewIds(event: StoryEventData, ownerId: string, renew: (id: string) => string): StoryEventData {
  switch (event.type) {
    case "StoryCreated": {
      const p = event.payload;
      const moduleIds = Object.fromEntries(MODULES.map((m) => [m.snapshotKey, randomUUID()])) as unknown as ModuleIds;
      return { type: event.type, payload: { ...p, ownerId, version: { ...p.version, id: renew(p.version.id) }, moduleIds } };
    }
    case "ModuleWritten":
    case "ModuleCleared":
    case "VersionRestored":
      return { ...event, payload: { ...event.payload, version: { ...event.payload.version, id: renew(event.payload.version.id) } } } as StoryEventData;
    case "StoryDetailsChanged":
    case "Undone":
    case "Redone":
    case "VersionLabeled":
      return event;
    default:
      throw new StorySparkError("BAD_USER_INPUT", `unknown event type`);
  }
}
