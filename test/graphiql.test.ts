// GraphiQL as a newcomer uses it: the page and all it runs come from the server itself (no
// internet), titled Story Spark, and a real browser runs a query and a live subscription with the
// token in GraphiQL's Headers tab. The browser is Debian's chromium, driven by puppeteer-core.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import puppeteer, { type Page } from "puppeteer-core";
import { backend } from "./support/databases.ts";
import { WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** Where the screenshot is kept (gitignored); .ci/run prints the path. */
const SCREENSHOT = path.join(ROOT, "test-output", "graphiql.png");

/** Debian's chromium (or another on PATH): the browser test needs one, .ci/run installs it. */
const chromium =
  process.env.CHROMIUM_PATH ??
  ["chromium", "chromium-browser"]
    .flatMap((name) => (process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, name)))
    .find((file) => fs.existsSync(file));

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe("GraphiQL's page", () => {
  it("is served whole by the server: titled Story Spark, with no script, style or icon from another host", async () => {
    const response = await fetch(server.url, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toMatch(/<title>Story Spark<\/title>/);
    expect(page).not.toMatch(/__TITLE__/);
    // any src or href with a scheme or a `//` host: the page must need nothing but itself
    const external = [...page.matchAll(/<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?((?:[a-z]+:)?\/\/[^"' >]+)/gi)]
      .map((match) => match[1]!)
      .filter((url) => !url.startsWith("data:"));
    expect(external).toEqual([]);
    expect(page).not.toMatch(/unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com/);
  });
});

const NO_CHROMIUM = "no chromium on PATH: `apt-get install chromium` (.ci/run installs it), or set CHROMIUM_PATH";

// one pass is enough: it runs in the PGlite pass
describe.runIf(backend === "pglite")("GraphiQL in a browser with no internet", () => {
  it("runs a query, then a subscription signed in by the token in its Headers tab that shows a change made meanwhile; keeps a screenshot", async (context) => {
    if (!chromium) {
      // the reporter lists a skipped test without its note: say it where it shows
      console.warn(`skipped: ${NO_CHROMIUM}`);
      context.skip(NO_CHROMIUM);
    }

    const { token } = await signUpWriter(server, "ada");
    const storyId = await createStory(server, token);
    const origin = new URL(server.url).origin;
    const browser = await puppeteer.launch({
      executablePath: chromium!,
      headless: true,
      args: [
        // a root user (CI) can't have chromium's sandbox
        ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
        "--disable-dev-shm-usage",
        // no internet: every host but this machine goes through a proxy that isn't there
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 900 });
      const elsewhere = await refuseOtherHosts(page, origin);
      const sockets: string[] = [];
      const devtools = await page.createCDPSession();
      await devtools.send("Network.enable");
      devtools.on("Network.webSocketCreated", (event) => sockets.push(event.url));
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));

      await page.goto(server.url, { waitUntil: "load" });
      await page.waitForSelector(`${QUERY_EDITOR} .monaco-editor`, { timeout: 60_000 });
      expect(await page.title()).toBe("Story Spark");

      // the token in the Headers tab, as the README says
      await page.click('.graphiql-editor-tools button[data-name="headers"]');
      await replaceText(page, HEADERS_EDITOR, JSON.stringify({ Authorization: `Bearer ${token}` }));

      await replaceText(page, QUERY_EDITOR, "{ viewer { username } }");
      await page.click(".graphiql-execute-button");
      expect(await resultWhen(page, (result) => result.data !== undefined)).toEqual({ data: { viewer: { username: "ada" } } });

      await replaceText(page, QUERY_EDITOR, `subscription { storyEvents(storyId: "${storyId}", after: 0) { seq type } }`);
      await page.click(".graphiql-execute-button");
      expect(await resultWhen(page, (result) => result.data !== undefined || result.errors !== undefined)).toEqual({
        data: { storyEvents: { seq: 1, type: "StoryCreated" } },
      });
      expect(server.app.live.size).toBe(1);

      await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "A keeper hears the sea." } } }, token);
      expect(await resultWhen(page, (result) => JSON.stringify(result).includes("ModuleWritten"))).toEqual({
        data: { storyEvents: { seq: 2, type: "ModuleWritten" } },
      });

      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT as `${string}.png` });
      await context.annotate(`screenshot: ${path.relative(ROOT, SCREENSHOT)}`);

      expect(elsewhere).toEqual([]);
      expect(sockets).toEqual([`${origin.replace(/^http/, "ws")}/graphql`]);
      expect(pageErrors).toEqual([]);

      // GraphiQL's stop button ends the subscription on the server
      await page.click(".graphiql-execute-button");
      await eventually(() => server.app.live.size === 0, 5_000, "the subscription ended");
    } finally {
      await browser.close();
    }
  });
});

const QUERY_EDITOR = "section.graphiql-query-editor";
const HEADERS_EDITOR = 'section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)';
const RESULT = "section.result-window";

/** Lets the page reach its own server (and its data: and blob: URLs) only; returns what it tried elsewhere. */
async function refuseOtherHosts(page: Page, origin: string): Promise<string[]> {
  const refused: string[] = [];
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = request.url();
    if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith(`blob:${origin}/`)) void request.continue();
    else {
      refused.push(url);
      void request.abort("internetdisconnected");
    }
  });
  return refused;
}

/** Types into one of GraphiQL's editors, as a person does: click, select all, type. */
async function replaceText(page: Page, editor: string, text: string): Promise<void> {
  await page.click(`${editor} .view-lines`);
  await page.keyboard.down("Control");
  await page.keyboard.press("a");
  await page.keyboard.up("Control");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(text);
  // the editor closes brackets and quotes itself: what it holds must be exactly what was typed
  // (it renders on the next animation frames: under load the last keystrokes show a moment later)
  let shown = await editorText(page, editor);
  for (const deadline = Date.now() + 5_000; shown !== text && Date.now() < deadline; shown = await editorText(page, editor)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(shown).toBe(text);
  await page.keyboard.press("Home"); // the screenshot shows where the line starts
}

async function editorText(page: Page, editor: string): Promise<string> {
  const text = await page.$eval(`${editor} .view-lines`, (lines) => (lines as HTMLElement).innerText);
  return text.replace(/\u00a0/g, " ");
}

type Result = { data?: unknown; errors?: unknown };

/** The result pane's JSON once it satisfies `ready`. */
async function resultWhen(page: Page, ready: (result: Result) => boolean, timeoutMs = 15_000): Promise<Result> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await editorText(page, RESULT);
    try {
      const result = JSON.parse(last) as Result;
      if (ready(result)) return result;
    } catch {
      // not whole yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the result pane never got there; it shows: ${last}`);
}

async function eventually(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

