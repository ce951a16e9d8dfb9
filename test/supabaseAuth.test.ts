// Supabase Auth: a web app signed in with Supabase calls the API with the access token it already
// has. Tokens are checked against the project's JWKS (served here by a local stand-in, with keys
// the test generates and rotates) or its legacy HS256 secret; the user's row is made on first use
// and kept in step with the token's claims; AUTH_MODE decides whose tokens count.
import { randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { StoryEventsFeed, WriteModule } from "./support/documents.ts";
import { signUpWriter } from "./support/fixtures.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, TEST_TOKEN_SECRET, type TestServer } from "./support/server.ts";
import { signingKey, startFakeSupabase, type FakeSupabase, type SigningKey, type TokenUser } from "./support/fakeSupabase.ts";
import { createTokenService } from "../src/auth/tokens.ts";
import { createSupabaseAuth } from "../src/auth/authentication.ts";
import { readConfig } from "../src/config.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";

const Me = graphql(`
  query SupabaseMe { viewer { id email username } stories(first: 1) { edges { cursor } } }
`);
const NewStory = graphql(`
  mutation SupabaseNewStory($input: CreateStoryInput!) { createStory(input: $input) { story { id owner { id } } } }
`);
const SignOut = graphql(`
  mutation SupabaseSignOut($input: SignOutInput) { signOut(input: $input) { allDevices } }
`);
const SignUp = graphql(`
  mutation SupabaseSignUp($input: SignUpInput!) { signUp(input: $input) { token } }
`);
const SignIn = graphql(`
  mutation SupabaseSignIn($input: SignInInput!) { signIn(input: $input) { token } }
`);

/** the legacy HS256 secret of the main project (Supabase's are at least 32 characters) */
const LEGACY_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const now = () => Math.floor(Date.now() / 1000);
const newUser = (name: string, extra: Partial<TokenUser> = {}): TokenUser => ({ id: randomUUID(), email: `${name}-${randomUUID().slice(0, 8)}@example.com`, ...extra });

const started: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const thing of started.reverse()) await thing.close();
});
async function project(): Promise<FakeSupabase> {
  const fake = await startFakeSupabase();
  started.push(fake);
  return fake;
}
async function server(options: Parameters<typeof startTestServer>[1]): Promise<TestServer> {
  const started_ = await startTestServer(undefined, options);
  started.push(started_);
  return started_;
}

/** The user's row as stored. */
const row = (server: TestServer, id: string) => server.db.prisma.user.findUnique({ where: { id } });

