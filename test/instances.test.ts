// Several server processes on one PostgreSQL and one Redis: a write served by one
// reaches subscribers connected to another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { print } from "graphql";
import { CreateStory, ModuleUpdated, SignUp, StoryEventsFeed, WriteModule } from "./support/documents.ts";
import { backend, createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { databaseEnv, startServerProcess, type ServerProcess } from "./support/processes.ts";

const redisUrl = process.env.TEST_REDIS_URL;

// Needs a database two processes can share, and Redis.
describe.runIf(backend === "postgres" && redisUrl)("two server processes sharing PostgreSQL and Redis", () => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { ...databaseEnv(database), REDIS_URL: redisUrl, JWT_SECRET: "shared-secret-shared-secret-shared" };
    a = await startServerProcess(env);
    b = await startServerProcess(env);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await database?.drop();
  });

  const post = async <T>(url: string, document: Parameters<typeof print>[0], variables: unknown, token?: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const body = (await response.json()) as { data: T; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data;
  };

  it("a subscriber on one receives the writes made through the other", async () => {
    const { signUp } = await post<{ signUp: { token: string } }>(a.url, SignUp, {
      input: { email: "two@example.com", username: "two", password: "long enough pw" },
    });
    const token = signUp.token;
    const { createStory } = await post<{ createStory: { story: { id: string } } }>(a.url, CreateStory, { input: { title: "Shared" } }, token);
    const storyId = createStory.story.id;

    const client = wsClient(b.url, token);
    const updates = subscribeWs(client, ModuleUpdated, { storyId });
    const feed = subscribeWs(client, StoryEventsFeed, { storyId, after: 0 });
    try {
      const write = (n: number) =>
        post<{ writeModule: { event: { seq: number } } }>(
          a.url,
          WriteModule,
          { input: { storyId, module: "IDEA_SPARK", output: { logline: `through A, ${n}` } } },
          token,
        );
      // until the subscription on B is live, writes through A may pass it by
      let last = 0;
      for (let n = 0; n < 50 && updates.received.data.length === 0; n++) {
        last = (await write(n)).writeModule.event.seq;
        await updates.received.until((r) => r.data.length > 0, 500).catch(() => null);
      }
      const final = (await write(999)).writeModule.event.seq;
      await updates.received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === final));
      expect(updates.received.data.at(-1)!.moduleUpdated).toMatchObject({
        module: { name: "IDEA_SPARK", output: { logline: "through A, 999" } },
        event: { seq: final, type: "ModuleWritten" },
      });
      expect(last).toBeGreaterThan(1);

      await feed.received.until((r) => r.data.length >= final);
      expect(feed.received.data.map((d) => d.storyEvents.seq)).toEqual(Array.from({ length: final }, (_, i) => i + 1));
    } finally {
      updates.stop();
      feed.stop();
      await client.dispose();
    }
  });
});
