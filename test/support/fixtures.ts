// Given-steps shared by the tests: writers and their stories.
import { randomUUID } from "node:crypto";
import { CreateStory, SignUp } from "./documents.ts";
import type { TestServer } from "./server.ts";

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
