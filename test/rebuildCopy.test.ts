// `rebuild` loads the read tables with COPY: text and JSON that COPY's format gives a meaning
// to (tabs, line breaks, backslashes, `\N`) come back as they were written.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { StoryState, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import type { TestServer } from "./support/server.ts";

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

const AWKWARD = "tab\there, line\nbreak, return\r, back\\slash, \\N, \\t, quote \" and ünïcødé ✓";

describe("rebuild's COPY", () => {
  it("gives back text and JSON with COPY's special characters exactly", async () => {
    const storyId = await createStory(server, token, "Awkward");
    await server.query(UpdateStory, { input: { id: storyId, logline: AWKWARD, genre: "back\\slash\ttab" } }, token);
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: AWKWARD, themes: [AWKWARD, "\\N"] }, inputText: AWKWARD } }, token);
    await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "\\", empty: "", nothing: null } } }, token);
    const before = await server.query(StoryState, { id: storyId }, token);

    await rebuildReadTables(server.db);

    expect(await server.query(StoryState, { id: storyId }, token)).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});