describe("a server that accepts Supabase Auth tokens besides its own (AUTH_MODE=both)", () => {
  let supabase: FakeSupabase;
  let app: TestServer;
  let es256: SigningKey;
  let rs256: SigningKey;

  beforeAll(async () => {
    supabase = await project();
    [es256, rs256] = await Promise.all([signingKey("ES256"), signingKey("RS256")]);
    supabase.publish(es256, rs256);
    app = await server({ supabase: { url: supabase.url, jwtSecret: LEGACY_SECRET } });
  });

  it("takes a token signed with an ES256 or an RS256 key of the project's JWKS, and makes the user's row on first use", async () => {
    for (const key of [es256, rs256]) {
      const user = newUser("ada", { userMetadata: { username: "Ada" } });
      const { viewer, stories } = await app.query(Me, {}, await supabase.token(key, user));
      expect(decodeGlobalId(viewer!.id)).toEqual({ typename: "User", id: user.id });
      expect(viewer).toMatchObject({ email: user.email, username: "Ada" });
      expect(stories.edges).toEqual([]);
      const stored = await row(app, user.id);
      expect(stored).toMatchObject({ id: user.id, email: user.email, username: "Ada", passwordHash: null });
    }
  });

  it("takes a token signed with the legacy JWT secret (HS256)", async () => {
    const user = newUser("legacy");
    const { viewer } = await app.query(Me, {}, await supabase.token(LEGACY_SECRET, user));
    expect(viewer).toMatchObject({ email: user.email, username: user.email!.split("@")[0] });
  });

  it("lets a Supabase user write, owning what they write", async () => {
    const user = newUser("writer");
    const token = await supabase.token(es256, user);
    const { createStory } = await app.query(NewStory, { input: { title: "Supabase story" } }, token);
    expect(decodeGlobalId(createStory.story.owner.id)?.id).toBe(user.id);
    const written = await app.query(WriteModule, { input: { storyId: createStory.story.id, module: "IDEA_SPARK", output: { logline: "x" } } }, token);
    expect(written.writeModule.version.number).toBe(2);
  });

  it("names the user from user_metadata.username, else the email's local part, else their id; cleans and cuts what can't be stored", async () => {
    const named = (metadata: Record<string, unknown>, email?: string) => newUser("x", { userMetadata: metadata, ...(email === undefined ? {} : { email }) });
    const cases: { user: TokenUser; claims?: Record<string, unknown>; expected: (user: TokenUser) => { email: string | null; username: string } }[] = [
      { user: named({}, "grace.hopper@example.com"), expected: () => ({ email: "grace.hopper@example.com", username: "grace.hopper" }) },
      { user: named({}, "  Mixed.Case@Example.COM "), expected: () => ({ email: "mixed.case@example.com", username: "mixed.case" }) },
      // phone sign-in, anonymous sign-in: no email
      { user: named({}, ""), claims: { phone: "15551234567" }, expected: (u) => ({ email: null, username: `writer-${u.id.slice(0, 8)}` }) },
      { user: named({}, ""), claims: { is_anonymous: true }, expected: (u) => ({ email: null, username: `writer-${u.id.slice(0, 8)}` }) },
      { user: named({}, "not an email"), expected: (u) => ({ email: null, username: `writer-${u.id.slice(0, 8)}` }) },
      { user: named({ username: "  Ada\u0000 Love\ud800lace  " }), expected: (u) => ({ email: u.email!, username: "Ada Lovelace" }) },
      { user: named({ username: "n".repeat(100) }), expected: (u) => ({ email: u.email!, username: "n".repeat(60) }) },
      { user: named({ username: 42 }), expected: (u) => ({ email: u.email!, username: u.email!.split("@")[0]! }) },
      { user: named({ username: " \t " }), expected: (u) => ({ email: u.email!, username: u.email!.split("@")[0]! }) },
    ];
    for (const { user, claims, expected } of cases) {
      const { viewer } = await app.query(Me, {}, await supabase.token(es256, user, { claims: claims ?? {} }));
      expect({ email: viewer!.email, username: viewer!.username }).toEqual(expected(user));
    }
  });

  it("keeps the row in step when the claims change, never going back to an older token's claims, and does not write for claims it wrote already", async () => {
    const user = newUser("changing", { userMetadata: { username: "before" } });
    const firstIat = now() - 600;
    const first = await supabase.token(es256, user, { iat: firstIat });
    await app.query(Me, {}, first);
    const made = (await row(app, user.id))!;
    expect(made.supabaseClaimsAt).toEqual(new Date(firstIat * 1000));

    // the same claims in a newer token: nothing to write
    await app.query(Me, {}, await supabase.token(es256, user, { iat: now() - 300 }));
    expect(await row(app, user.id)).toEqual(made);

    // the user changed their email and name at Supabase: the next token says so
    const changed = { ...user, email: `changed-${randomUUID().slice(0, 8)}@example.com`, userMetadata: { username: "after" } };
    const { viewer } = await app.query(Me, {}, await supabase.token(es256, changed, { iat: now() - 60 }));
    expect(viewer).toMatchObject({ email: changed.email, username: "after" });
    const updated = (await row(app, user.id))!;
    expect(updated).toMatchObject({ email: changed.email, username: "after", createdAt: made.createdAt });
    expect(updated.updatedAt.getTime()).toBeGreaterThan(made.updatedAt.getTime());

    // another device still holds a token from before the change: it works, and changes nothing back
    const { viewer: fromOldDevice } = await app.query(Me, {}, first);
    expect(fromOldDevice).toMatchObject({ email: changed.email, username: "after" });
    expect(await row(app, user.id)).toEqual(updated);
    // nor on another instance, which never saw this user: the database keeps the newer claims
    const elsewhere = createSupabaseAuth({ url: supabase.url });
    await elsewhere.users.keepInStep(app.db, (await elsewhere.tokens.verify(first))!);
    expect(await row(app, user.id)).toEqual(updated);
  });

  it("gives a Supabase user whose email an account of ours holds no email, and leaves that account as it is", async () => {
    const local = await signUpWriter(app, "local");
    const localRow = (await row(app, decodeGlobalId(local.userId)!.id))!;
    const user = newUser("twin", { email: localRow.email! });
    const { viewer } = await app.query(Me, {}, await supabase.token(es256, user));
    expect(viewer).toMatchObject({ email: null, username: localRow.email!.split("@")[0] });
    expect(await row(app, localRow.id)).toEqual(localRow);
  });

  it("moves an email from a Supabase user's out-of-date row to the user Supabase now gives it to", async () => {
    const email = `moving-${randomUUID().slice(0, 8)}@example.com`;
    const before = newUser("before", { email });
    await app.query(Me, {}, await supabase.token(es256, before, { iat: now() - 600 }));
    const after = newUser("after", { email });
    const { viewer } = await app.query(Me, {}, await supabase.token(es256, after, { iat: now() - 60 }));
    expect(viewer?.email).toBe(email);
    expect((await row(app, before.id))?.email).toBeNull();
    // its user's next token says where their email went
    const elsewhere = `elsewhere-${randomUUID().slice(0, 8)}@example.com`;
    await app.query(Me, {}, await supabase.token(es256, { ...before, email: elsewhere }));
    expect((await row(app, before.id))?.email).toBe(elsewhere);
  });

  it("makes the row again when it was deleted here: the user is still Supabase's", async () => {
    const user = newUser("deleted");
    const token = await supabase.token(es256, user);
    await app.query(Me, {}, token);
    await app.db.prisma.user.delete({ where: { id: user.id } });
    const { viewer, stories } = await app.query(Me, {}, token);
    expect(viewer?.email).toBe(user.email);
    expect(stories.edges).toEqual([]);
  });

  it("refuses every token that is not a live user token of this project: UNAUTHENTICATED, and no row made", async () => {
    const other = await project();
    const otherKey = await signingKey("ES256");
    other.publish(otherKey);
    const unpublished = await signingKey("ES256");
    const user = newUser("refused");
    const refused: Record<string, string> = {
      expired: await supabase.token(es256, user, { iat: now() - 7200, lifetime: 3600 }),
      "without exp": await supabase.token(es256, user, { claims: { exp: undefined } }),
      "without iat": await supabase.token(es256, user, { claims: { iat: undefined } }),
      "for another audience": await supabase.token(es256, user, { claims: { aud: "anon" } }),
      "from another issuer": await supabase.token(es256, user, { claims: { iss: "https://evil.example.com/auth/v1" } }),
      "from another project": await other.token(otherKey, user),
      "with another project's issuer and this one's key id": await other.token(otherKey, user, { header: { kid: es256.kid } }),
      "signed with a key the project never published": await supabase.token(unpublished, user),
      "of the anon role": await supabase.token(es256, user, { claims: { role: "anon" } }),
      "of the service_role": await supabase.token(es256, user, { claims: { role: "service_role" } }),
      "without a sub (an API key)": await supabase.token(es256, user, { claims: { sub: undefined } }),
      "whose sub is not a uuid": await supabase.token(es256, user, { claims: { sub: "admin" } }),
      "HS256 with a wrong secret": await supabase.token("a-wrong-secret-a-wrong-secret-a-wrong-secret", user),
      "HS256 with the public key as its secret": await supabase.token(JSON.stringify(es256.publicJwk), user, { header: { kid: es256.kid } }),
      "unsigned (alg none)": unsigned({ alg: "none", typ: "JWT" }, await supabase.token(es256, user)),
      "with a changed payload": tampered(await supabase.token(es256, user)),
      "not a JWT": "not-a-jwt",
    };
    for (const [kind, token] of Object.entries(refused)) {
      const answer = await app.request(Me, {}, token);
      expect({ kind, codes: errorCodes(answer), message: answer.errors?.[0]?.message }).toEqual({ kind, codes: ["UNAUTHENTICATED"], message: "the token is invalid or expired" });
    }
    expect(await row(app, user.id)).toBeNull();
  });

  it("keeps taking its own tokens: sign-up, sign-in, writes", async () => {
    const { token } = await signUpWriter(app, "local-writer");
    const { createStory } = await app.query(NewStory, { input: { title: "Local story" } }, token);
    expect(createStory.story.id).toBeTruthy();
  });

  it("signs out a Supabase session on this device: its refreshed tokens are refused too, other sessions are not", async () => {
    const user = newUser("device");
    const phone = { ...user, sessionId: randomUUID() };
    const laptop = { ...user, sessionId: randomUUID() };
    const phoneToken = await supabase.token(es256, phone, { iat: now() - 60 });
    await app.query(Me, {}, phoneToken);
    expect(await app.query(SignOut, { input: {} }, phoneToken)).toEqual({ signOut: { allDevices: false } });
    expect(errorCodes(await app.request(Me, {}, phoneToken))).toEqual(["UNAUTHENTICATED"]);
    const refreshed = await supabase.token(es256, phone);
    expect(errorCodes(await app.request(Me, {}, refreshed))).toEqual(["UNAUTHENTICATED"]);
    expect((await app.query(Me, {}, await supabase.token(es256, laptop))).viewer?.email).toBe(user.email);
  });

  it("signs a Supabase user out of every device: sessions signed in before are refused even after a refresh; a new sign-in works", async () => {
    const user = newUser("everywhere");
    const signedIn = now() - 600;
    const phone = { ...user, sessionId: randomUUID(), signedInAt: signedIn };
    const laptop = { ...user, sessionId: randomUUID(), signedInAt: signedIn };
    await app.query(Me, {}, await supabase.token(es256, laptop));
    expect(await app.query(SignOut, { input: { allDevices: true } }, await supabase.token(es256, phone))).toEqual({ signOut: { allDevices: true } });
    for (const session of [phone, laptop]) {
      // a token refreshed after the sign-out still belongs to a session signed in before it
      expect(errorCodes(await app.request(Me, {}, await supabase.token(es256, session, { iat: now() + 1 })))).toEqual(["UNAUTHENTICATED"]);
    }
    const again = { ...user, sessionId: randomUUID(), signedInAt: now() + 1 };
    expect((await app.query(Me, {}, await supabase.token(es256, again, { iat: now() + 1 }))).viewer?.email).toBe(user.email);
  });

  it("serves a WebSocket subscription to a Supabase user, and ends it when the token expires", async () => {
    const user = newUser("live");
    const token = await supabase.token(rs256, user, { lifetime: 8 });
    const { createStory } = await app.query(NewStory, { input: { title: "Live" } }, token);
    const client = wsClient(app.url, token);
    try {
      const feed = subscribeWs(client, StoryEventsFeed, { storyId: createStory.story.id, after: 0 });
      await feed.received.until((r) => r.data.length === 1);
      await app.query(WriteModule, { input: { storyId: createStory.story.id, module: "WORLD_SEED", output: { setting: "a harbour" } } }, token);
      await feed.received.until((r) => r.data.length === 2);
      expect(feed.received.data.map((d) => d.storyEvents.type)).toEqual(["StoryCreated", "ModuleWritten"]);
      // at the token's exp the socket is closed like any expired token's
      await feed.received.until((r) => r.ended, 15_000);
      expect(client.closeCodes).toContain(4403);
    } finally {
      await client.dispose();
    }
  });
});

