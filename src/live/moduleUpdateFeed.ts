// A story's module changes for a subscriber, read from the log like the event feed (so
// none is lost to a message gone astray): one value per module an event changed.
import type { DbClient } from "../database/types.ts";
import { moduleBySnapshotKey, type ModuleInputs, type ModuleName, type SnapshotKey } from "../domain/catalogue.ts";
import { storedOutputs, type OutputRefs } from "../domain/content.ts";
import { changedModules, type StoryVersionState } from "../domain/story.ts";
import type { StoredEvent } from "../eventstore/eventStore.ts";
import type { LivePubSub, StoryAppended } from "./pubsub.ts";
import { storyLogFeed, type FeedStart, type FeedViewer } from "./storyEventFeed.ts";

/** One module's change, and who made it (the event's actor). */
export type ModuleChange = StoryAppended & { module: ModuleName; actorId: string | null };

export function moduleUpdateFeed(
  db: DbClient,
  pubsub: LivePubSub,
  storyId: string,
  options: { after: FeedStart; only: ModuleName | null; viewer?: FeedViewer },
): AsyncIterableIterator<ModuleChange> {
  return storyLogFeed(db, pubsub, storyId, options.after, async (page) =>
    (await moduleChangesOf(db, storyId, page)).flatMap(({ event, modules }) =>
      modules
        .filter((module) => options.only === null || options.only === module)
        .map((module) => ({
          storyId,
          eventId: event.id,
          seq: event.seq,
          type: event.type,
          activeVersionNumber: event.activeVersionNumber,
          modules,
          module,
          actorId: event.actorId,
        })),
    ),
    // the changes are told by their versions: the events' content is not read
    "references",
    options.viewer,
  );
}

/**
 * The modules each event changed: those whose content differs between the version active
 * before it and the one active after it — what the command handler announces, by the same rule.
 */
export function moduleChangesOf(
  db: DbClient,
  storyId: string,
  events: readonly StoredEvent[],
): Promise<{ event: StoredEvent; modules: ModuleName[] }[]> {
  // a page of the log shared by many subscribers (storyEventFeed.ts) is compared once for all
  let changes = comparedPages.get(events);
  if (!changes) {
    changes = compareVersions(db, storyId, events);
    comparedPages.set(events, changes);
  }
  return changes;
}

/** The comparison of each page of events, while the page is in use; the events and versions never change. */
const comparedPages = new WeakMap<readonly StoredEvent[], Promise<{ event: StoredEvent; modules: ModuleName[] }[]>>();

async function compareVersions(
  db: DbClient,
  storyId: string,
  events: readonly StoredEvent[],
): Promise<{ event: StoredEvent; modules: ModuleName[] }[]> {
  const first = events[0];
  if (!first) return [];
  // the story did not exist before its first event: creating it changes no module
  let activeBefore = first.seq > 1 ? await activeVersionAfter(db, storyId, first.seq - 1) : null;
  const steps = events.map((event) => {
    const step = { event, from: activeBefore, to: event.activeVersionNumber };
    activeBefore = event.activeVersionNumber;
    return step;
  });
  const compared = steps.filter((s): s is typeof s & { from: number } => s.from !== null && s.from !== s.to);
  const versions = await versionsByNumber(db, storyId, [...new Set(compared.flatMap((s) => [s.from, s.to]))]);
  return steps.map(({ event, from, to }) => {
    const a = from === null ? undefined : versions.get(from);
    const b = versions.get(to);
    if (from === null || from === to || !a || !b) return { event, modules: [] };
    return { event, modules: changedModules(a, b).map((key) => moduleBySnapshotKey(key)!.name) };
  });
}

async function activeVersionAfter(db: DbClient, storyId: string, seq: number): Promise<number | null> {
  const row = await db.storyEvent.findUnique({ where: { storyId_seq: { storyId, seq } }, select: { activeVersionNumber: true } });
  return row?.activeVersionNumber ?? null;
}

type VersionRow = {
  id: string;
  number: number;
  parentNumber: number | null;
  outputRefs: { [K in SnapshotKey]: OutputRefs | null };
  inputs: ModuleInputs;
  eventSeq: number;
  createdAt: Date;
  generationId: string | null;
  authorId: string;
  writtenIn: { [K in SnapshotKey]: number };
};

async function versionsByNumber(db: DbClient, storyId: string, numbers: number[]): Promise<Map<number, StoryVersionState>> {
  if (numbers.length === 0) return new Map();
  const rows = await db.$queryRaw<VersionRow[]>`
    SELECT v.id, v.version_number AS number, p.version_number AS "parentNumber", v.output_refs AS "outputRefs",
           -- the versions are only compared: input texts by their references, equal when the texts are
           v.input_refs AS inputs,
           v.event_seq AS "eventSeq", v.created_at AS "createdAt", v.generation_id AS "generationId",
           v.author_id AS "authorId", v.written_in AS "writtenIn"
      FROM story_versions v LEFT JOIN story_versions p ON p.id = v.parent_version_id
     WHERE v.story_id = ${storyId}::uuid AND v.version_number = ANY(${numbers}::int[])`;
  return new Map(rows.map(({ outputRefs, ...row }) => [row.number, { ...row, outputs: storedOutputs(outputRefs) }]));
}
