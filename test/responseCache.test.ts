// Story-page answers kept by the story's revision (issue 11, item 2): a page at an unchanged revision
// is answered from what was kept after one statement reads the revision; any write — on this server
// or another — is seen by the next read; a field that does not change with the revision is never
// answered from what was kept.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { idOf } from "../src/graphql/globalIds.ts";
import { createResponseCache } from "../src/graphql/responseCache.ts";
import { DeleteStory, LabelVersion, SetMetadata, UpdateStory, WriteModule } from "./support/documents.ts";
import { backend } from "./support/databases.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { statementsOf } from "./support/statements.ts";

const KeptPage = graphql(`
  query KeptPage($id: ID!) {
    story(id: $id) { title revision modules { name output } versions(first: 3) { edges { node { number label } } } }
  }
`);

const PageWithMetadata = graphql(`
  query PageWithMetadata($id: ID!) { story(id: $id) { revision metadata { key value } modules { name } } }
`);

const PageWithOwner = graphql(`
  query PageWithOwner($id: ID!) { story(id: $id) { revision owner { username } } }
`);

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server, "keeper"));
});
afterAll(() => server?.close());

describe("story-page answers kept by revision", () => {
  it("answers a page at the same revision from what was kept, and the writer's next read sees each write", async () => {
    const storyId = await createStory(server, token, "Kept");
    const first = await statementsOf(server, () => server.query(KeptPage, { id: storyId }, token));
    // a change made behind the log's back, which no revision records, shows what the answer came from
    const behindTheLog = { where: { storyId: idOf("Story", storyId), moduleName: "idea-spark" }, data: { outputText: { unseen: true } } };
    expect((await server.db.prisma.storyModule.updateMany(behindTheLog)).count).toBe(1);
    const again = await statementsOf(server, () => server.query(KeptPage, { id: storyId }, token));
    expect([first.statements, again.statements]).toEqual([2, 2]); // the token check, then the page (no answer kept yet) or the revision
    expect(again.answer).toEqual(first.answer);

    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "written" } } }, token);
    const afterWrite = await server.query(KeptPage, { id: storyId }, token);
    expect(afterWrite.story!.revision).toBe(2);
    expect(afterWrite.story!.modules[0]).toEqual({ name: "IDEA_SPARK", output: { logline: "written" } });

    await server.query(LabelVersion, { input: { storyId, number: 2, label: "kept?" } }, token);
    expect((await server.query(KeptPage, { id: storyId }, token)).story!.versions.edges[0]!.node).toEqual({ number: 2, label: "kept?" });

    await server.query(UpdateStory, { input: { id: storyId, title: "Retitled" } }, token);
    expect((await server.query(KeptPage, { id: storyId }, token)).story!.title).toBe("Retitled");
  });

  it("keeps each viewer's answer to themselves: a stranger still reads null", async () => {
    const storyId = await createStory(server, token, "Mine");
    await server.query(KeptPage, { id: storyId }, token);
    await server.query(KeptPage, { id: storyId }, token);
    const stranger = await signUpWriter(server, "stranger");
    expect(await server.request(KeptPage, { id: storyId }, stranger.token)).toEqual({ data: { story: null } });
  });

  it("forgets a deleted story: null, as for any missing id", async () => {
    const storyId = await createStory(server, token, "Deleted");
    await server.query(KeptPage, { id: storyId }, token);
    await server.query(DeleteStory, { input: { id: storyId } }, token);
    expect(await server.request(KeptPage, { id: storyId }, token)).toEqual({ data: { story: null } });
  });

  it("never answers a field outside the story's revision from what was kept: the owner's name is read afresh", async () => {
    const writer = await signUpWriter(server, "renamed");
    const storyId = await createStory(server, writer.token, "Owned");
    expect((await server.query(PageWithOwner, { id: storyId }, writer.token)).story!.owner.username).toBe("renamed");
    // a change no event records, so the story's revision stays where it is
    await server.db.prisma.user.update({ where: { id: idOf("User", writer.userId) }, data: { username: "renamed again" } });
    const answer = await server.query(PageWithOwner, { id: storyId }, writer.token);
    expect(answer.story).toEqual({ revision: 1, owner: { username: "renamed again" } });
  });

  it("never answers from what was kept when the query reads metadata, which changes without the revision", async () => {
    const storyId = await createStory(server, token, "With metadata");
    const set = (value: string) => server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone", value } }, token);
    await set("noir");
    expect((await server.query(PageWithMetadata, { id: storyId }, token)).story!.metadata).toEqual([{ key: "tone", value: "noir" }]);
    await set("gothic");
    const answer = await server.query(PageWithMetadata, { id: storyId }, token);
    expect(answer.story).toMatchObject({ revision: 1, metadata: [{ key: "tone", value: "gothic" }] });
  });

  it.skipIf(backend === "pglite")("sees a write made through another server on the same database at the next read", async () => {
    const other = await startTestServer(server.database);
    try {
      const storyId = await createStory(server, token, "Two servers");
      await server.query(KeptPage, { id: storyId }, token);
      await server.query(KeptPage, { id: storyId }, token);
      await other.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "elsewhere" } } }, token);
      const answer = await server.query(KeptPage, { id: storyId }, token);
      expect(answer.story!.revision).toBe(2);
      expect(answer.story!.modules[1]).toEqual({ name: "WORLD_SEED", output: { setting: "elsewhere" } });
    } finally {
      await other.stop();
    }
  });
});

describe("what a server keeps", () => {
  const answer = (text: string) => ({ data: { story: { title: text } } });
  const keptKeys = (cache: ReturnType<typeof createResponseCache>, keys: string[]) => keys.filter((key) => cache.get(key) !== undefined);

  it("stays within its size, forgetting the least recently used answer first, and never keeps one larger than all of it", () => {
    const size = (key: string, text: string) => key.length + JSON.stringify(answer(text)).length;
    const cache = createResponseCache(size("a", "x".repeat(100)) * 2);
    cache.set("a", 1, answer("x".repeat(100)));
    cache.set("b", 1, answer("y".repeat(100)));
    expect(cache.get("a")).toEqual({ revision: 1, answer: answer("x".repeat(100)) }); // a is now the more recently used
    cache.set("c", 1, answer("z".repeat(100)));
    expect(keptKeys(cache, ["a", "b", "c"])).toEqual(["a", "c"]);
    cache.set("d", 1, answer("w".repeat(1_000)));
    expect(keptKeys(cache, ["a", "c", "d"])).toEqual(["a", "c"]);
  });

  it("keeps one answer per query: the one read last, with its revision", () => {
    const cache = createResponseCache();
    cache.set("page", 7, answer("at 7"));
    cache.set("page", 8, answer("at 8"));
    expect(cache.get("page")).toEqual({ revision: 8, answer: answer("at 8") });
  });
});
