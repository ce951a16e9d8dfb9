// Merging, at random (issue 14's evidence): a story and its branch take random edits — writes,
// clears, undos, redos, restores — then the branch is merged into the story with a whole-module
// choice for every module. With THEIRS everywhere the story holds exactly the branch's content;
// with OURS everywhere, exactly its own; undo after either gives the story back exactly as it
// was. Some merges are kept (redone), so later rounds merge from the last merge's base. A seeded
// random source makes any failure replayable; verify finds the read tables equal to the log's fold.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyReadTables } from "../src/projection/verify.ts";
import { ClearModule, Redo, RestoreVersion, StoryState, Undo, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { graphql } from "./generated/gql.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const SEEDS = [1, 7, 2024];
const ROUNDS = 3;
const EDITS_PER_ROUND = 12;
const MODULES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;
type Module = (typeof MODULES)[number];

const RandomCreateBranch = graphql(`
  mutation RandomMergeCreateBranch($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const RandomMerge = graphql(`
  mutation RandomMergeBranch($input: MergeBranchInput!) {
    mergeBranch(input: $input) { version { number snapshot inputs } event { type } }
  }
`);

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  token = (await signUpWriter(server, "merger")).token;
});
afterAll(() => server?.close());

/** A small deterministic random source. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function outputOf(module: Module, text: string): object {
  switch (module) {
    case "IDEA_SPARK":
      return { logline: text, themes: [text.slice(0, 5)] };
    case "WORLD_SEED":
      return { setting: text, locations: [{ name: text.slice(0, 4), description: text }] };
    case "CHARACTER_FORGE":
      return { characters: [{ name: text.slice(0, 6), want: text }] };
    case "PLOT_SKELETON":
      return { structure: text, beats: [{ name: "opening", summary: text }] };
    case "WORDSMITH_LAB":
      return { prose: `${text}\n${text.toUpperCase()}` };
  }
}

async function activeOf(storyId: string) {
  const { story } = await server.query(StoryState, { id: storyId }, token);
  const { number, snapshot, inputs } = story!.activeVersion;
  return { number, content: { snapshot, inputs } };
}

/** One random change to the story: a write (with or without input text), a clear, an undo, a redo or a restore. */
async function randomEdit(storyId: string, next: () => number, tag: string): Promise<void> {
  const module = MODULES[Math.floor(next() * MODULES.length)]!;
  const roll = next();
  const text = `${tag}-${Math.floor(next() * 1e6)}`;
  let response;
  if (roll < 0.55) {
    const inputText = next() < 0.5 ? `notes ${text}` : undefined;
    response = await server.request(WriteModule, { input: { storyId, module, output: outputOf(module, text), ...(inputText && { inputText }) } as never }, token);
  } else if (roll < 0.65) {
    response = await server.request(ClearModule, { input: { storyId, module } }, token);
  } else if (roll < 0.8) {
    response = await server.request(Undo, { input: { storyId } }, token);
  } else if (roll < 0.92) {
    response = await server.request(Redo, { input: { storyId } }, token);
  } else {
    const latest = (await activeOf(storyId)).number;
    response = await server.request(RestoreVersion, { input: { storyId, number: 1 + Math.floor(next() * latest) } }, token);
  }
  // undo at version 1 or redo with nothing undone are refusals the rules make, and change nothing
  expect(errorCodes(response).filter((code) => code !== "NOTHING_TO_UNDO" && code !== "NOTHING_TO_REDO")).toEqual([]);
}

const everywhere = (choice: "OURS" | "THEIRS") => MODULES.map((module) => ({ module, choice }));

describe("random edits to a story and its branch, then merges", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: THEIRS everywhere gives the branch's content, OURS the story's; undo gives the story back exactly`, async () => {
      const next = random(seed);
      const story = await createStory(server, token, `Random ${seed}`);
      for (let i = 0; i < 4; i++) await randomEdit(story, next, "start");
      const { createBranch } = await server.query(RandomCreateBranch, { input: { storyId: story, label: `seed ${seed}` } }, token);
      const branch = createBranch.story.id;

      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < EDITS_PER_ROUND; i++) {
          await randomEdit(next() < 0.5 ? story : branch, next, `r${round}e${i}`);
        }
        const ours = await activeOf(story);
        const theirs = await activeOf(branch);

        const { mergeBranch: taken } = await server.query(RandomMerge, { input: { branchId: branch, intoStoryId: story, resolutions: everywhere("THEIRS") } }, token);
        expect(taken.event.type).toBe("BranchMerged");
        expect({ snapshot: taken.version.snapshot, inputs: taken.version.inputs }).toEqual(theirs.content);
        expect((await activeOf(story)).content).toEqual(theirs.content);
        await server.query(Undo, { input: { storyId: story } }, token);
        expect(await activeOf(story)).toEqual(ours);

        const { mergeBranch: kept } = await server.query(RandomMerge, { input: { branchId: branch, intoStoryId: story, resolutions: everywhere("OURS") } }, token);
        expect({ snapshot: kept.version.snapshot, inputs: kept.version.inputs }).toEqual(ours.content);
        await server.query(Undo, { input: { storyId: story } }, token);
        expect(await activeOf(story)).toEqual(ours);

        // now and then the branch's content is kept: the next round merges from that merge's base
        if (next() < 0.5) {
          await server.query(RandomMerge, { input: { branchId: branch, intoStoryId: story, resolutions: everywhere("THEIRS") } }, token);
          expect((await activeOf(story)).content).toEqual(theirs.content);
        }
      }
      expect(await verifyReadTables(server.db)).toEqual([]);
    });
  }
});
