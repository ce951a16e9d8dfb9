// The metadata layer: key/value data on a story, a module or a version.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeleteMetadata, SetMetadata, StoryMetadata, StoryState, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import type { TestServer } from "./support/server.ts";

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

describe("metadata", () => {
  it("is set (upsert by parent and key), read back on each parent, and deleted", async () => {
    const storyId = await createStory(server, token);
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "x" } } }, token);
    const { story } = await server.query(StoryState, { id: storyId }, token);
    const moduleId = story!.modules[0]!.id;
    const versionId = story!.versions.edges[0]!.node.id;

    const set = await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone_selected", value: "noir" } }, token);
    expect(set.setMetadata.metadata).toMatchObject({ key: "tone_selected", value: "noir", parentType: "STORY", parentId: storyId });
    await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone_selected", value: "gothic" } }, token);
    await server.query(SetMetadata, { input: { parentType: "MODULE", parentId: moduleId, key: "warnings", value: ["off-topic"] } }, token);
    await server.query(SetMetadata, { input: { parentType: "VERSION", parentId: versionId, key: "genre_defaults", value: { pace: "slow" } } }, token);

    const read = await server.query(StoryMetadata, { id: storyId }, token);
    expect(read.story!.metadata).toEqual([{ key: "tone_selected", value: "gothic" }]);
    expect(read.story!.modules[0]!.metadata).toEqual([{ key: "warnings", value: ["off-topic"] }]);
    expect(read.story!.activeVersion.metadata).toEqual([{ key: "genre_defaults", value: { pace: "slow" } }]);

    const deleted = await server.query(DeleteMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone_selected" } }, token);
    expect(deleted.deleteMetadata.deleted).toBe(true);
    const again = await server.query(DeleteMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone_selected" } }, token);
    expect(again.deleteMetadata.deleted).toBe(false);
    expect((await server.query(StoryMetadata, { id: storyId }, token)).story!.metadata).toEqual([]);
  });

  it("on a parent of the wrong type is NOT_FOUND", async () => {
    const storyId = await createStory(server, token);
    const response = await server.request(SetMetadata, { input: { parentType: "MODULE", parentId: storyId, key: "k", value: 1 } }, token);
    expect(response.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});
