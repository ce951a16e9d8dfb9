// Branches and the trash together: deleting a story takes its branches with it as far down as they
// are its owner's (a branch someone else made is theirs and stays), restoring brings back what
// went with it (not a branch trashed on its own before), purging erases what went with it; a
// story in the trash is left out of every family tree.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { DeleteStory, PurgeStory, RestoreStory, SignUp } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { verifyReadTables } from "../src/projection/verify.ts";

const MakeBranch = graphql(`
  mutation BranchTrashCreate($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const Family = graphql(`
  query BranchTrashFamily($id: ID!) {
    story(id: $id) { id branchOf { versionNumber story { id } } branches { id } branchTree { story { id } parentId depth } }
  }
`);
const Trash = graphql(`
  query BranchTrashList { viewer { trash(first: 20) { edges { node { id isBranch branchLabel } } } } }
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
const branchOf = async (storyId: string, label: string, by: Writer) =>
  (await server.query(MakeBranch, { input: { storyId, label } }, by.token)).createBranch.story.id;
const family = (id: string, by: Writer) => server.request(Family, { id }, by.token);
const trashOf = async (by: Writer) => (await server.query(Trash, {}, by.token)).viewer!.trash.edges.map((e) => e.node.id).sort();
const uuidOf = (id: string) => decodeGlobalId(id)!.id;

beforeAll(async () => {
  server = await startTestServer();
  [ann, ben] = await Promise.all([writer("ann"), writer("ben")]);
});
afterAll(() => server?.close());

describe("a story's branches in the trash", () => {
  it("go with it when they are its owner's, come back with it, and are purged with it; another's branch stays", async () => {
    const story = await createStory(server, ann.token, "The family");
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId: story, email: ben.email, role: "EDITOR" } }, ann.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token! } }, ben.token);
    const annBranch = await branchOf(story, "Ann's try", ann);
    const annDeeper = await branchOf(annBranch, "Ann's deeper try", ann);
    const annSide = await branchOf(story, "Ann's side try", ann);
    const benBranch = await branchOf(story, "Ben's try", ben);
    // Ben's branch of his branch is his; Ann's branch under Ben's is not reached through his
    const annUnderBen = await branchOf(benBranch, "Ann under Ben", ann);

    // Ann trashes her side try on its own first
    await server.query(DeleteStory, { input: { id: annSide } }, ann.token);
    await server.query(DeleteStory, { input: { id: story } }, ann.token);
    expect(await trashOf(ann)).toEqual([story, annBranch, annDeeper, annSide].sort());
    // the trash tells the branches by their labels
    const listed = (await server.query(Trash, {}, ann.token)).viewer!.trash.edges.map((e) => e.node);
    expect(listed.map((n) => n.branchLabel).sort()).toEqual([null, "Ann's deeper try", "Ann's side try", "Ann's try"].sort());
    expect(listed.find((n) => n.id === story)!.isBranch).toBe(false);
    // a missing story, as a query answers one: null
    for (const id of [story, annBranch, annDeeper]) expect((await family(id, ann)).data!.story).toBeNull();
    // Ben's branch stays: its origin reads as gone, and the tree leaves out what is in the trash
    const bens = (await family(benBranch, ben)).data!.story!;
    expect(bens.branchOf).toMatchObject({ versionNumber: 1, story: null });
    // (Ben is a member of Ann's branch of his: the owner of what it was made from)
    expect(bens.branchTree.map((n) => n.story.id)).toEqual([benBranch, annUnderBen]);
    const annView = (await family(annUnderBen, ann)).data!.story!;
    expect(annView.branchTree.map((n) => [n.story.id, n.parentId, n.depth])).toEqual([
      [benBranch, null, 0],
      [annUnderBen, benBranch, 1],
    ]);

    // restoring brings back what went with it; the side try trashed before stays there
    await server.query(RestoreStory, { input: { id: story } }, ann.token);
    expect(await trashOf(ann)).toEqual([annSide]);
    const restored = (await family(story, ann)).data!.story!;
    expect(restored.branches.map((b) => b.id).sort()).toEqual([annBranch, benBranch].sort());
    expect(restored.branchTree.map((n) => n.story.id)).toEqual([story, annBranch, annDeeper, benBranch, annUnderBen]);

    // trashed again and purged: what went with it is erased; the side try keeps its own time in the trash
    await server.query(DeleteStory, { input: { id: story } }, ann.token);
    const { purgeStory } = await server.query(PurgeStory, { input: { id: story } }, ann.token);
    expect([...purgeStory.purgedStoryIds].sort()).toEqual([story, annBranch, annDeeper].sort());
    expect(await server.db.prisma.story.count({ where: { id: { in: [story, annBranch, annDeeper].map(uuidOf) } } })).toBe(0);
    expect(await server.db.prisma.storyBranch.count({ where: { storyId: { in: [story, annBranch, annDeeper].map(uuidOf) } } })).toBe(0);
    expect(await trashOf(ann)).toEqual([annSide]);
    expect((await family(benBranch, ben)).data!.story!.branchOf!.story).toBeNull();
    expect((await family(annUnderBen, ann)).data!.story!.branchOf!.story!.id).toBe(benBranch);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("a branch in the trash can't be branched, compared or merged: it is a missing story", async () => {
    const story = await createStory(server, ann.token, "Gone branch");
    const branch = await branchOf(story, "soon gone", ann);
    await server.query(DeleteStory, { input: { id: branch } }, ann.token);
    const refused = await server.request(MakeBranch, { input: { storyId: branch, label: "from the trash" } }, ann.token);
    expect(errorCodes(refused)).toEqual(["NOT_FOUND"]);
    expect((await family(story, ann)).data!.story!.branches).toEqual([]);
    expect((await family(story, ann)).data!.story!.branchTree.map((n) => n.story.id)).toEqual([story]);
  });
});
