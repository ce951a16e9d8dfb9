// The story page in one statement (issue 11, item 2): a query that reads one story of the viewer's —
// its fields, modules and a page of versions — costs one statement after the token check, with no
// transaction, and answers exactly what the snapshot transaction answers; strangers still read null.
// The pages here ask for their owner, outside the story's revision: none is answered from the
// response cache (responseCache.test.ts), so each costs exactly its one statement.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { LabelVersion, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { statementsOf } from "./support/statements.ts";

const StoryPage = graphql(`
  query StoryPage($id: ID!, $first: Int, $after: String, $labeled: Boolean) {
    story(id: $id) {
      id title logline genre isComplete createdAt updatedAt revision activeVersionNumber canUndo canRedo __typename
      owner { id username email }
      modules { id name order inputText output createdAt updatedAt }
      module(name: WORLD_SEED) { name output }
      versions(first: $first, after: $after, labeled: $labeled) {
        edges { cursor node { id number createdAt label isActive } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
`);

/** The same page and one field the statement does not read: the query runs in a snapshot transaction. */
const StoryPageInSnapshot = graphql(`
  query StoryPageInSnapshot($id: ID!, $first: Int, $after: String, $labeled: Boolean) {
    story(id: $id) {
      id title logline genre isComplete createdAt updatedAt revision activeVersionNumber canUndo canRedo __typename
      owner { id username email }
      modules { id name order inputText output createdAt updatedAt }
      module(name: WORLD_SEED) { name output }
      versions(first: $first, after: $after, labeled: $labeled) {
        edges { cursor node { id number createdAt label isActive } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
      activeVersion { number }
    }
  }
`);

const PageWithFragments = graphql(`
  query PageWithFragments($id: ID!) {
    page: story(id: $id) { ...StoryHead modules { ... on StoryModule { name } } versions(first: 2) { edges { node { number } } } }
  }
  fragment StoryHead on Story { title revision owner { username } }
`);

const TooLargePage = graphql(`
  query TooLargePage($id: ID!) { story(id: $id) { title versions(first: 1000) { edges { node { number } } } } }
`);

const LatestVersion = graphql(`
  query LatestVersion($id: ID!) {
    story(id: $id) { revision updatedAt activeVersionNumber modules { updatedAt } versions(first: 1) { edges { node { number createdAt } } } }
  }
`);

let server: TestServer;
let token: string;
let storyId: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server, "pagereader"));
  storyId = await createStory(server, token, "One statement");
  for (let i = 0; i < 6; i++) {
    await server.query(WriteModule, { input: { storyId, module: i % 2 ? "WORLD_SEED" : "IDEA_SPARK", inputText: `notes ${i}`, output: { n: i } } }, token);
  }
  await server.query(LabelVersion, { input: { storyId, number: 3, label: "the third" } }, token);
});
afterAll(() => server?.close());

describe("the story page in one statement", () => {
  it("costs the token check and one statement, and answers what the snapshot transaction answers", async () => {
    for (const variables of [{ id: storyId }, { id: storyId, first: 3 }, { id: storyId, first: 0 }, { id: storyId, labeled: true }]) {
      const page = await statementsOf(server, () => server.request(StoryPage, variables, token));
      const inSnapshot = await statementsOf(server, () => server.request(StoryPageInSnapshot, variables, token));
      expect(page.statements).toBe(2);
      expect(inSnapshot.statements).toBeGreaterThan(4); // BEGIN, reads, COMMIT
      const { activeVersion, ...same } = inSnapshot.answer.data!.story!;
      expect(activeVersion.number).toBe(7);
      expect(page.answer).toEqual({ data: { story: same } });
    }
  });

  it("pages through the versions with cursors, as the transaction does", async () => {
    const first = await server.query(StoryPage, { id: storyId, first: 3 }, token);
    expect(first.story!.versions.edges.map((e) => e.node.number)).toEqual([7, 6, 5]);
    expect(first.story!.versions.edges.map((e) => e.node.isActive)).toEqual([true, false, false]);
    const after = first.story!.versions.pageInfo.endCursor;
    const next = await statementsOf(server, () => server.request(StoryPage, { id: storyId, first: 3, after }, token));
    const inSnapshot = await server.request(StoryPageInSnapshot, { id: storyId, first: 3, after }, token);
    expect(next.statements).toBe(2);
    expect(next.answer.data!.story!.versions).toEqual(inSnapshot.data!.story!.versions);
    expect(next.answer.data!.story!.versions.edges.map((e) => e.node.number)).toEqual([4, 3, 2]);
    expect(next.answer.data!.story!.versions.edges[1]!.node.label).toBe("the third");
    expect(next.answer.data!.story!.versions.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it("reads through aliases and fragments in one statement too", async () => {
    const { answer, statements } = await statementsOf(server, () => server.query(PageWithFragments, { id: storyId }, token));
    expect(statements).toBe(2);
    expect(answer.page).toEqual({
      title: "One statement",
      revision: 8,
      owner: { username: "pagereader" },
      modules: ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"].map((name) => ({ name })),
      versions: { edges: [{ node: { number: 7 } }, { node: { number: 6 } }] },
    });
  });

  it("gives a stranger exactly what a missing or malformed id gets: null", async () => {
    const stranger = await signUpWriter(server, "stranger");
    const missing = await createStory(server, stranger.token, "Someone else's"); // a real id, of another writer
    for (const [id, as] of [[storyId, stranger.token], [missing, token], ["not an id", token]] as const) {
      const answer = await server.request(StoryPage, { id }, as);
      expect(answer).toEqual({ data: { story: null } });
    }
    expect(errorCodes(await server.request(StoryPage, { id: storyId }, null))).toEqual(["UNAUTHENTICATED"]);
  });

  it("refuses a too-large page as before: BAD_USER_INPUT naming the field", async () => {
    const answer = await server.request(TooLargePage, { id: storyId }, token);
    expect(errorCodes(answer)).toEqual(["BAD_USER_INPUT"]);
    expect(JSON.stringify(answer.errors)).toMatch(/first/);
  });

  it("reads one committed state while a writer writes: the story, its modules and its newest version agree", async () => {
    const written = await createStory(server, token, "Written while read");
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await server.query(WriteModule, { input: { storyId: written, module: i % 2 ? "WORLD_SEED" : "IDEA_SPARK", output: { n: i } } }, token);
      }
    })();
    const readLatest = async () => (await server.query(LatestVersion, { id: written }, token)).story!;
    const answers: Awaited<ReturnType<typeof readLatest>>[] = [];
    try {
      const readers = Array.from({ length: 4 }, async () => {
        while (answers.length < 400) answers.push(await readLatest());
      });
      await Promise.all(readers);
    } finally {
      writing = false;
      await writer;
    }
    // every write makes a new version, active, at the time of its event: one state has them all agree
    const mixed = answers.filter((story) => {
      const newest = story.versions.edges[0]!.node;
      const lastModuleChange = story.modules.map((m) => m.updatedAt).sort().at(-1);
      return newest.number !== story.activeVersionNumber || newest.createdAt !== story.updatedAt || lastModuleChange !== story.updatedAt || story.revision !== newest.number;
    });
    expect({ mixed: mixed.length, first: mixed[0] ?? null }).toEqual({ mixed: 0, first: null });
    expect(new Set(answers.map((story) => story.revision)).size).toBeGreaterThan(5);
  });
});
