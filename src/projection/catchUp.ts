// Rebuild's catch-up: the stories written to while the new tables were built are projected into
// them again. A story's first catch-up folds its whole log; its state is kept, so that each next
// catch-up of it folds and applies only the events appended since, as the write path does: work
// in proportion to the writes, not to the story, which is what keeps the swap's lock short.
import { evolve, type StoryState } from "../domain/story.ts";
import type { BulkStatements } from "./bulkConnection.ts";
import { applyStoryChanges, projectStreams, type ReadTableNames } from "./bulkInsert.ts";
import { readStreamsAfter, readStreamsInBulk } from "./logReader.ts";
import { planProjection, type StoryChangePlan } from "./projectionPlan.ts";

/** States kept between rounds: a story beyond these is folded whole again at its next catch-up. */
const STATES_KEPT = 10_000;
/** A story brought forward costs about this fraction of one folded whole (tens of its events). */
const ADVANCES_PER_REFOLD = 20;

export class StoryCatchUp {
  private readonly states = new Map<string, StoryState>();
  /** stories folded from their whole log */
  refolded = 0;
  /** stories brought forward by the events appended since their last catch-up */
  advanced = 0;

  private readonly tables: ReadTableNames;

  constructor(tables: ReadTableNames) {
    this.tables = tables;
  }

  /** Roughly how many whole-story folds catching these stories up costs. */
  costOf(storyIds: readonly string[]): number {
    const known = storyIds.filter((id) => this.states.has(id)).length;
    return storyIds.length - known + Math.ceil(known / ADVANCES_PER_REFOLD);
  }

  /** Projects the stories again, in `db`'s transaction or outside any. Returns how many it was given. */
  async stories(db: BulkStatements, storyIds: readonly string[]): Promise<number> {
    const known = storyIds.filter((id) => this.states.has(id));
    const unknown = storyIds.filter((id) => !this.states.has(id));
    if (unknown.length > 0) {
      // deleting the story row deletes its modules and versions (the foreign keys cascade)
      await db.query(`DELETE FROM ${this.tables.stories} WHERE id = ANY($1::uuid[])`, [unknown]);
      await projectStreams([db], this.tables, readStreamsInBulk(db, unknown), { onFolded: (state) => this.keep(state) });
      this.refolded += unknown.length;
    }
    if (known.length > 0) {
      const positions = known.map((storyId) => ({ storyId, after: this.states.get(storyId)!.revision }));
      const plans: StoryChangePlan[] = [];
      for await (const [storyId, events] of readStreamsAfter(db, positions)) {
        const before = this.states.get(storyId)!;
        const after = events.reduce(evolve, before);
        const plan = planProjection(before, after);
        if (plan.kind === "storyChange") plans.push(plan);
        this.states.set(storyId, after);
      }
      await applyStoryChanges(db, plans, this.tables);
      this.advanced += known.length;
    }
    return storyIds.length;
  }

  /** A story deleted meanwhile: its state is no use any more. */
  forget(storyIds: readonly string[]): void {
    for (const id of storyIds) this.states.delete(id);
  }

  private keep(state: StoryState): void {
    if (this.states.size < STATES_KEPT || this.states.has(state.id)) this.states.set(state.id, state);
  }
}
