// The state this process left each story in after its last write here. A writer usually writes
// the same story again and again; deciding on the state it left saves reading it back, so the
// write is one round trip. Never trusted blindly: the append applies only if the story is still
// at that state's revision (another writer, another instance, a deletion all move it or remove
// it), and a command whose state is not here, or is not enough for it, reads it as usual.
import type { Database } from "../database/connect.ts";
import { outputRefs, storedOutputs, type OutputRefs } from "../domain/content.ts";
import { activeVersion, stackVersionsOf, type StoryState } from "../domain/story.ts";
import { VersionHistory, type StoryVersionState } from "../domain/versionHistory.ts";
import type { SnapshotKey } from "../domain/catalogue.ts";

/** Stories remembered per database; the least recently written are forgotten first. */
const STORIES_KEPT = 10_000;

const statesByDatabase = new WeakMap<Database, Map<string, StoryState>>();

function statesOf(db: Database): Map<string, StoryState> {
  let states = statesByDatabase.get(db);
  if (!states) statesByDatabase.set(db, (states = new Map()));
  return states;
}

/** The state a write here left the story in, if it is remembered. */
export function recentState(db: Database, storyId: string): StoryState | undefined {
  return statesOf(db).get(storyId);
}

/**
 * Remembers the state a write left the story in, as a command would load it: the versions any
 * command but restore and label needs (the active one, its parent, the one redo brings back, and
 * for every member the top of their undo and redo stacks with its parent: any member's undo or
 * redo can be decided on it), outputs as references. A state without them all is not remembered.
 */
export function rememberState(db: Database, state: StoryState): void {
  const states = statesOf(db);
  states.delete(state.id);
  const active = activeVersion(state);
  const numbers = new Set([active.number]);
  if (active.parentNumber !== null) numbers.add(active.parentNumber);
  if (state.redo.length > 0) numbers.add(state.redo.at(-1)!);
  for (const top of stackVersionsOf(state)) {
    const version = state.versions.get(top);
    if (!version || version.parentNumber === null) return;
    numbers.add(top).add(version.parentNumber);
  }
  const found = [...numbers].map((number) => state.versions.get(number));
  if (found.some((v) => v === undefined)) return;
  const versions = (found as StoryVersionState[]).sort((a, b) => a.number - b.number).map(asReferences);
  states.set(state.id, {
    ...state,
    versions: VersionHistory.partial(versions, state.versions.latestNumber),
    labels: new Map([...state.labels].filter(([number]) => versions.some((v) => v.number === number))),
  });
  if (states.size > STORIES_KEPT) states.delete(states.keys().next().value!);
}

export function forgetState(db: Database, storyId: string): void {
  statesOf(db).delete(storyId);
}

/** The version with its outputs as references: no module content is kept. */
function asReferences(version: StoryVersionState): StoryVersionState {
  const refs = Object.fromEntries(Object.entries(version.outputs).map(([key, output]) => [key, output && outputRefs(output)])) as {
    [K in SnapshotKey]: OutputRefs | null;
  };
  return { ...version, outputs: storedOutputs(refs) };
}
