// The projector's plan: what the read tables must change between two states of a story.
// Commands write it together with their events in one statement (eventstore/append.ts);
// rebuild inserts the plans of whole stories, from the empty state, in batches (./bulkInsert.ts).
import { MODULES } from "../domain/catalogue.ts";
import type { StoryState } from "../domain/story.ts";
import type { ContentRow } from "../domain/content.ts";
import {
  collaboratorRow,
  collaboratorRows,
  invitationRow,
  invitationRows,
  moduleRows,
  newContent,
  newVersions,
  storyRow,
  versionRow,
  type CollaboratorRow,
  type InvitationRow,
  type StoryModuleRow,
  type StoryRow,
  type StoryVersionRow,
  branchRows,
  type StoryBranchRow,
} from "./storyRows.ts";

/** A story that did not exist: all its rows, inserted. */
export type NewStoryPlan = {
  kind: "newStory";
  story: StoryRow;
  /** all five */
  modules: StoryModuleRow[];
  versions: StoryVersionRow[];
  /** module content the versions name that may not be stored yet */
  contents: ContentRow[];
  /** its members: the owner, at first */
  collaborators: CollaboratorRow[];
  invitations: InvitationRow[];
  /** its story_branches row, when it is a branch */
  branches: StoryBranchRow[];
};

/** A change to a story: its row updated, the modules whose content changed, new versions inserted, labels set. */
export type StoryChangePlan = {
  kind: "storyChange";
  story: StoryRow;
  modules: StoryModuleRow[];
  versions: StoryVersionRow[];
  /** labels of versions that were there before */
  labels: VersionLabelRow[];
  /** module content the new versions name that may not be stored yet */
  contents: ContentRow[];
  /** members who joined or whose role changed: inserted, or updated where they are */
  collaborators: CollaboratorRow[];
  /** members who left or were removed */
  removedCollaborators: CollaboratorKey[];
  /** invitations made or answered: inserted, or updated where they are */
  invitations: InvitationRow[];
};

export type CollaboratorKey = Pick<CollaboratorRow, "storyId" | "userId">;

export type VersionLabelRow = Pick<StoryVersionRow, "storyId" | "versionNumber" | "label">;

export type ProjectionPlan = NewStoryPlan | StoryChangePlan;

export function planProjection(before: StoryState, after: StoryState): ProjectionPlan {
  if (!before.exists) return planNewStory(after);
  if (!after.exists) throw new Error(`story ${after.id}: a change cannot remove a story`);
  const labels: VersionLabelRow[] = [];
  if (before.labels !== after.labels) {
    for (const number of new Set([...before.labels.keys(), ...after.labels.keys()])) {
      const label = after.labels.get(number) ?? null;
      // a new version carries its label in its own row
      if (number > before.versions.latestNumber || label === (before.labels.get(number) ?? null)) continue;
      labels.push({ storyId: after.id, versionNumber: number, label });
    }
  }
  const versions = newVersions(before, after);
  const collaborators: CollaboratorRow[] = [];
  const removedCollaborators: CollaboratorKey[] = [];
  if (before.memberRecords !== after.memberRecords || before.members !== after.members) {
    for (const [userId, record] of after.memberRecords) {
      if (before.memberRecords.get(userId) !== record || before.members.get(userId) !== after.members.get(userId)) {
        collaborators.push(collaboratorRow(after, userId));
      }
    }
    for (const userId of before.members.keys()) if (!after.members.has(userId)) removedCollaborators.push({ storyId: after.id, userId });
  }
  const invitations: InvitationRow[] = [];
  if (before.invitations !== after.invitations) {
    for (const [id, invitation] of after.invitations) if (before.invitations.get(id) !== invitation) invitations.push(invitationRow(after, invitation));
  }
  return {
    kind: "storyChange",
    story: storyRow(after),
    modules: moduleRows(after).filter((_, i) => before.moduleUpdatedAt[MODULES[i]!.snapshotKey] !== after.moduleUpdatedAt[MODULES[i]!.snapshotKey]),
    versions: versions.map((v) => versionRow(after, v)),
    labels,
    contents: newContent(after, versions),
    collaborators,
    removedCollaborators,
    invitations,
  };
}

export function planNewStory(state: StoryState): NewStoryPlan {
  if (!state.exists) throw new Error(`story ${state.id}: no events, nothing to project`);
  const versions = [...state.versions];
  return {
    kind: "newStory",
    story: storyRow(state),
    modules: moduleRows(state),
    versions: versions.map((v) => versionRow(state, v)),
    contents: newContent(state, versions),
    collaborators: collaboratorRows(state),
    invitations: invitationRows(state),
    branches: branchRows(state),
  };
}
