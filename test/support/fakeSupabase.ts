// A local stand-in for a Supabase project's Auth: serves the JWKS of keys the test generates at
// /auth/v1/.well-known/jwks.json, and signs access tokens shaped like Supabase's with them.
// Nothing reaches the internet; the test decides which keys are published and when the JWKS fails.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createSecretKey, randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from "jose";

export type SigningKey = { kid: string; alg: "ES256" | "RS256"; privateKey: CryptoKey; publicJwk: JWK };

export async function signingKey(alg: "ES256" | "RS256"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  // as Supabase publishes them: public parts, key id, algorithm, for verifying
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: "sig", key_ops: ["verify"] };
  return { kid, alg, privateKey, publicJwk };
}

/** A Supabase user as a token describes them. */
export type TokenUser = {
  id: string;
  email?: string;
  userMetadata?: Record<string, unknown>;
  /** the session the token belongs to; a refreshed token keeps it */
  sessionId?: string;
  /** when the session signed in (s since the epoch): `amr`'s timestamp */
  signedInAt?: number;
};

/** What a test may change of a token: any claim (undefined removes it), the header, the signing. */
export type TokenShape = {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  /** seconds since the epoch */
  iat?: number;
  /** seconds from iat */
  lifetime?: number;
};

export type FakeSupabase = {
  /** the project's URL: SUPABASE_URL */
  url: string;
  issuer: string;
  /** GET requests for the JWKS so far */
  fetches: number;
  /** the keys the JWKS lists from now on */
  publish(...keys: SigningKey[]): void;
  /** `up`: the JWKS; `down`: 503; `hang`: never answers; `garbage`: 200 with HTML */
  state: "up" | "down" | "hang" | "garbage";
  /** an access token for the user, signed with `key` (an HS256 secret: the legacy JWT secret) */
  token(key: SigningKey | string, user: TokenUser, shape?: TokenShape): Promise<string>;
  close(): Promise<void>;
};

export async function startFakeSupabase(): Promise<FakeSupabase> {
  let published: SigningKey[] = [];
  const server = createServer((request, response) => {
    if (request.url !== "/auth/v1/.well-known/jwks.json") {
      response.writeHead(404).end();
      return;
    }
    fake.fetches++;
    switch (fake.state) {
      case "up":
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }));
        return;
      case "down":
        response.writeHead(503, { "content-type": "text/plain" }).end("upstream unavailable");
        return;
      case "garbage":
        response.writeHead(200, { "content-type": "text/html" }).end("<html>maintenance</html>");
        return;
      case "hang":
        return; // answered by nobody; closed with the server
    }
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${url}/auth/v1`;

  const fake: FakeSupabase = {
    url,
    issuer,
    fetches: 0,
    state: "up",
    publish(...keys) {
      published = keys;
    },
    async token(key, user, shape = {}) {
      const iat = shape.iat ?? Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: issuer,
        aud: "authenticated",
        sub: user.id,
        iat,
        exp: iat + (shape.lifetime ?? 3600),
        email: user.email ?? "",
        phone: "",
        app_metadata: { provider: "email", providers: ["email"] },
        user_metadata: user.userMetadata ?? {},
        role: "authenticated",
        aal: "aal1",
        amr: [{ method: "password", timestamp: user.signedInAt ?? iat }],
        session_id: user.sessionId ?? randomUUID(),
        is_anonymous: false,
        ...shape.claims,
      };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
      const signing = typeof key === "string" ? createSecretKey(Buffer.from(key, "utf8")) : key.privateKey;
      const header = typeof key === "string" ? { alg: "HS256", typ: "JWT" } : { alg: key.alg, kid: key.kid, typ: "JWT" };
      return new SignJWT(claims as JWTPayload).setProtectedHeader({ ...header, ...shape.header } as { alg: string }).sign(signing);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return fake;
}
