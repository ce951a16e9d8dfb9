// Scenario "embedded": the append and story-page scenarios on PGlite, against the same on PostgreSQL.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { measureAppend } from "./append.ts";
import { createBenchDatabase, fmt, report } from "./lib.ts";
import { measureStoryPage } from "./storyPage.ts";

async function onPglite<T>(measure: (env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-bench-"));
  try {
    return await measure({ DATA_DIR: dataDir, DATABASE_URL: "" });
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function onPostgres<T>(label: string, measure: (env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  const database = await createBenchDatabase(label);
  try {
    return await measure({ DATABASE_URL: database.url });
  } finally {
    await database.drop();
  }
}

async function main() {
  const appendPg = await onPostgres("embedded_append", measureAppend);
  const appendLite = await onPglite(measureAppend);
  const pagePg = await onPostgres("embedded_page", measureStoryPage);
  const pageLite = await onPglite(measureStoryPage);
  await report(
    "embedded",
    "The append and story-page scenarios on embedded PGlite (one process, one connection), against the same on PostgreSQL in the same run.",
    [
      { metric: "append: events/s", value: fmt.n(appendLite.perSecond), baseline: `${fmt.n(appendPg.perSecond)} on PostgreSQL`, ratio: fmt.pct(appendLite.perSecond / appendPg.perSecond) },
      { metric: "append: p50 / p99", value: `${fmt.ms(appendLite.p50)} / ${fmt.ms(appendLite.p99)}`, baseline: `${fmt.ms(appendPg.p50)} / ${fmt.ms(appendPg.p99)}` },
      { metric: "story page: req/s", value: fmt.n(pageLite.page.perSecond), baseline: `${fmt.n(pagePg.page.perSecond)} on PostgreSQL`, ratio: fmt.pct(pageLite.page.perSecond / pagePg.page.perSecond) },
      { metric: "story page: p50 / p99", value: `${fmt.ms(pageLite.page.p50)} / ${fmt.ms(pageLite.page.p99)}`, baseline: `${fmt.ms(pagePg.page.p50)} / ${fmt.ms(pagePg.page.p99)}` },
      { metric: "memory (server RSS at the end, PGlite)", value: `${fmt.mb(appendLite.rssMb)} append, ${fmt.mb(pageLite.rssMb)} page`, target: "≤ 300 MB", met: Math.max(appendLite.rssMb, pageLite.rssMb) <= 300 },
    ],
  );
}

await main();
