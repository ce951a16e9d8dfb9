// GET /stories/<id>/export.json: the JSON export streamed as it is read, for stories too large to
// answer as one GraphQL value; the same document as exportStory's `data`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importStory } from "../src/commands/importStory.ts";
import { encodeGlobalId } from "../src/domain/globalIds.ts";
import type { StoryExport } from "../src/history/exportFormat.ts";
import { ExportStory } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { largeStoryExport } from "./support/largeStory.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

/** Many pages of versions (50 rows a page), each version holding the 50 KB draft. */
const VERSIONS = 420;
const PROSE_BYTES = 50 * 1024;

let server: TestServer;
let token: string;
let storyId: string;

beforeAll(async () => {
  server = await startTestServer();
  const writer = await signUpWriter(server, "archivist");
  token = writer.token;
  const owner = await server.db.prisma.user.findFirstOrThrow({ where: { username: "archivist" } });
  const imported = await importStory({ db: server.db, pubsub: server.messaging.pubsub }, owner.id, largeStoryExport(VERSIONS, PROSE_BYTES));
  storyId = encodeGlobalId("Story", imported.storyId);
}, 120_000);
afterAll(() => server?.close());

function download(id: string, authorization: string | null, method = "GET") {
  return fetch(`${server.url.replace(/\/graphql$/, "")}/stories/${encodeURIComponent(id)}/export.json`, {
    method,
    headers: authorization === null ? {} : { authorization },
  });
}

describe("streamed JSON export", () => {
  it("gives a large story whole, in chunks, equal to exportStory's data", async () => {
    const response = await download(storyId, `Bearer ${token}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''a-long-history.json");
    // no length known in advance: the body is sent as it is read
    expect(response.headers.get("content-length")).toBeNull();
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    const streamed = (await response.json()) as StoryExport;

    expect(streamed.story).toMatchObject({ title: "A long history", revision: VERSIONS, activeVersionNumber: VERSIONS });
    expect(streamed.versions.map((v) => v.number)).toEqual(Array.from({ length: VERSIONS }, (_, i) => i + 1));
    expect(streamed.versions.map((v) => v.parentNumber)).toEqual([null, ...Array.from({ length: VERSIONS - 1 }, (_, i) => i + 1)]);
    expect(streamed.versions.slice(1).every((v) => (v.snapshot.wordsmith_lab as { prose: string }).prose.length === PROSE_BYTES)).toBe(true);
    expect(streamed.versions.at(-1)!.snapshot.idea_spark).toMatchObject({ logline: `A keeper bargains with the sea, take ${VERSIONS - 2}.` });
    expect(streamed.events.map((e) => e.seq)).toEqual(Array.from({ length: VERSIONS }, (_, i) => i + 1));

    const { exportStory } = await server.query(ExportStory, { id: storyId, format: "JSON" }, token);
    expect({ ...streamed, exportedAt: null }).toEqual({ ...(exportStory.data as StoryExport), exportedAt: null });
  }, 120_000);

  it("stops reading when the client goes away, and the server goes on serving", async () => {
    const response = await download(storyId, `Bearer ${token}`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value).startsWith('{"format":"story-spark.story"')).toBe(true);
    await reader.cancel();

    const again = await download(storyId, `Bearer ${token}`);
    expect(((await again.json()) as StoryExport).versions).toHaveLength(VERSIONS);
  }, 120_000);

  it("answers a stranger, a bad id and another type's id as a missing story, and needs a token", async () => {
    const stranger = await signUpWriter(server, "stranger");
    const notFound = { errors: [{ message: "story not found", extensions: { code: "NOT_FOUND" } }] };
    for (const [id, authorization] of [
      [storyId, `Bearer ${stranger.token}`],
      ["not-a-global-id", `Bearer ${token}`],
      ["%E0%A4%A", `Bearer ${token}`],
      [encodeGlobalId("User", "00000000-0000-4000-8000-000000000000"), `Bearer ${token}`],
    ] as const) {
      const response = await download(id, authorization);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual(notFound);
    }
    const anonymous = await download(storyId, null);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ errors: [{ extensions: { code: "UNAUTHENTICATED" } }] });
    expect((await download(storyId, "Bearer not-a-token")).status).toBe(401);
    expect((await download(storyId, `Bearer ${token}`, "POST")).status).toBe(405);
  });

  it("exports a story of one version and one event", async () => {
    const fresh = await createStory(server, token, "Fresh ink");
    const response = await download(fresh, `Bearer ${token}`);
    const data = (await response.json()) as StoryExport;
    expect(data).toMatchObject({ story: { title: "Fresh ink", revision: 1, activeVersionNumber: 1 }, versions: [{ number: 1, parentNumber: null }], events: [{ seq: 1, type: "StoryCreated" }] });
  });
});
