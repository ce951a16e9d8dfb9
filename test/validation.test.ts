// Bad input gets BAD_USER_INPUT (or the specific code), names the field, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateStory, RestoreVersion, SetMetadata, SignIn, SignUp, StoryEvents, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

let server: TestServer;
let token: string;
let storyId: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server));
  storyId = await createStory(server, token);
});
afterAll(() => server?.close());

const eventCount = async () => server.db.prisma.storyEvent.count();

async function expectRejected(response: GraphQLResponse<unknown>, code: string, field: RegExp) {
  expect(errorCodes(response)).toEqual([code]);
  expect(response.errors![0]!.message).toMatch(field);
}

describe("writeModule rejects", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown module", { module: "PLOT_TWISTER", output: { a: 1 } }, /module|PLOT_TWISTER/],
    ["an array as output", { module: "IDEA_SPARK", output: ["not", "an", "object"] }, /output.*JSON object/],
    ["a string as output", { module: "IDEA_SPARK", output: "just text" }, /output.*JSON object/],
    ["null as output", { module: "IDEA_SPARK", output: null }, /output/],
    ["output over 200 KB", { module: "WORDSMITH_LAB", output: { notes: "x".repeat(210 * 1024) } }, /output.*at most/],
    ["input text over 100 KB", { module: "IDEA_SPARK", output: {}, inputText: "y".repeat(101 * 1024) }, /inputText.*at most/],
    ["a field of the wrong type", { module: "IDEA_SPARK", output: { logline: 42 } }, /output\.logline/],
  ];
  for (const [what, input, field] of cases) {
    it(what, async () => {
      const before = await eventCount();
      const response = await server.request(WriteModule, { input: { storyId, ...input } as never }, token);
      await expectRejected(response, "BAD_USER_INPUT", field);
      expect(await eventCount()).toBe(before);
    });
  }
});

describe("writeModule takes a writer's work in progress", () => {
  it("a character with just a name and a role is accepted and kept as written", async () => {
    const output = { characters: [{ name: "Mara", role: "protagonist" }] };
    const response = await server.request(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output } }, token);
    expect(response.errors).toBeUndefined();
    expect(response.data!.writeModule.version.snapshot).toMatchObject({ character_forge: output });
  });

  it("a character whose name is a number is refused, naming the path, and nothing is stored", async () => {
    const before = await eventCount();
    const output = { characters: [{ name: "Mara" }, { name: 42, role: "mentor" }] };
    const response = await server.request(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output } }, token);
    await expectRejected(response, "BAD_USER_INPUT", /output\.characters\.1\.name: .*expected string/);
    expect(await eventCount()).toBe(before);
  });
});

describe("stories reject", () => {
  it("an empty title", async () => {
    const before = await eventCount();
    await expectRejected(await server.request(CreateStory, { input: { title: "   " } }, token), "BAD_USER_INPUT", /title: must not be empty/);
    await expectRejected(await server.request(UpdateStory, { input: { id: storyId, title: "" } }, token), "BAD_USER_INPUT", /title/);
    expect(await eventCount()).toBe(before);
  });

  it("a title over 200 characters", async () => {
    const before = await eventCount();
    await expectRejected(await server.request(CreateStory, { input: { title: "t".repeat(201) } }, token), "BAD_USER_INPUT", /title/);
    expect(await eventCount()).toBe(before);
  });

  it("restoring a version number that does not exist (NOT_FOUND)", async () => {
    const before = await eventCount();
    await expectRejected(await server.request(RestoreVersion, { input: { storyId, number: 99 } }, token), "NOT_FOUND", /version 99/);
    await expectRejected(await server.request(RestoreVersion, { input: { storyId, number: 0 } }, token), "NOT_FOUND", /version 0/);
    expect(await eventCount()).toBe(before);
  });

  it("an unknown cursor", async () => {
    const response = await server.request(StoryEvents, { id: storyId, first: 1000 }, token);
    await expectRejected(response, "BAD_USER_INPUT", /first/);
  });
});

describe("accounts reject", () => {
  it("a malformed email", async () => {
    const response = await server.request(SignUp, { input: { email: "not-an-email", username: "x", password: "long enough pw" } });
    await expectRejected(response, "BAD_USER_INPUT", /email/);
  });

  it("a short password", async () => {
    const response = await server.request(SignUp, { input: { email: "short@example.com", username: "x", password: "short" } });
    await expectRejected(response, "BAD_USER_INPUT", /password: must be at least 8/);
  });

  it("an email already taken, whatever its case", async () => {
    const input = { email: "Taken@Example.com", username: "first", password: "long enough pw" };
    await server.query(SignUp, { input });
    await expectRejected(await server.request(SignUp, { input: { ...input, email: "taken@example.COM" } }), "EMAIL_TAKEN", /exists/);
  });

  it("wrong credentials, the same for an unknown email and a wrong password", async () => {
    await server.query(SignUp, { input: { email: "known@example.com", username: "k", password: "right password" } });
    const wrongPassword = await server.request(SignIn, { input: { email: "known@example.com", password: "wrong password" } });
    const unknownEmail = await server.request(SignIn, { input: { email: "nobody@example.com", password: "right password" } });
    await expectRejected(wrongPassword, "INVALID_CREDENTIALS", /wrong email or password/);
    expect(unknownEmail).toEqual(wrongPassword);
    const right = await server.query(SignIn, { input: { email: "KNOWN@example.com", password: "right password" } });
    expect(right.signIn.token).toBeTruthy();
  });
});

describe("metadata rejects", () => {
  it("an empty key and an oversized value", async () => {
    await expectRejected(
      await server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "", value: 1 } }, token),
      "BAD_USER_INPUT",
      /key/,
    );
    await expectRejected(
      await server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "big", value: "z".repeat(70_000) } }, token),
      "BAD_USER_INPUT",
      /value/,
    );
  });
});
