// exportAccount: a writer's own data, as one JSON document or a ZIP of per-story exports, streamed
// from GET /account/export.json and /account/export.zip with the bearer token.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import { graphql } from "./generated/gql.ts";
import { CreateStory, ExportStory, SignUp, WriteModule } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import type { StoryExport } from "../src/history/exportFormat.ts";
import type { AccountExport } from "../src/history/exportAccount.ts";
import { encodeGlobalId, decodeGlobalId } from "../src/domain/globalIds.ts";

const ExportAccount = graphql(`
  mutation AccountExportWhere($input: ExportAccountInput!) { exportAccount(input: $input) { format path method filename mimeType } }
`);
const AddComment = graphql(`
  mutation AccountExportComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);

/** More stories than a page of the owner's stories (100 a page). */
const STORIES = 30;

let server: TestServer;
type Writer = Awaited<ReturnType<typeof signUp>>;
let owner: Writer;
let other: Writer;
let ownStories: string[];
let sharedStory: string;
const GENERATIONS = { own: randomUUID(), theirsElsewhere: randomUUID(), others: randomUUID() };

async function signUp(username: string) {
  const email = `${username}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username, password: "correct horse battery" } });
  return { token: signUp.token, id: signUp.user.id, uuid: decodeGlobalId(signUp.user.id)!.id, email };
}

beforeAll(async () => {
  server = await startTestServer();
  owner = await signUp("exporter");
  other = await signUp("other");
  ownStories = [];
  for (let i = 0; i < STORIES; i++) {
    const id = (await server.query(CreateStory, { input: { title: `Story ${i}` } }, owner.token)).createStory.story.id;
    await server.query(WriteModule, { input: { storyId: id, module: "WORLD_SEED", inputText: `notes ${i}`, output: { setting: `place ${i}`.repeat(200) } } }, owner.token);
    ownStories.push(id);
  }
  await server.query(AddComment, { input: { storyId: ownStories[0]!, body: "a note on my own" } }, owner.token);
  // a story of someone else's that the exporter edits and comments on: not theirs to export
  sharedStory = (await server.query(CreateStory, { input: { title: "Not mine" } }, other.token)).createStory.story.id;
  const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId: sharedStory, email: owner.email, role: "EDITOR" } }, other.token);
  await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, owner.token);
  await server.query(AddComment, { input: { storyId: sharedStory, body: "a note elsewhere" } }, owner.token);
  // generations' provenance: one in their story, one of theirs in the other's story, one of the other's there (not theirs)
  const generation = (id: string, userId: string, storyId: string) => ({
    id, userId, storyId: decodeGlobalId(storyId)!.id, moduleName: "idea-spark", status: "succeeded", model: "gpt-4o-mini",
    promptVersion: "test", messages: [{ role: "user", content: "x" }], inputText: `input of ${id}`, contextVersionNumber: 1,
  });
  await server.db.prisma.aiGeneration.createMany({
    data: [
      generation(GENERATIONS.own, owner.uuid, ownStories[1]!),
      generation(GENERATIONS.theirsElsewhere, owner.uuid, sharedStory),
      generation(GENERATIONS.others, other.uuid, sharedStory),
    ],
  });
}, 120_000);
afterAll(() => server?.close());

const base = () => server.url.replace(/\/graphql$/, "");
const download = (path: string, authorization: string | null) => fetch(`${base()}${path}`, { headers: authorization === null ? {} : { authorization } });
const withoutTime = <T extends { exportedAt: string }>(value: T) => ({ ...value, exportedAt: null });

async function perStoryExport(id: string): Promise<StoryExport> {
  return (await server.query(ExportStory, { id, format: "JSON" }, owner.token)).exportStory.data as StoryExport;
}

