// A story's versions as an immutable, append-only history.
// Appending is O(1): histories share one backing map and each sees only the
// numbers up to its own latest, so a fold over a long log does not copy.
import type { ModuleInputs, SnapshotKey } from "./catalogue.ts";
import type { VersionOutputs } from "./content.ts";

export type StoryVersionState = {
  readonly id: string;
  readonly number: number;
  readonly parentNumber: number | null;
  /** each module's output, as content or as references (./content.ts) */
  readonly outputs: VersionOutputs;
  readonly inputs: ModuleInputs;
  /** seq of the event that made it */
  readonly eventSeq: number;
  readonly createdAt: Date;
  /** the AI generation that wrote it */
  readonly generationId: string | null;
  /** who made it: the actor of the event that made it */
  readonly authorId: string;
  /**
   * Per module, the version whose change wrote the content this version holds there: what undo
   * and redo look at to tell whether anyone changed a module since (a module holding the same
   * content brought back by someone's restore was changed by them; one given back by an undo was not).
   */
  readonly writtenIn: { readonly [K in SnapshotKey]: number };
};

type Backing = { readonly map: Map<number, StoryVersionState>; max: number };

export class VersionHistory {
  private readonly backing: Backing;
  /** the highest version number this history holds */
  readonly latestNumber: number;

  private constructor(backing: Backing, latestNumber: number) {
    this.backing = backing;
    this.latestNumber = latestNumber;
  }

  static empty(): VersionHistory {
    return new VersionHistory({ map: new Map(), max: 0 }, 0);
  }

  /**
   * Part of a history, as loaded for one command: the given versions, and the
   * knowledge that numbers up to `latestNumber` exist.
   */
  static partial(versions: Iterable<StoryVersionState>, latestNumber: number): VersionHistory {
    const map = new Map<number, StoryVersionState>();
    for (const v of versions) map.set(v.number, v);
    return new VersionHistory({ map, max: latestNumber }, latestNumber);
  }

  get(number: number): StoryVersionState | undefined {
    return number <= this.latestNumber ? this.backing.map.get(number) : undefined;
  }

  append(version: StoryVersionState): VersionHistory {
    if (version.number !== this.latestNumber + 1) {
      throw new Error(`version ${version.number} does not follow ${this.latestNumber}`);
    }
    let backing = this.backing;
    if (backing.max !== this.latestNumber) {
      // Another history already grew from this one: branch off with a copy of what we see.
      const map = new Map<number, StoryVersionState>();
      for (const [n, v] of backing.map) if (n <= this.latestNumber) map.set(n, v);
      backing = { map, max: this.latestNumber };
    }
    backing.map.set(version.number, version);
    backing.max = version.number;
    return new VersionHistory(backing, version.number);
  }

  /** The versions held, in number order. */
  *[Symbol.iterator](): IterableIterator<StoryVersionState> {
    for (let n = 1; n <= this.latestNumber; n++) {
      const v = this.backing.map.get(n);
      if (v) yield v;
    }
  }
}