describe("the project's keys as they rotate, and when its JWKS can't be reached", () => {
  let supabase: FakeSupabase;
  let app: TestServer;
  let first: SigningKey;
  let second: SigningKey;
  const timings = { cacheMaxAgeMs: 1_500, cooldownMs: 1_000, timeoutMs: 500, retryMs: 500 };

  beforeAll(async () => {
    supabase = await project();
    [first, second] = await Promise.all([signingKey("ES256"), signingKey("RS256")]);
    supabase.publish(first);
    // no legacy secret: HS256 tokens are refused outright
    app = await server({ supabase: { url: supabase.url, keySet: timings } });
  });

  const viewerEmail = async (token: string) => (await app.query(Me, {}, token)).viewer?.email;

  it("fetches the keys once, and not again for each token with a key id it does not know", async () => {
    const user = newUser("rotating");
    expect(await viewerEmail(await supabase.token(first, user))).toBe(user.email);
    expect(supabase.fetches).toBe(1);
    const strangers = await Promise.all(Array.from({ length: 20 }, async () => supabase.token(await signingKey("ES256"), user)));
    const answers = await Promise.all(strangers.map((token) => app.request(Me, {}, token)));
    expect(answers.map(errorCodes)).toEqual(strangers.map(() => ["UNAUTHENTICATED"]));
    expect(supabase.fetches).toBeLessThanOrEqual(2);
    expect(errorCodes(await app.request(Me, {}, await supabase.token(LEGACY_SECRET, user)))).toEqual(["UNAUTHENTICATED"]);
  });

  it("takes a token signed with a key published since (fetched again for its new key id), and stops taking a key once it is removed", async () => {
    const user = newUser("rotated");
    supabase.publish(first, second);
    await sleep(timings.cooldownMs + 100);
    const fetches = supabase.fetches;
    expect(await viewerEmail(await supabase.token(second, user))).toBe(user.email);
    expect(supabase.fetches).toBe(fetches + 1);

    // the old key is revoked: once the keys are older than their cache age they are fetched again
    supabase.publish(second);
    await sleep(timings.cacheMaxAgeMs + 100);
    await viewerEmail(await supabase.token(second, user)); // served with the keys at hand while new ones are fetched
    await until(() => supabase.fetches === fetches + 2);
    await sleep(300); // the answer's keys replace the old ones
    expect(errorCodes(await app.request(Me, {}, await supabase.token(first, user)))).toEqual(["UNAUTHENTICATED"]);
    expect(await viewerEmail(await supabase.token(second, user))).toBe(user.email);
  });

  it("goes on with the keys at hand while the JWKS is down, answers SERVICE_UNAVAILABLE for a key it can't fetch, and recovers", async () => {
    const user = newUser("outage");
    const third = await signingKey("ES256");
    supabase.state = "down";
    await sleep(timings.cacheMaxAgeMs + 100);
    // the keys are past their age and can't be fetched: a token of a known key still counts
    expect(await viewerEmail(await supabase.token(second, user))).toBe(user.email);
    // a token of a key it never saw can't be told good or bad: retry, not sign in again
    supabase.publish(second, third);
    const unknown = await supabase.token(third, user);
    await sleep(timings.retryMs + 100);
    const answer = await app.request(Me, {}, unknown);
    expect(errorCodes(answer)).toEqual(["SERVICE_UNAVAILABLE"]);
    expect(answer.errors![0]!.message).toMatch(/signing keys could not be fetched.*safe to retry/);
    // the server serves everything else meanwhile
    const local = await signUpWriter(app, "meanwhile");
    expect((await app.query(Me, {}, local.token)).viewer).not.toBeNull();

    // a WebSocket is told to try again later (1013), not that its token is bad
    const client = wsClient(app.url, unknown);
    try {
      const feed = subscribeWs(client, StoryEventsFeed, { storyId: "x", after: 0 });
      await feed.received.until((r) => r.ended);
      expect(client.closeCodes).toEqual([1013]);
    } finally {
      await client.dispose();
    }

    supabase.state = "up";
    await sleep(timings.retryMs + 100);
    expect(await viewerEmail(unknown)).toBe(user.email);
  });
});