describe("exportAccount", () => {
  it("says where to download each format, with the bearer token", async () => {
    for (const format of ["JSON", "ZIP"] as const) {
      const { exportAccount } = await server.query(ExportAccount, { input: { format } }, owner.token);
      expect(exportAccount).toMatchObject({ format, path: `/account/export.${format.toLowerCase()}`, method: "GET" });
      expect(exportAccount.filename).toMatch(new RegExp(`^story-spark-account-\\d{4}-\\d{2}-\\d{2}\\.${format.toLowerCase()}$`));
    }
    expect((await server.request(ExportAccount, { input: { format: "JSON" } }, null)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("JSON: the account, memberships, comments elsewhere, and every owned story as its own export; streamed in chunks", async () => {
    const response = await download("/account/export.json", `Bearer ${owner.token}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("content-length")).toBeNull();
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    // read chunk by chunk: more than one arrives, the body is written as it is read
    const reader = response.body!.getReader();
    const chunks: Uint8Array[] = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
    expect(chunks.length).toBeGreaterThan(1);
    const document = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Omit<AccountExport, "stories"> & { stories: StoryExport[] };

    expect(document).toMatchObject({ format: "story-spark.account", formatVersion: 1, account: { id: owner.uuid, username: "exporter" } });
    expect(document.memberships).toEqual([expect.objectContaining({ storyId: decodeGlobalId(sharedStory)!.id, role: "editor" })]);
    expect(document.generations.map((g) => g.id).sort()).toEqual([GENERATIONS.own, GENERATIONS.theirsElsewhere].sort());
    expect(document.generations.find((g) => g.id === GENERATIONS.own)).toMatchObject({ inputText: `input of ${GENERATIONS.own}`, messages: [{ role: "user", content: "x" }] });
    expect(document.commentsInOthersStories.map((c) => (c.payload as { body: string }).body)).toEqual(["a note elsewhere"]);
    // every story of theirs, none of another's
    const exported = document.stories.map((s) => encodeGlobalId("Story", s.story.id));
    expect(exported.sort()).toEqual([...ownStories].sort());
    for (const story of document.stories.slice(0, 3)) {
      expect(withoutTime(story)).toEqual(withoutTime(await perStoryExport(encodeGlobalId("Story", story.story.id))));
    }
  }, 60_000);

  it("ZIP: account.json and one file per owned story, each equal to the story's export; unzip -t finds it sound", async () => {
    const response = await download("/account/export.zip", `Bearer ${owner.token}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    const zip = Buffer.from(await response.arrayBuffer());

    const files = await readZip(zip);
    const account = JSON.parse(files.get("account.json")!) as AccountExport;
    expect(account.account.id).toBe(owner.uuid);
    expect(account.files!.map((f) => f.path).sort()).toEqual([...files.keys()].filter((name) => name !== "account.json").sort());
    expect(account.files).toHaveLength(STORIES);
    for (const file of account.files!.slice(0, 3)) {
      const story = JSON.parse(files.get(file.path)!) as StoryExport;
      expect(withoutTime(story)).toEqual(withoutTime(await perStoryExport(encodeGlobalId("Story", file.storyId))));
    }
    expect([...files.values()].some((text) => text.includes("Not mine"))).toBe(false);

    if (existsSync("/usr/bin/unzip")) {
      const dir = await mkdtemp(join(tmpdir(), "account-export-"));
      try {
        await writeFile(join(dir, "export.zip"), zip);
        const { stdout } = await promisify(execFile)("/usr/bin/unzip", ["-t", join(dir, "export.zip")]);
        expect(stdout).toMatch(/No errors detected/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }, 60_000);

  it("needs a token: none or a bad one is 401; a stranger gets their own (empty) account, never another's", async () => {
    for (const path of ["/account/export.json", "/account/export.zip"]) {
      expect((await download(path, null)).status).toBe(401);
      expect((await download(path, "Bearer not-a-token")).status).toBe(401);
    }
    const stranger = await signUp("stranger");
    const theirs = (await (await download("/account/export.json", `Bearer ${stranger.token}`)).json()) as AccountExport & { stories: unknown[] };
    expect(theirs.account.id).toBe(stranger.uuid);
    expect(theirs.stories).toEqual([]);
    expect(theirs.memberships).toEqual([]);
  });

  it("a client that goes away mid-download stops the reads, and the server goes on serving", async () => {
    for (const path of ["/account/export.json", "/account/export.zip"]) {
      const response = await download(path, `Bearer ${owner.token}`);
      const reader = response.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      await reader.cancel();
    }
    const again = await download("/account/export.json", `Bearer ${owner.token}`);
    expect(((await again.json()) as { stories: unknown[] }).stories).toHaveLength(STORIES);
  }, 60_000);
});

describe("exportAccount when a read fails mid-stream", () => {
  it("cuts the body short (never an export that looks whole), and the server goes on serving", async () => {
    const writer = await signUp("broken");
    const stories: string[] = [];
    for (let i = 0; i < 3; i++) stories.push((await server.query(CreateStory, { input: { title: `Broken ${i}` } }, writer.token)).createStory.story.id);
    // a log that ends before the story's revision: the export finds it out once its body has begun
    const [, middle] = stories.map((id) => decodeGlobalId(id)!.id).sort();
    await server.db.prisma.storyEvent.deleteMany({ where: { storyId: middle! } });
    try {
      for (const path of ["/account/export.json", "/account/export.zip"]) {
        const response = await download(path, `Bearer ${writer.token}`);
        expect(response.status).toBe(200);
        await expect(response.arrayBuffer()).rejects.toThrow();
      }
    } finally {
      await server.db.prisma.story.delete({ where: { id: middle! } });
    }
    const again = await download("/account/export.json", `Bearer ${writer.token}`);
    expect(((await again.json()) as { stories: unknown[] }).stories).toHaveLength(2);
  }, 60_000);
});

/** The ZIP's files as text, read back with another library than the one that wrote it. */
function readZip(buffer: Buffer): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const files = new Map<string, string>();
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const parts: Buffer[] = [];
          stream.on("data", (part: Buffer) => parts.push(part));
          stream.on("end", () => {
            files.set(entry.fileName, Buffer.concat(parts).toString("utf8"));
            zip.readEntry();
          });
          stream.on("error", reject);
        });
      });
      zip.on("end", () => resolve(files));
      zip.on("error", reject);
      zip.readEntry();
    });
  });
}
