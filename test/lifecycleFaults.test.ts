// A dropped PostgreSQL connection (here pg_terminate_backend) in the middle of the operations that
// change several stories or tables in one transaction — moving a story and its branches to the
// trash, erasing an account: the request answers a retryable SERVICE_UNAVAILABLE, nothing of it
// is committed, the process survives, and the retry applies it once. The embedded database has no
// connections to kill.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { DeleteStory, SignUp } from "./support/documents.ts";
import { backend } from "./support/databases.ts";
import { createStory } from "./support/fixtures.ts";
import { waitForLockedBackend } from "./support/lockWaits.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { idOf } from "../src/graphql/globalIds.ts";
import { verifyReadTables } from "../src/projection/verify.ts";

const FaultBranch = graphql(`
  mutation FaultsBranch($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const FaultDeleteAccount = graphql(`
  mutation FaultsDeleteAccount($input: DeleteAccountInput!) { deleteAccount(input: $input) { deleted erasedStories } }
`);
const FaultMerge = graphql(`
  mutation FaultsMerge($input: MergeBranchInput!) { mergeBranch(input: $input) { version { number } } }
`);
const FaultWrite = graphql(`
  mutation FaultsWrite($input: WriteModuleInput!) { writeModule(input: $input) { version { number } } }
`);
const FaultState = graphql(`
  query FaultsState($id: ID!) { story(id: $id) { revision activeVersion { number } } }
`);

const PASSWORD = "correct horse battery";

describe.skipIf(backend === "pglite")("a connection that dies in a trash or an erasure", () => {
  let server: TestServer;
  let admin: pg.Client;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    server = await startTestServer();
    admin = new pg.Client({ connectionString: server.database.directUrl });
    await admin.connect();
    process.on("uncaughtException", onUncaught);
  });
  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    await admin?.end();
    await server?.close();
  });

  async function writer(name: string) {
    const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
    const { signUp } = await server.query(SignUp, { input: { email, username: name, password: PASSWORD } });
    return { token: signUp.token, id: signUp.user.id };
  }

  /** Runs `request` while the test holds a row lock it needs, then kills the server's connection waiting for it. */
  async function killedWhileWaiting<T>(lock: string, params: unknown[], request: () => Promise<GraphQLResponse<T>>): Promise<GraphQLResponse<T>> {
    await admin.query("BEGIN");
    try {
      await admin.query(lock, params);
      const answer = request();
      const waiting = await waitForLockedBackend(admin).catch(async (error: unknown) => {
        const answered = await Promise.race([answer.then(JSON.stringify, String), new Promise((resolve) => setTimeout(() => resolve("nothing yet"), 100))]);
        throw new Error(`${String(error)}; the request answered: ${String(answered)}`);
      });
      await admin.query("SELECT pg_terminate_backend($1)", [waiting]);
      return await answer;
    } finally {
      await admin.query("ROLLBACK");
    }
  }

  const refusedAsRetryable = (response: GraphQLResponse<unknown>) => {
    expect(errorCodes(response)).toEqual(["SERVICE_UNAVAILABLE"]);
    expect(response.errors![0]!.message).toMatch(/safe to retry/);
  };

  it("moving a story and its branch to the trash: neither moves; the retry moves both", async () => {
    const ann = await writer("ann");
    const story = await createStory(server, ann.token, "Trashed under fire");
    const branch = (await server.query(FaultBranch, { input: { storyId: story, label: "goes with it" } }, ann.token)).createBranch.story.id;

    // the branch's lock is held: the story's trash waits for it, in the same transaction
    const failed = await killedWhileWaiting("SELECT 1 FROM stories WHERE id = $1 FOR UPDATE", [idOf("Story", branch)], () =>
      server.request(DeleteStory, { input: { id: story } }, ann.token),
    );
    refusedAsRetryable(failed);
    for (const id of [story, branch]) expect((await server.query(FaultState, { id }, ann.token)).story).not.toBeNull();

    await server.query(DeleteStory, { input: { id: story } }, ann.token);
    for (const id of [story, branch]) expect((await server.query(FaultState, { id }, ann.token)).story).toBeNull();
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect(uncaught).toEqual([]);
  });

  it("an account erasure: nothing erased; the retry erases it", async () => {
    const ada = await writer("ada");
    const story = await createStory(server, ada.token, "Erased under fire");
    await server.query(FaultBranch, { input: { storyId: story, label: "hers too" } }, ada.token);

    const failed = await killedWhileWaiting("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [idOf("User", ada.id)], () =>
      server.request(FaultDeleteAccount, { input: { password: PASSWORD } }, ada.token),
    );
    refusedAsRetryable(failed);
    expect(await server.db.prisma.story.count({ where: { userId: idOf("User", ada.id) } })).toBe(2);
    expect((await server.query(FaultState, { id: story }, ada.token)).story).not.toBeNull();

    const { deleteAccount } = await server.query(FaultDeleteAccount, { input: { password: PASSWORD } }, ada.token);
    expect(deleteAccount).toEqual({ deleted: true, erasedStories: 2 });
    expect(await server.db.prisma.user.count({ where: { id: idOf("User", ada.id) } })).toBe(0);
    expect(uncaught).toEqual([]);
  });

  it("a merge: nothing merged; the retry merges it", async () => {
    const ann = await writer("ann");
    const story = await createStory(server, ann.token, "Merged under fire");
    const branch = (await server.query(FaultBranch, { input: { storyId: story, label: "to merge" } }, ann.token)).createBranch.story.id;
    const idea = { logline: "A logline from the branch.", oneLiner: "One line." };
    await server.query(FaultWrite, { input: { storyId: branch, module: "IDEA_SPARK", output: idea } }, ann.token);

    const failed = await killedWhileWaiting("SELECT 1 FROM stories WHERE id = $1 FOR UPDATE", [idOf("Story", story)], () =>
      server.request(FaultMerge, { input: { branchId: branch, intoStoryId: story } }, ann.token),
    );
    refusedAsRetryable(failed);
    expect((await server.query(FaultState, { id: story }, ann.token)).story!.activeVersion!.number).toBe(1);

    const { mergeBranch } = await server.query(FaultMerge, { input: { branchId: branch, intoStoryId: story } }, ann.token);
    expect(mergeBranch.version!.number).toBe(2);
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect(uncaught).toEqual([]);
  });
});
