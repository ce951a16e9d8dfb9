// Given-steps shared by the tests: writers and their stories.
import { randomUUID } from "node:crypto";
import { importStory } from "../../src/commands/importStory.ts";
import { CreateStory, SignUp } from "./documents.ts";
import { startTestServer, type TestServer } from "./server.ts";

/** A test server over a database of its own, and a writer signed up on it: most test files start from this. */
export async function startServerWithWriter(): Promise<{ server: TestServer; token: string }> {
  const server = await startTestServer();
  const { token } = await signUpWriter(server);
  return { server, token };
}

export async function signUpWriter(server: TestServer, name = "writer") {
  const unique = randomUUID().slice(0, 8);
  const { signUp } = await server.query(
    SignUp,
    { input: { email: `${name}-${unique}@example.com`, username: name, password: "correct horse battery" } },
  );
  return { token: signUp.token, userId: signUp.user.id };
}

export async function createStory(server: TestServer, token: string, title = "The Lighthouse Keeper") {
  const { createStory } = await server.query(CreateStory, { input: { title, genre: "mystery" } }, token);
  return createStory.story.id;
}

/**
 * A writer and a story of `events` events (created, then retitled again and again), imported as a
 * generated export: a long log in seconds. The story id is the uuid.
 */
export async function importLongStory(server: TestServer, name: string, events: number) {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  const owner = await server.db.prisma.user.findUniqueOrThrow({ where: { email } });
  const createdAt = new Date().toISOString();
  const log = Array.from({ length: events }, (_, i) =>
    i === 0
      ? { seq: 1, type: "StoryCreated", schemaVersion: 1, payload: { title: "Title 1", version: { number: 1 } }, createdAt }
      : { seq: i + 1, type: "StoryDetailsChanged", schemaVersion: 1, payload: { title: `Title ${i + 1}` }, createdAt },
  );
  const { storyId } = await importStory({ db: server.db, pubsub: server.messaging.pubsub }, owner.id, { format: "story-spark.story", formatVersion: 1, events: log });
  return { token: signUp.token, storyId };
}
