// Families of branches, from the review of issue 14: the base of a compare or merge is never read
// from a story the viewer is not a member of; a merge in either direction is the base of the next
// one (no false conflicts after updating a branch from its story); branches nest 100 deep at most.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { SignUp, Undo, WriteModule } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { MAX_BRANCH_DEPTH } from "../src/commands/branchCommands.ts";

const NewBranch = graphql(`
  mutation FamiliesBranch($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const CompareFamily = graphql(`
  query FamiliesCompare($a: ID!, $b: ID!) { compareBranches(a: $a, b: $b) { base { storyId versionNumber } changesInA { module status } changesInB { module status } } }
`);
const PreviewFamily = graphql(`
  query FamiliesPreview($branchId: ID!, $intoStoryId: ID!) {
    previewMerge(branchId: $branchId, intoStoryId: $intoStoryId) { base { storyId versionNumber } hasConflicts modules { module status conflicts { path base } } }
  }
`);
const MergeFamily = graphql(`
  mutation FamiliesMerge($input: MergeBranchInput!) { mergeBranch(input: $input) { version { number snapshot } } }
`);

let server: TestServer;
type Writer = { token: string; email: string };
let ann: Writer;
let ben: Writer;

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, email };
}
const branch = async (storyId: string, label: string, by: Writer = ann) =>
  (await server.query(NewBranch, { input: { storyId, label } }, by.token)).createBranch.story.id;
const writeIdea = (storyId: string, logline: string, by: Writer = ann) =>
  server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline } } }, by.token);

beforeAll(async () => {
  server = await startTestServer();
  [ann, ben] = await Promise.all([writer("ann"), writer("ben")]);
});
afterAll(() => server?.close());

describe("the base of a compare or a merge", () => {
  it("is never read from a story the viewer is not a member of", async () => {
    // two branches whose common version is one only the parent holds (2: undone, then written over)
    const story = await createStory(server, ann.token, "Hidden base");
    await writeIdea(story, "the hidden logline"); // 2
    await writeIdea(story, "three"); // 3
    await server.query(Undo, { input: { storyId: story } }, ann.token);
    await writeIdea(story, "four"); // 4, child of 2
    const fromThree = await branch(story, "from three");
    await server.query(Undo, { input: { storyId: story } }, ann.token);
    await server.query(WriteModule, { input: { storyId: story, module: "WORLD_SEED", output: { setting: "five" } } }, ann.token);
    const fromFive = await branch(story, "from five");
    for (const id of [fromThree, fromFive]) {
      const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId: id, email: ben.email, role: "EDITOR" } }, ann.token);
      await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token! } }, ben.token);
    }

    // Ann, a member of all three, sees the base: version 2 of the story
    const annCompare = await server.query(CompareFamily, { a: fromThree, b: fromFive }, ann.token);
    expect(annCompare.compareBranches.base).toEqual({ storyId: story, versionNumber: 2 });
    // Ben, a member of the branches only, gets neither the base nor its content
    for (const response of [
      await server.request(CompareFamily, { a: fromThree, b: fromFive }, ben.token),
      await server.request(PreviewFamily, { branchId: fromThree, intoStoryId: fromFive }, ben.token),
      await server.request(MergeFamily, { input: { branchId: fromThree, intoStoryId: fromFive } }, ben.token),
    ]) {
      expect(errorCodes(response)).toEqual(["BAD_USER_INPUT"]);
      expect(JSON.stringify(response)).not.toContain("the hidden logline");
      expect(JSON.stringify(response)).not.toContain(story);
    }
  });

  it("is the latest merge in either direction: a branch updated from its story merges back without false conflicts", async () => {
    const story = await createStory(server, ann.token, "Criss-cross");
    await writeIdea(story, "a");
    const b = await branch(story, "try");
    await writeIdea(b, "b");
    await writeIdea(story, "c");
    // the branch takes the story's news, keeping its own logline over the story's
    const resolutions = [{ module: "IDEA_SPARK" as const, path: "output.logline", choice: "OURS" as const }];
    await server.query(MergeFamily, { input: { branchId: story, intoStoryId: b, resolutions } }, ann.token);
    await server.query(WriteModule, { input: { storyId: b, module: "WORLD_SEED", output: { setting: "the branch's own" } } }, ann.token);
    // merging back: the base is the story's version the branch took, so its choice of logline is no conflict
    const { previewMerge } = await server.query(PreviewFamily, { branchId: b, intoStoryId: story }, ann.token);
    expect(previewMerge.hasConflicts).toBe(false);
    expect(Object.fromEntries(previewMerge.modules.map((m) => [m.module, m.status]))).toMatchObject({ IDEA_SPARK: "THEIRS", WORLD_SEED: "THEIRS" });
    const { compareBranches } = await server.query(CompareFamily, { a: story, b }, ann.token);
    const changed = (diffs: readonly { module: string; status: string }[]) => diffs.filter((d) => d.status !== "unchanged").map((d) => d.module);
    expect(changed(compareBranches.changesInA)).toEqual([]);
    expect(changed(compareBranches.changesInB)).toEqual(["IDEA_SPARK", "WORLD_SEED"]);
    const merged = await server.query(MergeFamily, { input: { branchId: b, intoStoryId: story } }, ann.token);
    expect(merged.mergeBranch.version.snapshot).toMatchObject({ idea_spark: { logline: "b" }, world_seed: { setting: "the branch's own" } });
  });
});

describe("branches of branches", () => {
  it(`nest ${MAX_BRANCH_DEPTH} deep at most`, async () => {
    let deepest = await createStory(server, ann.token, "Deep");
    for (let depth = 1; depth <= MAX_BRANCH_DEPTH; depth++) deepest = await branch(deepest, `depth ${depth}`);
    const refused = await server.request(NewBranch, { input: { storyId: deepest, label: "one more" } }, ann.token);
    expect(errorCodes(refused)).toEqual(["BAD_USER_INPUT"]);
    expect(refused.errors![0]!.message).toMatch(`at most ${MAX_BRANCH_DEPTH} deep`);
  }, 120_000);
});
