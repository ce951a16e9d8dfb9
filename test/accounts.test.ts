// Accounts against an attacker: guessing is throttled and locked out, weak passwords are refused,
// one account per email however it is typed, old hashes are renewed, tokens can be signed out, and
// a token whose user is gone, that is expired or that has no expiry is refused everywhere.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID, scrypt } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { ModuleUpdated } from "./support/documents.ts";
import { subscribeSse, subscribeWs, wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer, type TestServerOptions } from "./support/server.ts";
import type { AuthLimits } from "../src/auth/limits.ts";
import { applyPendingMigrations, DEFAULT_MIGRATIONS_DIR } from "../src/database/migrations.ts";

const SignUp = graphql(`
  mutation AccountsSignUp($input: SignUpInput!) {
    signUp(input: $input) { token expiresAt user { id email } }
  }
`);
const SignIn = graphql(`
  mutation AccountsSignIn($input: SignInInput!) {
    signIn(input: $input) { token expiresAt user { id email } }
  }
`);
const SignOut = graphql(`
  mutation AccountsSignOut($input: SignOutInput) {
    signOut(input: $input) { allDevices }
  }
`);
const MyStories = graphql(`
  query AccountsMyStories { stories(first: 1) { edges { node { id } } } viewer { id email } }
`);
const NewStory = graphql(`
  mutation AccountsNewStory($input: CreateStoryInput!) {
    createStory(input: $input) { story { id } }
  }
`);

/** the test server's signing secret (test/support/server.ts) */
const TEST_SECRET = "test-secret-test-secret-test-secret";
const PASSWORD = "a long and quiet river";
const redisUrl = process.env.TEST_REDIS_URL;

const servers: TestServer[] = [];
async function serverWith(auth: TestServerOptions["auth"] = {}): Promise<TestServer> {
  const server = await startTestServer(undefined, { auth });
  servers.push(server);
  return server;
}
afterAll(async () => {
  for (const server of servers) await server.close();
});

/** The row id inside a Relay global id ("User:<uuid>", base64). */
const rowId = (globalId: string) => Buffer.from(globalId, "base64").toString("utf8").replace(/^User:/, "");

const uniqueEmail = (name: string) => `${name}-${randomUUID().slice(0, 8)}@example.com`;

async function signUp(server: TestServer, email = uniqueEmail("writer"), password = PASSWORD) {
  const { signUp } = await server.query(SignUp, { input: { email, username: "writer", password } });
  return { ...signUp, email };
}

