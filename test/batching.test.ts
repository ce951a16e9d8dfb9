// Loads are batched: listing 20 stories with owner, modules and last versions takes
// as many SQL statements as listing 1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoriesList, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

async function statementsToList(token: string, first: number) {
  const before = server.db.statements.count;
  const { stories } = await server.query(StoriesList, { first }, token);
  return { statements: server.db.statements.count - before, stories };
}

describe("the stories list", () => {
  it("issues the same number of statements for 20 stories as for 1", async () => {
    const one = await signUpWriter(server, "one");
    const many = await signUpWriter(server, "many");
    const write = (token: string, storyId: string) =>
      server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "x" } } }, token);
    await write(one.token, await createStory(server, one.token));
    for (let i = 0; i < 20; i++) await write(many.token, await createStory(server, many.token, `Story ${i}`));

    const single = await statementsToList(one.token, 20);
    const twenty = await statementsToList(many.token, 20);
    expect(single.stories.edges).toHaveLength(1);
    expect(twenty.stories.edges).toHaveLength(20);
    expect(twenty.stories.edges[0]!.node).toMatchObject({ title: "Story 19", activeVersion: { number: 2 } });
    expect(twenty.stories.edges[0]!.node.modules).toHaveLength(5);
    expect(twenty.stories.edges[0]!.node.versions.edges.map((e) => e.node.number)).toEqual([2, 1]);
    expect(twenty.statements).toBe(single.statements);
    // at most 5 reads, plus the BEGIN and COMMIT of the query's snapshot (src/graphql/readSnapshot.ts;
    // the counter counts BEGIN and PostgreSQL's SET TRANSACTION ISOLATION LEVEL after it as one)
    expect(single.statements).toBeLessThanOrEqual(5 + 2);
  });

  it("pages newest first with cursors", async () => {
    const writer = await signUpWriter(server, "pager");
    for (let i = 0; i < 5; i++) await createStory(server, writer.token, `Page ${i}`);
    const first = await server.query(StoriesList, { first: 2 }, writer.token);
    expect(first.stories.edges.map((e) => e.node.title)).toEqual(["Page 4", "Page 3"]);
    expect(first.stories.pageInfo.hasNextPage).toBe(true);
    const second = await server.query(StoriesList, { first: 10, after: first.stories.pageInfo.endCursor }, writer.token);
    expect(second.stories.edges.map((e) => e.node.title)).toEqual(["Page 2", "Page 1", "Page 0"]);
    expect(second.stories.pageInfo.hasNextPage).toBe(false);
  });
});
