// given(events).when(command).then(events) or .thenRefused(code): the story's rules as
// specifications, through decide and evolve alone — no database, no server.
import { expect } from "vitest";
import { MODULES, type JsonObject, type ModuleName } from "../../src/domain/catalogue.ts";
import { StorySparkError, type ErrorCode } from "../../src/domain/errors.ts";
import {
  EVENT_SCHEMA_VERSION,
  decide,
  evolve,
  initialState,
  type GenerationRef,
  type ModuleIds,
  type RecordedStoryEvent,
  type StoryCommand,
  type StoryEventData,
  type StoryState,
  type VersionRef,
} from "../../src/domain/story.ts";

const STORY_ID = "story-1";
export const OWNER_ID = "writer-1";
const MODULE_IDS = Object.fromEntries(MODULES.map((m) => [m.snapshotKey, `module-${m.snapshotKey}`])) as unknown as ModuleIds;

/** Version n's id: the specifications make ids up the way the server does, one per new version. */
const version = (number: number): VersionRef => ({ id: `version-${number}`, number });

/**
 * A command as a client sends it: the server adds the ids of what it creates, and the signed-in
 * user as the actor of undo and redo (the owner, unless the specification names another).
 */
type WithoutServerIds<C> = C extends StoryCommand
  ? Omit<C, "versionId" | "moduleIds" | "actorId"> & ("actorId" extends keyof C ? { actorId?: string } : unknown)
  : never;
export type ClientCommand = WithoutServerIds<StoryCommand>;

/** An event of the history made by `actorId` (the others are the owner's). */
export type ActedEvent = StoryEventData & { actorId?: string };

/** The event, made by `actorId`. */
export const by = (actorId: string, event: StoryEventData): ActedEvent => ({ ...event, actorId });

export function given(history: readonly ActedEvent[]) {
  const state = fold(initialState(STORY_ID), history);
  return {
    /** The story the history folds to. */
    state,
    /** The command, made by `actor`: for undo and redo, their `actorId`; otherwise the owner unless named. */
    when(command: ClientCommand, actor: string = ("actorId" in command && command.actorId) || OWNER_ID) {
      const decideCommand = () => decide(withServerIds(command, state, actor), state);
      return {
        /** The events the command appends; answers the story after them, for what evolve made of them. */
        then(expected: readonly StoryEventData[]): StoryState {
          const events = decideCommand();
          expect(events).toEqual(expected);
          return fold(state, events.map((event) => by(actor, event)));
        },
        /** The command is refused with this code, and with a message naming the field and reason; answers the refusal. */
        thenRefused(code: ErrorCode, message: string | RegExp): StorySparkError {
          let refusal: unknown;
          try {
            decideCommand();
          } catch (error) {
            refusal = error;
          }
          expect(refusal, "the command was accepted").toBeInstanceOf(StorySparkError);
          expect((refusal as StorySparkError).code).toBe(code);
          expect((refusal as StorySparkError).message).toMatch(message);
          return refusal as StorySparkError;
        },
      };
    },
  };
}

function fold(state: StoryState, events: readonly ActedEvent[]): StoryState {
  return events.reduce((story, event) => evolve(story, recorded(event, story.revision + 1)), state);
}

/** When the event at `seq` is appended in the specifications' made-up time: second `seq` of 2025. */
export const timeOf = (seq: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, seq));

function recorded({ actorId, ...event }: ActedEvent, seq: number): RecordedStoryEvent {
  return {
    ...(event as StoryEventData),
    id: `event-${seq}`,
    storyId: STORY_ID,
    seq,
    schemaVersion: EVENT_SCHEMA_VERSION,
    actorId: actorId ?? OWNER_ID,
    createdAt: timeOf(seq),
  };
}

function withServerIds(command: ClientCommand, state: StoryState, actor: string): StoryCommand {
  const versionId = version(state.versions.latestNumber + 1).id;
  switch (command.type) {
    case "CreateStory":
    case "CreateBranch":
      return { ...command, versionId: version(1).id, moduleIds: MODULE_IDS } as StoryCommand;
    case "MergeBranch":
      return { ...command, versionId };
    case "WriteModule":
    case "ClearModule":
    case "RestoreVersion":
      return { ...command, versionId };
    case "Undo":
    case "Redo":
      return { ...command, actorId: actor, versionId };
    case "ChangeStoryDetails":
    case "LabelVersion":
      return command;
    default:
      // the membership commands name who acts
      return { ...command, actorId: actor } as StoryCommand;
  }
}

// ---------------------------------------------------------------- events, as the log holds them

type Details = { title?: string; logline?: string | null; genre?: string | null };

export const storyCreated = (details: Details = {}): StoryEventData => ({
  type: "StoryCreated",
  payload: {
    ownerId: OWNER_ID,
    title: details.title ?? "The Lighthouse",
    logline: details.logline ?? null,
    genre: details.genre ?? null,
    version: version(1),
    moduleIds: MODULE_IDS,
  },
});

export const storyDetailsChanged = (
  payload: Extract<StoryEventData, { type: "StoryDetailsChanged" }>["payload"],
): StoryEventData => ({ type: "StoryDetailsChanged", payload });

/** The module written as version `number`. */
export const moduleWritten = (
  number: number,
  module: ModuleName,
  output: JsonObject,
  inputText: string | null = null,
  generation?: GenerationRef,
): StoryEventData => ({
  type: "ModuleWritten",
  payload: { module, inputText, output, version: version(number), ...(generation && { generation }) },
});

export const moduleCleared = (number: number, module: ModuleName): StoryEventData => ({
  type: "ModuleCleared",
  payload: { module, version: version(number) },
});

export const undone = (from: number, to: number): StoryEventData => ({ type: "Undone", payload: { from, to } });

export const redone = (from: number, to: number): StoryEventData => ({ type: "Redone", payload: { from, to } });

/** Version `change`'s change taken back as a new version `number`. */
export const changeReverted = (change: number, number: number): StoryEventData => ({
  type: "ChangeReverted",
  payload: { change, version: version(number) },
});

/** Version `change`'s change re-applied as a new version `number`. */
export const changeReapplied = (change: number, number: number): StoryEventData => ({
  type: "ChangeReapplied",
  payload: { change, version: version(number) },
});

/** Version `restoredNumber`'s content made again as version `number`. */
export const versionRestored = (restoredNumber: number, number: number): StoryEventData => ({
  type: "VersionRestored",
  payload: { restoredNumber, version: version(number) },
});

/** A branch's first event: made by `ownerId` from `parent`, holding `content`, with `members`. */
export const branchCreated = (
  payload: Omit<Extract<StoryEventData, { type: "BranchCreated" }>["payload"], "version" | "moduleIds">,
): StoryEventData => ({ type: "BranchCreated", payload: { ...payload, version: version(1), moduleIds: MODULE_IDS } });

/** A branch merged as version `number`. */
export const branchMerged = (
  number: number,
  payload: Omit<Extract<StoryEventData, { type: "BranchMerged" }>["payload"], "version">,
): StoryEventData => ({ type: "BranchMerged", payload: { ...payload, version: version(number) } });

export const versionLabeled = (number: number, label: string | null): StoryEventData => ({
  type: "VersionLabeled",
  payload: { number, label },
});
