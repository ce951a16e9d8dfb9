// `npm start`'s entry as a real process on a free port, talked to with plain fetch.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/databases.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

describe("the server process", () => {
  it("starts, logs its URL, serves GraphQL and GraphiQL, and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/server/main.ts"], {
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: database.dataDir, DATABASE_URL: database.databaseUrl ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL logged: ${output}`)), 60_000);
      child.stdout.on("data", () => {
        const match = /ready at (http:\/\/\S+\/graphql)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${output}`)));
    });

    const signUp = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        variables: { i: { email: "process@example.com", username: "p", password: "long enough pw" } },
      }),
    });
    const { data } = (await signUp.json()) as { data: { signUp: { token: string } } };
    expect(data.signUp.token).toMatch(/^ey/);

    const viewer = await fetch(`${url}?query=${encodeURIComponent("{ viewer { username } }")}`, {
      headers: { authorization: `Bearer ${data.signUp.token}` },
    });
    expect(await viewer.json()).toEqual({ data: { viewer: { username: "p" } } });

    const graphiql = await fetch(url, { headers: { accept: "text/html" } });
    expect(graphiql.headers.get("content-type")).toMatch(/text\/html/);
    expect(await graphiql.text()).toMatch(/GraphiQL/i);

    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    expect(output).toMatch(/stopped/);
  });
});
