// Scenario "storage": a story whose Wordsmith Lab output is 50 KB, edited 1,000 times
// (one field each time) through the command path; bytes on disk in all, and per table.
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
    const tables = ["story_events", "story_versions", "story_contents", "stories", "story_modules"] as const;
    await client.query(`VACUUM (ANALYZE) ${tables.join(", ")}`);

    const size = async (table: string) => Number((await client.query(`SELECT pg_total_relation_size($1::regclass) AS bytes`, [table])).rows[0].bytes);
    const count = async (table: string) => Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    const sizes = Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await size(table)] as const))) as Record<(typeof tables)[number], number>;
    // story_modules holds the current content, rewritten by each edit: what VACUUM frees is reused
    // by the next edits (with autovacuum in steady state), and VACUUM FULL gives the live size
    await client.query("VACUUM FULL story_modules");
    const liveModules = await size("story_modules");
    const history = sizes.story_events + sizes.story_versions + sizes.story_contents;
    const inAll = history + sizes.stories + liveModules;
    const versions = await count("story_versions");
    const events = await count("story_events");
    const snapshot = (await client.query(
      `SELECT octet_length(full_snapshot::text) AS text_bytes FROM story_version_snapshots WHERE story_id = $1 ORDER BY version_number DESC LIMIT 1`,
      [storyId],
    )).rows[0] as { text_bytes: number };
    const TARGET_BYTES = 2 * 2 ** 20;
    const mib = (bytes: number) => `${fmt.n(bytes / 2 ** 20, 2)} MiB`;
    await report(
      "storage",
      `A story whose Wordsmith Lab output is 50 KB of prose, edited ${fmt.n(EDITS)} times (one field each time) through the command path, on PostgreSQL; sizes after VACUUM: table + TOAST + indexes (pg_total_relation_size). Baseline: 28.5 MiB, the same edits when every version and event held the whole story.`,
      [
        { metric: "in all: log, versions, content, story and module rows", value: mib(inAll), baseline: "28.5 MiB", ratio: fmt.pct(inAll / (28.5 * 2 ** 20)), target: "≤ 2 MiB", met: inAll <= TARGET_BYTES },
        { metric: "story_events (per event)", value: `${mib(sizes.story_events)} (${fmt.n(sizes.story_events / events)} B)` },
        { metric: "story_versions (per version)", value: `${mib(sizes.story_versions)} (${fmt.n(sizes.story_versions / versions)} B)` },
        { metric: "story_contents", value: `${mib(sizes.story_contents)} (${fmt.n(await count("story_contents"))} values)` },
        { metric: "story_modules after VACUUM / live (VACUUM FULL)", value: `${mib(sizes.story_modules)} / ${mib(liveModules)}` },
        { metric: "one snapshot as JSON", value: `${fmt.n(snapshot.text_bytes)} B` },
        { metric: "versions / events", value: `${fmt.n(versions)} / ${fmt.n(events)}` },
        { metric: "edits/s through the command path (sequential)", value: fmt.n(EDITS / editSeconds) },
        { metric: "memory (bench process RSS)", value: fmt.mb(process.memoryUsage().rss / 2 ** 20) },
      ],
      [
        "Module content is stored once per story, one row per top-level field under its content hash (story_contents); versions and ModuleWritten events keep the hashes. An edit of `notes` stores the new notes, a version row of references and an event of references.",
        "story_modules keeps each module's current content whole (the data model's output_text): every edit rewrites that row, and the space of the rows it replaced is free for the next edits once vacuumed; the live size is what it holds.",
      ],
    );
  } finally {
    await client.end();
    await db.close();
    await database.drop();
  }
}

await main();
