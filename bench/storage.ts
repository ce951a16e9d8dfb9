// Scenario "storage": a story whose Wordsmith Lab output is 50 KB, edited 1,000 times
// (one field each time) through the command path; bytes on disk per version.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { executeStoryCommand, newStoryIds } from "../src/commands/storyCommands.ts";
import { openDatabase } from "../src/database/connect.ts";
import { createBenchDatabase, fmt, report } from "./lib.ts";
import { random } from "./synthetic.ts";

const EDITS = 1_000;
const WORDS = "the sea lamp keeper island tide storm brother grief bargain salt rope harbour light night wave stone door letter boat mother ledger promise drowned quiet cold iron gull".split(" ");

/** About 50 KB of prose-like text that does not compress to nothing. */
function prose(next: () => number, bytes: number): string {
  let text = "";
  while (text.length < bytes) {
    const length = 6 + Math.floor(next() * 14);
    const sentence = Array.from({ length }, () => WORDS[Math.floor(next() * WORDS.length)]).join(" ");
    text += `${sentence[0]!.toUpperCase()}${sentence.slice(1)}${next() < 0.2 ? ".\n\n" : ". "}`;
  }
  return text.slice(0, bytes);
}

async function main() {
  const database = await createBenchDatabase("storage");
  const db = await openDatabase({ databaseUrl: database.url, dataDir: "/tmp" });
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const owner = await db.prisma.user.create({ data: { email: "storage@bench.example", username: "storage", passwordHash: "-" } });
    const { storyId, versionId, moduleIds } = newStoryIds();
    await executeStoryCommand(db, {
      storyId,
      actorId: owner.id,
      command: { type: "CreateStory", ownerId: owner.id, title: "Fifty kilobytes", logline: null, genre: null, versionId, moduleIds },
    });
    const next = random(50);
    const output = { prose: prose(next, 50 * 1024), style: "close third, past tense", notes: "" };
    const started = performance.now();
    for (let i = 0; i < EDITS; i++) {
      output.notes = `revision ${i}: ${WORDS[i % WORDS.length]}`; // one field changes each time
      await executeStoryCommand(db, {
        storyId,
        actorId: owner.id,
        command: { type: "WriteModule", module: "WORDSMITH_LAB", output, versionId: randomUUID() },
      });
    }
    const editSeconds = (performance.now() - started) / 1000;
    await client.query("VACUUM (ANALYZE) story_versions, story_events, story_modules, stories");

    const size = async (table: string) => Number((await client.query(`SELECT pg_total_relation_size($1::regclass) AS bytes`, [table])).rows[0].bytes);
    const versions = Number((await client.query("SELECT count(*) AS n FROM story_versions")).rows[0].n);
    const events = Number((await client.query("SELECT count(*) AS n FROM story_events")).rows[0].n);
    const versionBytes = await size("story_versions");
    const eventBytes = await size("story_events");
    const snapshot = (await client.query(
      `SELECT octet_length(full_snapshot::text) AS text_bytes, pg_column_size(full_snapshot) AS stored_bytes
         FROM story_versions WHERE story_id = $1 ORDER BY version_number DESC LIMIT 1`,
      [storyId],
    )).rows[0] as { text_bytes: number; stored_bytes: number };
    const perVersion = versionBytes / versions;
    await report(
      "storage",
      `A story whose Wordsmith Lab output is 50 KB of prose, edited ${fmt.n(EDITS)} times (one field each time) through the command path, on PostgreSQL; sizes after VACUUM: table + TOAST + indexes (pg_total_relation_size). Baseline: the size of one snapshot.`,
      [
        { metric: "story_versions bytes per version", value: fmt.n(perVersion), baseline: `${fmt.n(snapshot.text_bytes)} B (one snapshot as JSON text)`, ratio: fmt.pct(perVersion / snapshot.text_bytes), target: "report" },
        { metric: "one snapshot as stored (jsonb, compressed)", value: `${fmt.n(snapshot.stored_bytes)} B` },
        { metric: "story_events bytes per event", value: fmt.n(eventBytes / events) },
        { metric: "versions / events", value: `${fmt.n(versions)} / ${fmt.n(events)}` },
        { metric: "total for the story", value: `${fmt.n((versionBytes + eventBytes) / 2 ** 20, 1)} MiB` },
        { metric: "edits/s through the command path (sequential)", value: fmt.n(EDITS / editSeconds) },
        { metric: "memory (bench process RSS)", value: fmt.mb(process.memoryUsage().rss / 2 ** 20) },
      ],
      [
        "Every version is a full snapshot (the data model's promise), and every ModuleWritten event carries the module's whole output: a one-field edit of a 50 KB module stores it twice more, compressed by TOAST.",
      ],
    );
  } finally {
    await client.end();
    await db.close();
    await database.drop();
  }
}

await main();