describe("a server whose accounts are Supabase Auth's (AUTH_MODE=supabase)", () => {
  let supabase: FakeSupabase;
  let app: TestServer;
  let key: SigningKey;
  const timings = { cacheMaxAgeMs: 60_000, cooldownMs: 1_000, timeoutMs: 400, retryMs: 400 };

  beforeAll(async () => {
    supabase = await project();
    key = await signingKey("ES256");
    supabase.publish(key);
    supabase.state = "hang";
    app = await server({ supabase: { url: supabase.url, authMode: "supabase", keySet: timings } });
  });

  it("answers SERVICE_UNAVAILABLE while it has never been able to fetch the keys (no answer, or not a key set), within the fetch timeout", async () => {
    const token = await supabase.token(key, newUser("early"));
    const started = Date.now();
    expect(errorCodes(await app.request(Me, {}, token))).toEqual(["SERVICE_UNAVAILABLE"]);
    expect(Date.now() - started).toBeLessThan(timings.timeoutMs + 2_000);
    // asked again at once: no new fetch is tried, the answer is the same
    expect(errorCodes(await app.request(Me, {}, token))).toEqual(["SERVICE_UNAVAILABLE"]);
    supabase.state = "garbage";
    await sleep(timings.retryMs + 100);
    expect(errorCodes(await app.request(Me, {}, token))).toEqual(["SERVICE_UNAVAILABLE"]);
    supabase.state = "up";
    await sleep(timings.retryMs + 100);
    expect((await app.query(Me, {}, token)).viewer).not.toBeNull();
  });

  it("refuses sign-up and sign-in with LOCAL_AUTH_DISABLED, pointing to Supabase Auth", async () => {
    const answers = [
      await app.request(SignUp, { input: { email: "new@example.com", username: "new", password: "correct horse battery" } }),
      await app.request(SignIn, { input: { email: "new@example.com", password: "correct horse battery" } }),
    ];
    for (const answer of answers) {
      expect(errorCodes(answer)).toEqual(["LOCAL_AUTH_DISABLED"]);
      expect(answer.errors![0]!.message).toMatch(/Supabase Auth/);
      expect(answer.errors![0]!.extensions).toMatchObject({ authProvider: "supabase", supabaseUrl: supabase.url });
    }
    expect(await app.db.prisma.user.count({ where: { email: "new@example.com" } })).toBe(0);
  });

  it("refuses the server's own tokens, even of an existing user", async () => {
    const user = await app.db.prisma.user.create({ data: { email: `old-${randomUUID().slice(0, 8)}@example.com`, username: "old", passwordHash: "-" } });
    const tokens = createTokenService({ secret: TEST_TOKEN_SECRET, dataDir: app.database.dataDir, ttl: "1h" });
    const { token } = await tokens.issue(user);
    expect(errorCodes(await app.request(Me, {}, token))).toEqual(["UNAUTHENTICATED"]);
  });

  it("takes Supabase tokens", async () => {
    const user = newUser("only");
    expect((await app.query(Me, {}, await supabase.token(key, user))).viewer?.email).toBe(user.email);
  });
});

