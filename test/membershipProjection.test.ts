// Members and invitations are projected like the rest of a story: after a random history of
// writes by three members and membership changes (invite, accept, decline, revoke, change role,
// remove, leave, transfer), `verify` finds nothing, `rebuild` reproduces every read table row for
// row — collaborators and story_invitations included — and the state a command loads
// (story_command_state) holds the fold's members and invitations. The migration's backfill of
// owners is the fold's too.
import fs from "node:fs/promises";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { foldEvents } from "../src/domain/story.ts";
import { readStream } from "../src/eventstore/eventStore.ts";
import { loadCommandState } from "../src/projection/loadStoryState.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { DEFAULT_MIGRATIONS_DIR } from "../src/database/migrations.ts";
import { Prisma } from "../src/generated/prisma/client.ts";
import { SignUp, UpdateStory, Undo, WriteModule } from "./support/documents.ts";
import {
  AcceptInvitation,
  ChangeRole,
  DeclineInvitation,
  InviteCollaborator,
  LeaveStory,
  RemoveCollaborator,
  RevokeInvitation,
  TransferOwnership,
} from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

type Writer = { token: string; userId: string; email: string };

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, userId: signUp.user.id, email };
}

function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function readTables() {
  const prisma = server.db.prisma;
  return {
    stories: await prisma.story.findMany({ orderBy: { id: "asc" } }),
    modules: await prisma.storyModule.findMany({ orderBy: { id: "asc" } }),
    versions: await prisma.storyVersion.findMany({ orderBy: { id: "asc" } }),
    collaborators: await prisma.collaborator.findMany({ orderBy: [{ storyId: "asc" }, { userId: "asc" }] }),
    invitations: await prisma.storyInvitation.findMany({ orderBy: { id: "asc" } }),
  };
}

const ROLES = ["EDITOR", "COMMENTER", "VIEWER"] as const;

describe("after 300 random operations of three writers on two shared stories", () => {
  it("verify finds nothing, rebuild reproduces every table, and story_command_state loads the fold's members", async () => {
    const next = random(20261206);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    const writers = [await writer("ann"), await writer("ben"), await writer("cat")];
    const stories = [await createStory(server, writers[0]!.token, "First"), await createStory(server, writers[1]!.token, "Second")];
    /** pending tokens by story: [token, invitation id, invitee] */
    const pending = new Map<string, [string, string, Writer][]>(stories.map((s) => [s, []]));
    const counts: Record<string, number> = {};
    let accepted = 0;
    const done: Record<string, number> = {};

    for (let i = 0; i < 300; i++) {
      const storyId = pick(stories);
      const other = pick(writers);
      const roll = next();
      const op =
        roll < 0.3 ? "write" : roll < 0.36 ? "undo" : roll < 0.42 ? "details" : roll < 0.55 ? "invite" : roll < 0.7 ? "answer"
        : roll < 0.78 ? "revoke" : roll < 0.86 ? "role" : roll < 0.91 ? "remove" : roll < 0.96 ? "leave" : "transfer";
      counts[op] = (counts[op] ?? 0) + 1;
      // mostly the owner manages members, and anyone writes: some refusals, mostly changes
      const ownerId = (await server.db.prisma.story.findUniqueOrThrow({ where: { id: decodeGlobalId(storyId)!.id }, select: { userId: true } })).userId;
      const owner = writers.find((w) => decodeGlobalId(w.userId)!.id === ownerId);
      if (!owner) throw new Error(`owner ${ownerId} of ${storyId} is none of ${writers.map((w) => w.userId)} at op ${i} ${op}`);
      const actor = ["invite", "revoke", "role", "remove", "transfer"].includes(op) && next() < 0.8 ? owner : pick(writers);
      let response: GraphQLResponse<unknown>;
      switch (op) {
        case "write":
          response = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: `op ${i}` } } }, actor.token);
          break;
        case "undo":
          response = await server.request(Undo, { input: { storyId } }, actor.token);
          break;
        case "details":
          response = await server.request(UpdateStory, { input: { id: storyId, title: `Title ${i}` } }, actor.token);
          break;
        case "invite": {
          const result = await server.request(InviteCollaborator, { input: { storyId, email: other.email, role: pick(ROLES) } }, actor.token);
          const invited = result.data?.inviteCollaborator;
          if (invited) pending.get(storyId)!.push([invited.token, invited.invitation.id, other]);
          response = result;
          break;
        }
        case "answer": {
          // the newest invitation, answered once by its invitee (an unknown token when there is none)
          const [token, , invitee] = pending.get(storyId)!.pop() ?? ["none", "", other];
          response = next() < 0.85
            ? await server.request(AcceptInvitation, { input: { token } }, invitee.token)
            : await server.request(DeclineInvitation, { input: { token } }, invitee.token);
          break;
        }
        case "revoke": {
          const [, invitationId] = pick([...pending.get(storyId)!, ["", "U3RvcnlJbnZpdGF0aW9uOjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMA==", other] as [string, string, Writer]]);
          response = await server.request(RevokeInvitation, { input: { storyId, invitationId } }, actor.token);
          break;
        }
        case "role":
          response = await server.request(ChangeRole, { input: { storyId, userId: other.userId, role: pick(ROLES) } }, actor.token);
          break;
        case "remove":
          response = await server.request(RemoveCollaborator, { input: { storyId, userId: other.userId } }, actor.token);
          break;
        case "leave":
          response = await server.request(LeaveStory, { input: { storyId } }, actor.token);
          break;
        default:
          response = await server.request(TransferOwnership, { input: { storyId, userId: other.userId } }, actor.token);
      }
      // refusals are the rules' (a stranger, too low a role, a used token…), never a failure
      const codes = (response.errors ?? []).map((e) => e.extensions?.code);
      expect(codes.every((c) => ["NOT_FOUND", "FORBIDDEN", "BAD_USER_INPUT", "NOTHING_TO_UNDO", "NOTHING_TO_REDO", "UNDO_CONFLICT"].includes(c as string)), JSON.stringify(response.errors)).toBe(true);
      if (codes.length === 0) {
        accepted++;
        done[op] = (done[op] ?? 0) + 1;
      }
    }
    expect(accepted).toBeGreaterThan(60);
    expect(Object.keys(counts).length).toBe(10);
    // every kind of membership change happened, not only refusals of it
    for (const op of ["invite", "answer", "revoke", "role", "remove", "leave", "transfer", "write"]) expect(done[op] ?? 0, `${op}: ${JSON.stringify(done)}`).toBeGreaterThan(0);
    const memberships = await server.db.prisma.collaborator.count();
    expect(memberships).toBeGreaterThan(2);

    expect(await verifyReadTables(server.db)).toEqual([]);
    for (const id of stories) {
      const storyId = decodeGlobalId(id)!.id;
      const fold = foldEvents(storyId, await readStream(server.db.prisma, storyId));
      const loaded = (await loadCommandState(server.db.prisma, storyId))!.state;
      expect(loaded.ownerId).toBe(fold.ownerId);
      expect(loaded.members).toEqual(fold.members);
      expect(loaded.memberRecords).toEqual(fold.memberRecords);
      expect(loaded.invitations).toEqual(fold.invitations);
    }

    const before = await readTables();
    expect(before.invitations.length).toBeGreaterThan(5);
    await rebuildReadTables(server.db);
    expect(await readTables()).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);

    // a member's row that no longer matches the log is reported, as is one the log never made
    const victim = before.collaborators.find((c) => c.role !== "owner") ?? before.collaborators[0]!;
    await server.db.prisma.collaborator.update({ where: { storyId_userId: { storyId: victim.storyId, userId: victim.userId } }, data: { role: victim.role === "viewer" ? "editor" : "viewer" } });
    expect(await verifyReadTables(server.db)).toEqual([expect.objectContaining({ table: "collaborators", rowId: victim.userId, field: "role", expected: victim.role })]);
    await rebuildReadTables(server.db);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});

