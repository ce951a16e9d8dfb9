// A story as it was after any event of its log: the same fold the projector uses, stopped early.
import { MODULES } from "../domain/catalogue.ts";
import { outputContent } from "../domain/content.ts";
import { activeVersion, canUndo, foldEvents, type RecordedStoryEvent } from "../domain/story.ts";

export type StoryAtRevision = {
  storyId: string;
  revision: number;
  title: string;
  logline: string | null;
  genre: string | null;
  isComplete: boolean;
  activeVersionNumber: number;
  canUndo: boolean;
  canRedo: boolean;
  modules: { name: string; order: number; inputText: string | null; output: unknown }[];
};

/** `events` are the story's first events, oldest first; the last one is the revision shown. */
export function storyAtRevision(storyId: string, events: readonly RecordedStoryEvent[]): StoryAtRevision {
  const state = foldEvents(storyId, events);
  const active = activeVersion(state);
  return {
    storyId,
    revision: state.revision,
    title: state.title,
    logline: state.logline,
    genre: state.genre,
    isComplete: state.isComplete,
    activeVersionNumber: state.activeVersionNumber,
    canUndo: canUndo(state.activeVersionNumber),
    canRedo: state.redo.length > 0,
    modules: MODULES.map((m) => ({
      name: m.name,
      order: m.order,
      inputText: active.inputs[m.snapshotKey],
      output: outputContent(active.outputs[m.snapshotKey]),
    })),
  };
}
