// The read tables' rows as a function of the story's state: what the projector
// writes, what rebuild inserts and what verify expects are the same images.
import { MODULES, type ModuleInputs, type ModuleOutputs } from "../domain/catalogue.ts";
import { activeVersion, type StoryState, type StoryVersionState } from "../domain/story.ts";

export type StoryRow = {
  id: string;
  userId: string;
  title: string;
  logline: string | null;
  genre: string | null;
  createdAt: Date;
  updatedAt: Date;
  isComplete: boolean;
  activeVersionId: string | null;
  activeVersionNumber: number;
  revision: number;
  latestVersionNumber: number;
  redoVersionNumbers: number[];
};

export type StoryModuleRow = {
  id: string;
  storyId: string;
  moduleName: string;
  inputText: string | null;
  outputText: ModuleOutputs[keyof ModuleOutputs];
  moduleOrder: number;
  createdAt: Date;
  updatedAt: Date;
};

export type StoryVersionRow = {
  id: string;
  storyId: string;
  versionNumber: number;
  fullSnapshot: ModuleOutputs;
  inputs: ModuleInputs;
  parentVersionId: string | null;
  eventSeq: number;
  createdAt: Date;
  label: string | null;
  generationId: string | null;
};

export function storyRow(state: StoryState): StoryRow {
  return {
    id: state.id,
    userId: state.ownerId,
    title: state.title,
    logline: state.logline,
    genre: state.genre,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    isComplete: state.isComplete,
    activeVersionId: activeVersion(state).id,
    activeVersionNumber: state.activeVersionNumber,
    revision: state.revision,
    latestVersionNumber: state.versions.latestNumber,
    redoVersionNumbers: [...state.redo],
  };
}

export function moduleRows(state: StoryState): StoryModuleRow[] {
  const active = activeVersion(state);
  return MODULES.map((m) => ({
    id: state.moduleIds[m.snapshotKey],
    storyId: state.id,
    moduleName: m.moduleName,
    inputText: active.inputs[m.snapshotKey],
    outputText: active.outputs[m.snapshotKey],
    moduleOrder: m.order,
    createdAt: state.createdAt,
    updatedAt: state.moduleUpdatedAt[m.snapshotKey],
  }));
}

export function versionRow(state: StoryState, version: StoryVersionState): StoryVersionRow {
  const parent = version.parentNumber === null ? null : state.versions.get(version.parentNumber);
  if (version.parentNumber !== null && !parent) {
    throw new Error(`story ${state.id}: parent ${version.parentNumber} of version ${version.number} is not in the state`);
  }
  return {
    id: version.id,
    storyId: state.id,
    versionNumber: version.number,
    fullSnapshot: version.outputs,
    inputs: version.inputs,
    parentVersionId: parent?.id ?? null,
    eventSeq: version.eventSeq,
    createdAt: version.createdAt,
    label: state.labels.get(version.number) ?? null,
    generationId: version.generationId,
  };
}

/** Versions in `after` that `before` did not have. */
export function newVersions(before: StoryState, after: StoryState): StoryVersionState[] {
  const added: StoryVersionState[] = [];
  for (let n = before.versions.latestNumber + 1; n <= after.versions.latestNumber; n++) {
    const v = after.versions.get(n);
    if (v) added.push(v);
  }
  return added;
}