describe("a server with its own accounts only (AUTH_MODE=local, the default)", () => {
  it("refuses Supabase tokens", async () => {
    const supabase = await project();
    const key = await signingKey("ES256");
    supabase.publish(key);
    const app = await server({});
    expect(errorCodes(await app.request(Me, {}, await supabase.token(key, newUser("nope"))))).toEqual(["UNAUTHENTICATED"]);
    expect(supabase.fetches).toBe(0);
  });
});

describe("configuration", () => {
  const config = (env: Record<string, string>) => readConfig({ DATA_DIR: "/tmp/unused", ...env });

  it("is local without SUPABASE_URL, both with it, and what AUTH_MODE says", () => {
    expect(config({})).toMatchObject({ authMode: "local", supabaseUrl: undefined, supabaseJwtSecret: undefined });
    expect(config({ SUPABASE_URL: "https://abcd.supabase.co/" })).toMatchObject({ authMode: "both", supabaseUrl: "https://abcd.supabase.co" });
    expect(config({ SUPABASE_URL: "https://abcd.supabase.co", AUTH_MODE: "supabase", SUPABASE_JWT_SECRET: LEGACY_SECRET })).toMatchObject({
      authMode: "supabase",
      supabaseJwtSecret: LEGACY_SECRET,
    });
    expect(config({ SUPABASE_URL: "https://abcd.supabase.co", AUTH_MODE: "local" })).toMatchObject({ authMode: "local" });
  });

  it("refuses settings that can't work, saying which and why", () => {
    expect(() => config({ AUTH_MODE: "supabase" })).toThrow(/^AUTH_MODE: supabase needs SUPABASE_URL/);
    expect(() => config({ AUTH_MODE: "both" })).toThrow(/^AUTH_MODE: both needs SUPABASE_URL/);
    expect(() => config({ AUTH_MODE: "firebase", SUPABASE_URL: "https://abcd.supabase.co" })).toThrow(/^AUTH_MODE: must be local, supabase or both, got "firebase"/);
    expect(() => config({ SUPABASE_URL: "abcd.supabase.co" })).toThrow(/^SUPABASE_URL: is not a URL/);
    expect(() => config({ SUPABASE_URL: "https://abcd.supabase.co/auth/v1" })).toThrow(/without \/auth\/v1/);
    expect(() => config({ SUPABASE_JWT_SECRET: LEGACY_SECRET })).toThrow(/^SUPABASE_JWT_SECRET: needs SUPABASE_URL/);
    expect(() => config({ SUPABASE_URL: "https://abcd.supabase.co", SUPABASE_JWT_SECRET: "short" })).toThrow(/at least 32 characters/);
  });

  it("stops the server at start with one line when AUTH_MODE=supabase has no SUPABASE_URL", async () => {
    const child = spawn(process.execPath, ["--experimental-strip-types", "src/server/main.ts"], {
      env: { ...process.env, AUTH_MODE: "supabase", SUPABASE_URL: "", PORT: "0", DATA_DIR: "/tmp/story-spark-never-created" },
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(output.trim().split("\n")).toEqual([expect.stringMatching(/^AUTH_MODE: supabase needs SUPABASE_URL/)]);
  });
});

/** The token with its header replaced and its signature dropped. */
function unsigned(header: Record<string, unknown>, token: string): string {
  const [, payload] = token.split(".");
  return `${base64url.encode(JSON.stringify(header))}.${payload}.`;
}

/** The token with its payload changed after signing (the email), signature kept. */
function tampered(token: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!))) as Record<string, unknown>;
  return `${header}.${base64url.encode(JSON.stringify({ ...claims, email: "someone-else@example.com" }))}.${signature}`;
}

async function until(ready: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(20);
  }
}