describe("rebuild's catch-up", () => {
  it("projects membership changes made while it builds: joins, role changes, removals and answers", async () => {
    const [owner, bob, carol] = [await writer("owner"), await writer("bob"), await writer("carol")];
    const storyId = await createStory(server, owner.token, "Caught up");
    const invited = await server.query(InviteCollaborator, { input: { storyId, email: bob.email, role: "EDITOR" } }, owner.token);
    const rebuilt = await rebuildReadTables(server.db, () => {}, {
      during: {
        built: async () => {
          await server.query(AcceptInvitation, { input: { token: invited.inviteCollaborator.token } }, bob.token);
          const second = await server.query(InviteCollaborator, { input: { storyId, email: carol.email, role: "VIEWER" } }, owner.token);
          await server.query(AcceptInvitation, { input: { token: second.inviteCollaborator.token } }, carol.token);
          await server.query(ChangeRole, { input: { storyId, userId: carol.userId, role: "COMMENTER" } }, owner.token);
        },
        swapping: async (attempt) => {
          if (attempt > 1) return;
          await server.query(RemoveCollaborator, { input: { storyId, userId: carol.userId } }, owner.token);
          await server.query(TransferOwnership, { input: { storyId, userId: bob.userId } }, owner.token);
          await server.query(InviteCollaborator, { input: { storyId, email: carol.email, role: "VIEWER" } }, bob.token);
        },
      },
    });
    expect(rebuilt.caughtUp).toBeGreaterThan(0);
    expect(await verifyReadTables(server.db)).toEqual([]);
    const uuid = decodeGlobalId(storyId)!.id;
    const members = await server.db.prisma.collaborator.findMany({ where: { storyId: uuid } });
    expect(Object.fromEntries(members.map((m) => [m.userId, m.role]))).toEqual({ [decodeGlobalId(owner.userId)!.id]: "editor", [decodeGlobalId(bob.userId)!.id]: "owner" });
    expect(await server.db.prisma.storyInvitation.count({ where: { storyId: uuid, status: "pending" } })).toBe(1);
  });
});

describe("the migration", () => {
  it("backfills each existing story's owner as the fold of its log makes them", async () => {
    const owner = await writer("old");
    const storyId = decodeGlobalId(await createStory(server, owner.token, "From before"))!.id;
    const dir = (await fs.readdir(DEFAULT_MIGRATIONS_DIR)).find((name) => name.endsWith("_collaborators"))!;
    const sql = await fs.readFile(path.join(DEFAULT_MIGRATIONS_DIR, dir, "migration.sql"), "utf8");
    const backfill = /INSERT INTO "collaborators"[^;]+;/.exec(sql)![0];
    await server.db.prisma.collaborator.deleteMany({ where: { storyId } });
    await server.db.prisma.$executeRaw(Prisma.sql([backfill.replace(/FROM "stories" s;$/, `FROM "stories" s WHERE s.id = '${storyId}'::uuid;`)]));
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});