/** A GraphQL request from another loopback address than 127.0.0.1: another client, as far as the server can tell. */
function requestFrom<T, V>(localAddress: string, server: TestServer, document: TypedDocumentNode<T, V>, variables: V): Promise<GraphQLResponse<T>> {
  const body = JSON.stringify({ query: print(document), variables });
  return new Promise((resolve, reject) => {
    const request = http.request(
      server.url,
      { method: "POST", localAddress, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as GraphQLResponse<T>));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

function retryAfterOf(response: GraphQLResponse<unknown>): number {
  expect(errorCodes(response)).toEqual(["RATE_LIMITED"]);
  const retryAfter = response.errors![0]!.extensions!.retryAfter;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  return retryAfter as number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("guessing a password", () => {
  const limits: Partial<AuthLimits> = { lockoutAfter: 3, lockoutSeconds: 1, lockoutMaxSeconds: 4, attemptsPerEmail: 100 };

  it("is locked out after a few failures, the right password too, until the lock-out has passed", async () => {
    const server = await serverWith({ limits });
    const { email, user } = await signUp(server);
    const guess = (password: string) => server.request(SignIn, { input: { email, password } });

    for (let i = 0; i < 3; i++) expect(errorCodes(await guess(`wrong guess ${i}`))).toEqual(["INVALID_CREDENTIALS"]);
    const locked = await guess(PASSWORD);
    expect(retryAfterOf(locked)).toBe(1);
    expect(locked.data?.signIn ?? null).toBeNull();

    await sleep(1100);
    // one more failure doubles the lock-out
    expect(errorCodes(await guess("wrong again"))).toEqual(["INVALID_CREDENTIALS"]);
    expect(retryAfterOf(await guess(PASSWORD))).toBe(2);

    await sleep(2100);
    const signedIn = await server.query(SignIn, { input: { email, password: PASSWORD } });
    expect(signedIn.signIn.user.id).toBe(user.id);
    // a success forgets the failures: the next wrong guess is just wrong
    expect(errorCodes(await guess("wrong once more"))).toEqual(["INVALID_CREDENTIALS"]);
  });

  it("is throttled per client address, whatever the emails, and not for other addresses", async () => {
    const server = await serverWith({ limits: { signInsPerAddress: 3, windowSeconds: 30 } });
    const { email } = await signUp(server);
    for (let i = 0; i < 3; i++) {
      const response = await server.request(SignIn, { input: { email: uniqueEmail("nobody"), password: "some guess here" } });
      expect(errorCodes(response)).toEqual(["INVALID_CREDENTIALS"]);
    }
    const refused = await server.request(SignIn, { input: { email, password: PASSWORD } });
    expect(retryAfterOf(refused)).toBeLessThanOrEqual(30);
    // another address is another client
    const elsewhere = await requestFrom("127.0.0.2", server, SignIn, { input: { email, password: PASSWORD } });
    expect(elsewhere.errors).toBeUndefined();
  });

  it("is throttled per email, from however many addresses", async () => {
    const server = await serverWith({ limits: { attemptsPerEmail: 3, windowSeconds: 30 } });
    const { email } = await signUp(server); // the sign-up counts as one attempt for the email
    for (const address of ["127.0.0.3", "127.0.0.4"]) {
      const response = await requestFrom(address, server, SignIn, { input: { email, password: "not the password" } });
      expect(errorCodes(response)).toEqual(["INVALID_CREDENTIALS"]);
    }
    retryAfterOf(await requestFrom("127.0.0.5", server, SignIn, { input: { email, password: PASSWORD } }));
    // another email from the same addresses is not concerned
    const other = await signUp(server);
    expect((await requestFrom("127.0.0.5", server, SignIn, { input: { email: other.email, password: PASSWORD } })).errors).toBeUndefined();
  });

  it("stops counting against an address after its failure budget", async () => {
    const server = await serverWith({ limits: { failuresPerAddress: 2, failureWindowSeconds: 30 } });
    const { email } = await signUp(server);
    for (const stranger of [uniqueEmail("a"), uniqueEmail("b")]) {
      expect(errorCodes(await requestFrom("127.0.0.6", server, SignIn, { input: { email: stranger, password: "spray spray" } }))).toEqual([
        "INVALID_CREDENTIALS",
      ]);
    }
    retryAfterOf(await requestFrom("127.0.0.6", server, SignIn, { input: { email, password: PASSWORD } }));
  });

  it("signing up is throttled per address too", async () => {
    const server = await serverWith({ limits: { signUpsPerAddress: 2, windowSeconds: 30 } });
    // a password the policy refuses does not count: finding a good one should not use up the budget
    const weak = await server.request(SignUp, { input: { email: uniqueEmail("flood"), username: "w", password: "password" } });
    expect(errorCodes(weak)).toEqual(["BAD_USER_INPUT"]);
    for (let i = 0; i < 2; i++) await signUp(server, uniqueEmail("flood"));
    retryAfterOf(await server.request(SignUp, { input: { email: uniqueEmail("flood"), username: "w", password: PASSWORD } }));
    expect((await requestFrom("127.0.0.7", server, SignUp, { input: { email: uniqueEmail("flood"), username: "w", password: PASSWORD } })).errors).toBeUndefined();
  });
});

describe("a new password", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serverWith();
  });

  const email = "marguerite.duras@example.com";
  const refused: [string, string, RegExp][] = [
    ["the most common password", "password", /password: is too common/],
    ["a common one with capitals", "Password1", /password: is too common/],
    ["eight digits in a row", "12345678", /password: is too common/],
    ["a common one typed in fullwidth letters", "ｐａｓｓｗｏｒｄ", /password: is too common/],
    ["eight spaces", "        ", /password: must not be only spaces/],
    ["seven characters", "abc defg".slice(0, 7), /password: must be at least 8 characters/],
    ["four emoji, eight UTF-16 units", "🦊🐙🦉🐝", /password: must be at least 8 characters/],
    ["257 characters", "x".repeat(257), /password: must be at most 256 characters/],
    ["the email", email, /password: must not be your email address/],
    ["the email's local part, in capitals", "MARGUERITE.DURAS", /password: must not be your email address/],
    ["the username", "the lover of 1984", /password: must not be your username/],
  ];
  for (const [what, password, reason] of refused) {
    it(`is refused when it is ${what}`, async () => {
      const users = await server.db.prisma.user.count();
      const response = await server.request(SignUp, { input: { email, username: "the lover of 1984", password } });
      expect(errorCodes(response)).toEqual(["BAD_USER_INPUT"]);
      expect(response.errors![0]!.message).toMatch(reason);
      expect(response.errors![0]!.extensions!.field).toBe("password");
      expect(await server.db.prisma.user.count()).toBe(users);
    });
  }

  it("counts code points: eight emoji are eight characters, and 256 are allowed", async () => {
    await signUp(server, uniqueEmail("emoji"), "🦊🐙🦉🐝🦀🐢🦋🐳");
    await signUp(server, uniqueEmail("long"), "long passphrase ".repeat(16));
  });

  it("is hashed with scrypt at OWASP's N=2^16, r=8, p=2", async () => {
    const { user } = await signUp(server);
    const stored = await server.db.prisma.user.findUniqueOrThrow({ where: { id: rowId(user.id) } });
    expect(stored.passwordHash).toMatch(/^scrypt\$65536\$8\$2\$[^$]+\$[^$]+$/);
  });
});

describe("an email", () => {
  it("is one account however it is typed: fullwidth letters, capitals", async () => {
    const server = await serverWith();
    const local = `alice${randomBytes(3).toString("hex")}`;
    const { user } = await signUp(server, `${local}@example.com`);
    const fullwidth = `ａ${local.slice(1)}@ｅｘａｍｐｌｅ.ｃｏｍ`;

    const again = await server.request(SignUp, { input: { email: fullwidth, username: "twin", password: PASSWORD } });
    expect(errorCodes(again)).toEqual(["EMAIL_TAKEN"]);
    const capitals = await server.query(SignIn, { input: { email: fullwidth.toUpperCase(), password: PASSWORD } });
    expect(capitals.signIn.user.id).toBe(user.id);
    expect((await server.query(MyStories, {}, capitals.signIn.token)).viewer).toEqual({ id: user.id, email: `${local}@example.com` });
  });
});

describe("emails stored before normalisation", () => {
  it("are normalised by the migration, except where two would become one", async () => {
    const all = (await fs.readdir(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const ours = all.findIndex((name) => name.endsWith("_accounts_hardening"));
    expect(ours).toBeGreaterThan(0);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-accounts-"));
    const copy = (names: string[]) => Promise.all(names.map((name) => fs.cp(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true })));
    const client = new PGlite();
    try {
      await copy(all.slice(0, ours));
      await applyPendingMigrations(new PrismaPGlite(client), { migrationsDir: dir });
      await client.query(
        `INSERT INTO users (id, email, username, password_hash) VALUES
           (gen_random_uuid(), 'ＢＯＢ@Example.COM', 'bob', '-'),
           (gen_random_uuid(), 'Carol@example.com', 'carol', '-'),
           (gen_random_uuid(), 'carol@example.com', 'carol too', '-'),
           (gen_random_uuid(), 'dave@example.com', 'dave', '-')`,
      );
      await copy(all.slice(ours));
      expect((await applyPendingMigrations(new PrismaPGlite(client), { migrationsDir: dir })).applied).toContain(all[ours]);
      const { rows } = await client.query<{ email: string }>("SELECT email FROM users ORDER BY email");
      expect(rows.map((r) => r.email)).toEqual(["Carol@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]);
    } finally {
      await client.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a password hashed with the old parameters (N=2^14)", () => {
  it("is hashed again with today's at the next sign-in", async () => {
    const server = await serverWith();
    const email = uniqueEmail("veteran");
    const salt = randomBytes(16);
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt(PASSWORD, salt, 64, { N: 16384, r: 8, p: 1 }, (error, derived) => (error ? reject(error) : resolve(derived))),
    );
    const oldHash = ["scrypt", 16384, 8, 1, salt.toString("base64"), key.toString("base64")].join("$");
    const { id } = await server.db.prisma.user.create({ data: { email, username: "veteran", passwordHash: oldHash } });

    expect(rowId((await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn.user.id)).toBe(id);
    const renewed = (await server.db.prisma.user.findUniqueOrThrow({ where: { id } })).passwordHash;
    expect(renewed).toMatch(/^scrypt\$65536\$8\$2\$/);
    expect(renewed).not.toBe(oldHash);
    // the new hash is the same password
    expect(rowId((await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn.user.id)).toBe(id);
    expect(errorCodes(await server.request(SignIn, { input: { email, password: "not the password" } }))).toEqual(["INVALID_CREDENTIALS"]);
  });
});

describe("signing out", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serverWith();
  });

  it("revokes the token sent and no other", async () => {
    const { email, token: laptop } = await signUp(server);
    const { token: phone } = (await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn;
    expect(await server.query(SignOut, {}, laptop)).toEqual({ signOut: { allDevices: false } });

    const refused = await server.request(MyStories, {}, laptop);
    expect(errorCodes(refused)).toEqual(["UNAUTHENTICATED"]);
    expect(refused.errors![0]!.message).toMatch(/invalid or expired/);
    expect(errorCodes(await server.request(SignOut, {}, laptop))).toEqual(["UNAUTHENTICATED"]);
    expect((await server.query(MyStories, {}, phone)).viewer).not.toBeNull();
  });

  it("with allDevices revokes every token of the user, and a new sign-in works", async () => {
    const { email, token: laptop } = await signUp(server);
    const { token: phone } = (await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn;
    const other = await signUp(server);
    expect(await server.query(SignOut, { input: { allDevices: true } }, phone)).toEqual({ signOut: { allDevices: true } });

    for (const token of [laptop, phone]) expect(errorCodes(await server.request(MyStories, {}, token))).toEqual(["UNAUTHENTICATED"]);
    expect((await server.query(MyStories, {}, other.token)).viewer).not.toBeNull(); // someone else's tokens stay good
    const { token: fresh } = (await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn;
    expect((await server.query(MyStories, {}, fresh)).viewer).not.toBeNull();
  });

  it("needs a token", async () => {
    expect(errorCodes(await server.request(SignOut, { input: { allDevices: true } }))).toEqual(["UNAUTHENTICATED"]);
  });
});

describe("a token", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serverWith();
  });

  it("expires when it says, and says when", async () => {
    const before = Date.now();
    const { expiresAt } = await signUp(server);
    const expiry = Date.parse(expiresAt as string);
    expect(expiry).toBeGreaterThanOrEqual(before + 3600_000 - 2000); // the test server's tokens last an hour
    expect(expiry).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
  });

  it("whose user was deleted is UNAUTHENTICATED on queries, mutations, SSE and WebSocket, not an internal error", async () => {
    const { token, user } = await signUp(server);
    const storyId = (await server.query(NewStory, { input: { title: "Left behind" } }, token)).createStory.story.id;
    await server.db.prisma.user.delete({ where: { id: rowId(user.id) } });

    expect(errorCodes(await server.request(MyStories, {}, token))).toEqual(["UNAUTHENTICATED"]);
    expect(errorCodes(await server.request(NewStory, { input: { title: "Ghost story" } }, token))).toEqual(["UNAUTHENTICATED"]);

    const ws = wsClient(server.url, token);
    const viaWs = subscribeWs(ws, ModuleUpdated, { storyId });
    const viaSse = subscribeSse(server.url, ModuleUpdated, { storyId }, token);
    try {
      await viaWs.received.until((r) => r.ended);
      expect(ws.closeCodes).toContain(4403);
      expect(viaWs.received.data).toEqual([]);
      await viaSse.received.until((r) => r.results.length > 0);
      expect(viaSse.received.results[0]!.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
  });

  const sign = (claims: { exp?: number; ver?: number; jti?: boolean; secret?: string }, userId: string) => {
    let jwt = new SignJWT({ ...(claims.ver === undefined ? { ver: 0 } : { ver: claims.ver }) })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(userId)
      .setIssuer("story-spark")
      .setIssuedAt();
    if (claims.jti !== false) jwt = jwt.setJti(randomUUID());
    if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
    return jwt.sign(new TextEncoder().encode(claims.secret ?? TEST_SECRET));
  };

  it("is refused without an expiry, without an id, once expired, with another version, or signed with another key", async () => {
    const { user } = await signUp(server);
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    // the control: what the server itself would issue
    expect((await server.query(MyStories, {}, await sign({ exp: inAnHour }, rowId(user.id)))).viewer?.id).toBe(user.id);
    for (const token of [
      await sign({}, rowId(user.id)),
      await sign({ exp: inAnHour, jti: false }, rowId(user.id)),
      await sign({ exp: Math.floor(Date.now() / 1000) - 10 }, rowId(user.id)),
      await sign({ exp: inAnHour, ver: 1 }, rowId(user.id)),
      await sign({ exp: inAnHour, secret: "another-secret-another-secret-another" }, rowId(user.id)),
    ]) {
      expect(errorCodes(await server.request(MyStories, {}, token))).toEqual(["UNAUTHENTICATED"]);
    }
  });
});

// only where a Redis is at hand (TEST_REDIS_URL): the outage test starts its own redis-server, and kills it
describe.runIf(redisUrl)("with Redis", () => {
  it("two instances share their counts", async () => {
    const shared = { redisUrl, keyPrefix: `test:${randomUUID()}`, limits: { signInsPerAddress: 3, windowSeconds: 30 } };
    const a = await serverWith(shared);
    const b = await serverWith(shared);
    const attempt = (server: TestServer) => server.request(SignIn, { input: { email: uniqueEmail("nobody"), password: "some guess here" } });
    expect(errorCodes(await attempt(a))).toEqual(["INVALID_CREDENTIALS"]);
    expect(errorCodes(await attempt(b))).toEqual(["INVALID_CREDENTIALS"]);
    expect(errorCodes(await attempt(a))).toEqual(["INVALID_CREDENTIALS"]);
    retryAfterOf(await attempt(b));
  });

  let redis: ChildProcess | null = null;
  afterEach(() => {
    redis?.kill("SIGKILL");
    redis = null;
  });

  it("that goes away: signing in still works, counted in memory, and nothing fails or crashes", async () => {
    const port = await freePort();
    redis = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
    await untilOutput(redis, /Ready to accept connections/);
    const server = await serverWith({ redisUrl: `redis://127.0.0.1:${port}`, limits: { lockoutAfter: 2, lockoutSeconds: 30 } });
    const { email, user } = await signUp(server);
    expect((await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn.user.id).toBe(user.id);

    redis.kill("SIGKILL");
    await once(redis, "exit");
    redis = null;

    // the right password, then two wrong ones: answered as usual, no INTERNAL_SERVER_ERROR
    expect((await server.query(SignIn, { input: { email, password: PASSWORD } })).signIn.user.id).toBe(user.id);
    for (let i = 0; i < 2; i++) expect(errorCodes(await server.request(SignIn, { input: { email, password: "wrong guess" } }))).toEqual(["INVALID_CREDENTIALS"]);
    // the in-memory counts stand in: the lock-out still holds
    retryAfterOf(await server.request(SignIn, { input: { email, password: PASSWORD } }));
    const fresh = await signUp(server);
    expect((await server.query(MyStories, {}, fresh.token)).viewer?.id).toBe(fresh.user.id);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function untilOutput(child: ChildProcess, pattern: RegExp): Promise<void> {
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${seen}`)), 10_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", () => reject(new Error(`redis-server exited: ${seen}`)));
  });
}
