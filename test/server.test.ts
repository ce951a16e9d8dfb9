// `npm start`'s entry as a real process on a free port, talked to with plain fetch.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { databaseEnv, startServerProcess } from "./support/processes.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

describe("the server process", () => {
  it("starts, logs its URL, serves GraphQL and GraphiQL, and stops cleanly on SIGTERM", async () => {
    const server = await startServerProcess(databaseEnv(database));
    const url = server.url;

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

    expect(await server.stop("SIGTERM")).toBe(0);
    expect(server.output()).toMatch(/stopped/);
  });
});
