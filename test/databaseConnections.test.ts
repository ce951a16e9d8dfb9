// Connections as deployments behind a pooler (Supabase, PgBouncer) need them: the application on
// DATABASE_URL, migrations and the CLI on DIRECT_URL; MIGRATE_ON_START=false leaves migrations to
// a release step, and the server waits, not ready, until it has run; DATABASE_SSL_CA verifies the
// server's certificate, through a TLS-terminating relay in front of the test PostgreSQL.
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readConfig } from "../src/config.ts";
import { openDatabase } from "../src/database/connect.ts";
import { connectionConfig, DatabaseConfigError } from "../src/database/connectionConfig.ts";
import { DEFAULT_MIGRATIONS_DIR, readMigrationList } from "../src/database/migrations.ts";
import { backend, createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { databaseEnv, freePort, startServerProcess } from "./support/processes.ts";

const run = promisify(execFile);
const TIMEOUT = { timeout: 120_000 };

type Outcome = { code: number; stdout: string; stderr: string };

/** `npm start`'s or `npm run db:migrate`'s entry, run to its end. */
function runEntry(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return run(process.execPath, ["--experimental-strip-types", file, ...args], { env: { PORT: "0", HOST: "127.0.0.1", ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: Outcome) => e,
  );
}

/** A URL nothing answers at: whatever is sent there fails. */
async function deadUrl(): Promise<string> {
  return `postgresql://postgres@127.0.0.1:${await freePort()}/nowhere`;
}

async function migrationNames(): Promise<string[]> {
  return (await readMigrationList(DEFAULT_MIGRATIONS_DIR)).migrationDirectories.map((m) => m.path);
}

describe("the settings", () => {
  it("MIGRATE_ON_START is on unless set to false or 0, and refuses anything else", () => {
    expect(readConfig({}).migrateOnStart).toBe(true);
    expect(readConfig({ MIGRATE_ON_START: "1" }).migrateOnStart).toBe(true);
    expect(readConfig({ MIGRATE_ON_START: "false" }).migrateOnStart).toBe(false);
    expect(readConfig({ MIGRATE_ON_START: "0" }).migrateOnStart).toBe(false);
    expect(() => readConfig({ MIGRATE_ON_START: "no" })).toThrow(/^MIGRATE_ON_START: must be true or false, got "no"/);
  });

  it("DIRECT_URL falls back to DATABASE_URL, and is refused without it", () => {
    const app = "postgresql://app@pooler:6543/db";
    const direct = "postgresql://owner@db:5432/db";
    expect(readConfig({ DATABASE_URL: app }).directUrl).toBe(app);
    expect(readConfig({ DATABASE_URL: app, DIRECT_URL: direct })).toMatchObject({ databaseUrl: app, directUrl: direct });
    expect(readConfig({}).directUrl).toBeUndefined();
    expect(() => readConfig({ DIRECT_URL: direct })).toThrow(/^DIRECT_URL: is set but DATABASE_URL is not/);
  });

  it("DATABASE_SSL_CA is a PEM file's path or the PEM itself (newlines may be written \\n)", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-ca-"));
    try {
      await fs.writeFile(path.join(dir, "ca.crt"), pem);
      await fs.writeFile(path.join(dir, "not-a-cert"), "hello");
      expect(readConfig({ DATABASE_SSL_CA: path.join(dir, "ca.crt") }).databaseSslCa).toBe(pem);
      expect(readConfig({ DATABASE_SSL_CA: pem }).databaseSslCa).toBe(pem.trim());
      expect(readConfig({ DATABASE_SSL_CA: pem.trim().replaceAll("\n", "\\n") }).databaseSslCa).toBe(pem.trim());
      expect(readConfig({}).databaseSslCa).toBeUndefined();
      expect(() => readConfig({ DATABASE_SSL_CA: path.join(dir, "missing.crt") })).toThrow(/^DATABASE_SSL_CA: is neither PEM text nor a readable file \(ENOENT\)/);
      expect(() => readConfig({ DATABASE_SSL_CA: path.join(dir, "not-a-cert") })).toThrow(/^DATABASE_SSL_CA: names a file that holds no PEM certificate/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("with a CA, the URL's TLS options are kept and completed with it; an sslmode that turns verification off is refused", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const url = "postgresql://u:p%40ss@db.example.com:5432/postgres";
    expect(connectionConfig(url, undefined)).toEqual({ connectionString: url });
    expect(connectionConfig(url, ca)).toMatchObject({ host: "db.example.com", port: 5432, user: "u", password: "p@ss", database: "postgres", ssl: { ca } });
    // pg would otherwise let the URL's sslmode replace the CA
    expect(connectionConfig(`${url}?sslmode=require`, ca).ssl).toEqual({ ca });
    expect(connectionConfig(`${url}?sslmode=verify-full`, ca).ssl).toEqual({ ca });
    for (const mode of ["disable", "no-verify", "prefer&uselibpqcompat=true", "require&uselibpqcompat=true"]) {
      expect(() => connectionConfig(`${url}?sslmode=${mode}`, ca)).toThrow(DatabaseConfigError);
    }
  });

  it("migrations through Supabase's transaction pooler are refused before connecting, naming DIRECT_URL", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-pooler-"));
    try {
      const pooler = "postgresql://postgres.abcdefghijklmnop:secret@aws-0-eu-central-1.pooler.supabase.com:6543/postgres";
      const opening = openDatabase({ databaseUrl: pooler, dataDir });
      await expect(opening).rejects.toThrow(DatabaseConfigError);
      await expect(opening).rejects.toThrow(/set DIRECT_URL to the direct connection or the session pooler \(port 5432\)/);
      // the same pooler is fine for the application once migrations have a direct URL (nothing connects until a query)
      const db = await openDatabase({ databaseUrl: pooler, dataDir, migrate: false });
      await db.close();
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(backend === "pglite")("DATABASE_URL for the application, DIRECT_URL for migrations and the CLI", TIMEOUT, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it("migrations go through DIRECT_URL: they apply while nothing answers at DATABASE_URL", async () => {
    const db = await openDatabase({ databaseUrl: await deadUrl(), directUrl: database.directUrl, dataDir: database.dataDir });
    try {
      // the application's pool is DATABASE_URL's
      await expect(db.prisma.$queryRaw`SELECT 1`).rejects.toThrow();
    } finally {
      await db.close();
    }
    const client = new pg.Client({ connectionString: database.directUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ migration_name: string }>("SELECT migration_name FROM _prisma_migrations ORDER BY migration_name");
      expect(rows.map((r) => r.migration_name)).toEqual(await migrationNames());
    } finally {
      await client.end();
    }
  });

  it("npm run db:migrate and the CLI use DIRECT_URL", async () => {
    const env = { ...databaseEnv(database), DATABASE_URL: await deadUrl() };
    const migrate = await runEntry("src/database/migrate-cli.ts", ["deploy"], env);
    expect(migrate.stderr).toBe("");
    expect(migrate.stdout).toMatch(/Database is up to date \(PostgreSQL postgresql:\/\/postgres@127\.0\.0\.1:5432\//);
    const verify = await runEntry("src/cli/story-spark.ts", ["verify"], env);
    expect(verify).toMatchObject({ code: 0, stderr: "verify: the read tables equal the fold of the log.\n" });
  });
});

describe("MIGRATE_ON_START=false: migrations are a release step", TIMEOUT, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it("the server applies none and is not ready while migrations are pending, saying npm run db:migrate; once that has run, it is", async () => {
    const env = { ...databaseEnv(database), MIGRATE_ON_START: "false" };
    const names = await migrationNames();
    const server = await startServerProcess(env, { until: "listening" });
    try {
      const root = server.url.replace(/\/graphql$/, "");
      // first it connects, then it finds the migrations pending (readiness answers are kept a second)
      const reason = `${names.length} migration(s) not applied (MIGRATE_ON_START=false: run npm run db:migrate)`;
      let waiting = { status: 0, body: "" };
      for (const deadline = Date.now() + 10_000; !waiting.body.includes(reason) && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
        const response = await fetch(`${root}/readiness`);
        waiting = { status: response.status, body: await response.text() };
      }
      expect(waiting.status).toBe(503);
      expect(waiting.body).toContain(reason);
      const early = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ viewer { id } }" }) });
      expect(early.status).toBe(503);

      if (backend === "pglite") {
        // the embedded database is one process's: its release step runs with the server stopped, and is refused beside it
        const beside = await runEntry("src/database/migrate-cli.ts", ["deploy"], env);
        expect(beside.code).toBe(1);
        expect(beside.stderr).toMatch(/The embedded database in .* is in use by process \d+ \(story-spark server/);
        return;
      }
      // the release step applies every migration: the server had applied none of them
      const migrate = await runEntry("src/database/migrate-cli.ts", ["deploy"], env);
      expect(migrate.code).toBe(0);
      expect(migrate.stdout.split("\n").filter((line) => line.startsWith("Applying migration "))).toEqual(names.map((name) => `Applying migration \`${name}\``));

      // it checks again with back-off (1, 2, 4 … s): ready within the next checks
      const deadline = Date.now() + 40_000;
      while (!/ready at /.test(server.output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.output()).toMatch(/ready at /);
      const answer = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ viewer { id } }" }) });
      expect(await answer.json()).toEqual({ data: { viewer: null } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(server.output()).not.toMatch(/Applying migration/);
  });
});

// ---------------------------------------------------------------------------
// TLS: a relay that speaks PostgreSQL's TLS handshake (SSLRequest, 'S', then TLS) with a certificate
// of a test CA, and passes the decrypted protocol on to the test PostgreSQL, as Supabase's servers
// present certificates of Supabase's own CA. A client that does not ask for TLS is refused.

type Certificates = {
  dir: string;
  ca: string;
  otherCa: string;
  key: string;
  /** the server's certificate, then its CA's */
  cert: string;
  wrongHostKey: string;
  wrongHostCert: string;
  strangerKey: string;
  strangerCert: string;
};

function makeCertificates(dir: string): Certificates {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const authority = (name: string, cn: string) =>
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`), "-days", "2", "-subj", `/CN=${cn}`);
  const signed = (name: string, by: string, subjectAltName: string) => {
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`);
    writeFileSync(file(`${name}.ext`), `subjectAltName=${subjectAltName}\n`);
    openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file(`${by}.crt`), "-CAkey", file(`${by}.key`), "-CAcreateserial", "-out", file(`${name}.crt`), "-days", "2", "-extfile", file(`${name}.ext`));
  };
  authority("ca", "Story Spark test CA");
  authority("other-ca", "Someone else's CA");
  signed("server", "ca", "IP:127.0.0.1");
  signed("wrong-host", "ca", "DNS:db.example.invalid");
  signed("stranger", "other-ca", "IP:127.0.0.1");
  const read = (name: string) => readFileSync(file(name), "utf8");
  return {
    dir,
    ca: read("ca.crt"),
    otherCa: read("other-ca.crt"),
    key: read("server.key"),
    cert: read("server.crt") + read("ca.crt"),
    wrongHostKey: read("wrong-host.key"),
    wrongHostCert: read("wrong-host.crt") + read("ca.crt"),
    strangerKey: read("stranger.key"),
    strangerCert: read("stranger.crt") + read("other-ca.crt"),
  };
}

const SSL_REQUEST_CODE = 80877103;

async function tlsRelay(target: URL, key: string, chain: string) {
  const sockets = new Set<net.Socket>();
  let handshakes = 0;
  const relay = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    client.once("data", (first) => {
      // a client that starts without TLS is refused, as a server that enforces TLS does
      if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) return void client.destroy();
      client.write("S");
      // the chain up to the root, as Supabase's servers send it
      const secure = new tls.TLSSocket(client, { isServer: true, key, cert: chain });
      secure.on("error", () => client.destroy());
      secure.once("secure", () => {
        handshakes++;
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        sockets.add(upstream);
        upstream.on("close", () => secure.destroy());
        upstream.on("error", () => secure.destroy());
        secure.on("close", () => upstream.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const url = (query = "") => {
    const u = new URL(target);
    u.hostname = "127.0.0.1";
    u.port = String((relay.address() as net.AddressInfo).port);
    u.search = query;
    return u.toString();
  };
  return {
    url,
    handshakes: () => handshakes,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

describe.skipIf(backend === "pglite")("TLS to PostgreSQL (DATABASE_SSL_CA)", TIMEOUT, () => {
  let database: TestDatabase;
  let certs: Certificates;
  let relays: Awaited<ReturnType<typeof tlsRelay>>[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    certs = makeCertificates(await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-tls-")));
    // the database migrated beforehand, so that each case below is one connection's fate
    const db = await openDatabase({ databaseUrl: database.directUrl, dataDir: database.dataDir });
    await db.close();
  });
  afterAll(async () => {
    for (const relay of relays) await relay.close();
    await fs.rm(certs.dir, { recursive: true, force: true });
    await database?.drop();
  });
  const relayWith = async (key: string, chain: string) => {
    const relay = await tlsRelay(new URL(database.directUrl!), key, chain);
    relays.push(relay);
    return relay;
  };

  /** What a query through a fresh pool on `url` gives: the answer, or the error's message. */
  async function queryThrough(url: string, sslCa: string | undefined): Promise<string> {
    const db = await openDatabase({ databaseUrl: url, sslCa, dataDir: database.dataDir, migrate: false });
    try {
      const [row] = await db.prisma.$queryRaw<{ answer: number }[]>`SELECT 42 AS answer`;
      return `answer ${row!.answer}`;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await db.close();
    }
  }

  it("with the server's CA the connection is encrypted and verified, whatever the URL's sslmode asks", async () => {
    const relay = await relayWith(certs.key, certs.cert);
    expect(await queryThrough(relay.url(), certs.ca)).toBe("answer 42");
    expect(await queryThrough(relay.url("?sslmode=require"), certs.ca)).toBe("answer 42");
    expect(await queryThrough(relay.url("?sslmode=verify-full"), certs.ca)).toBe("answer 42");
    expect(relay.handshakes()).toBeGreaterThanOrEqual(3);
  });

  it("without the CA, sslmode=require fails as pg 8 reads it (verify-full); no-verify encrypts without verifying", async () => {
    const relay = await relayWith(certs.key, certs.cert);
    expect(await queryThrough(relay.url("?sslmode=require"), undefined)).toMatch(/self[- ]signed certificate in certificate chain/);
    expect(await queryThrough(relay.url("?sslmode=no-verify"), undefined)).toBe("answer 42");
    expect(await queryThrough(relay.url("?uselibpqcompat=true&sslmode=require"), undefined)).toBe("answer 42");
    // and a server that enforces TLS refuses a URL without sslmode
    expect(await queryThrough(relay.url(), undefined)).not.toBe("answer 42");
  });

  it("a certificate of another CA, or for another host, is refused", async () => {
    const stranger = await relayWith(certs.strangerKey, certs.strangerCert);
    expect(await queryThrough(stranger.url("?sslmode=verify-full"), certs.ca)).toMatch(/self[- ]signed certificate in certificate chain|unable to verify/);
    const wrongHost = await relayWith(certs.wrongHostKey, certs.wrongHostCert);
    expect(await queryThrough(wrongHost.url("?sslmode=verify-full"), certs.ca)).toMatch(/does not match certificate's altnames/);
    // the other CA is no help for our server's certificate either
    const ours = await relayWith(certs.key, certs.cert);
    expect(await queryThrough(ours.url(), certs.otherCa)).toMatch(/self[- ]signed certificate in certificate chain|unable to verify/);
  });

  it("the server process reads DATABASE_SSL_CA from a file and migrates and serves through TLS", async () => {
    const relay = await relayWith(certs.key, certs.cert);
    const caFile = path.join(certs.dir, "ca.crt");
    const url = relay.url("?sslmode=verify-full");
    const server = await startServerProcess({ ...databaseEnv(database), DATABASE_URL: url, DIRECT_URL: url, DATABASE_SSL_CA: caFile });
    try {
      const answer = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
          variables: { i: { email: "tls@example.com", username: "tls", password: "long enough pw" } },
        }),
      });
      expect(((await answer.json()) as { data: { signUp: { token: string } } }).data.signUp.token).toMatch(/^ey/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(relay.handshakes()).toBeGreaterThanOrEqual(2); // the migration connection and the pool's
  });
});
