// Generates the Prisma client (src/generated/prisma) without Prisma's native engines: `prisma
// generate` never runs the schema engine, but wants its path to name an existing file.
// The client is committed, so that a production install (`npm ci --omit=dev`) needs no Prisma CLI;
// `--check` generates it into a scratch folder and fails when the committed one differs (CI).
import "../src/requireNode.mjs";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL("..", import.meta.url));
const committed = path.join(root, "src", "generated", "prisma");
const check = process.argv.includes("--check");

let cli;
try {
  cli = require.resolve("prisma-cli/build/index.js");
} catch {
  console.error("The Prisma CLI is not installed (a production install leaves it out): run `npm ci` or `npm install` first.");
  process.exit(1);
}
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;

/** Runs `prisma generate` for the schema at <dir>/prisma/schema.prisma, writing <dir>/src/generated/prisma. */
function generate(dir, stdio) {
  const result = spawnSync(process.execPath, [cli, "generate", "--schema", "prisma/schema.prisma"], { cwd: dir, env, stdio });
  if (result.status !== 0) {
    if (stdio === "pipe") process.stderr.write(result.stdout + result.stderr);
    process.exit(result.status ?? 1);
  }
}

/** Every file under dir, by its path relative to dir. */
function filesOf(dir, base = dir, files = new Map()) {
  if (!fs.existsSync(dir)) return files;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) filesOf(full, base, files);
    else files.set(path.relative(base, full), fs.readFileSync(full));
  }
  return files;
}

if (!check) {
  generate(root, "inherit");
  process.exit(0);
}

// The scratch folder sits inside the project, so that the generator resolves @prisma/client as here.
const scratch = fs.mkdtempSync(path.join(root, "node_modules", ".generate-check-"));
try {
  fs.mkdirSync(path.join(scratch, "prisma"));
  fs.copyFileSync(path.join(root, "prisma", "schema.prisma"), path.join(scratch, "prisma", "schema.prisma"));
  generate(scratch, "pipe");
  const expected = filesOf(path.join(scratch, "src", "generated", "prisma"));
  const actual = filesOf(committed);
  const stale = [...new Set([...expected.keys(), ...actual.keys()])].filter((file) => {
    const a = expected.get(file);
    const b = actual.get(file);
    return !a || !b || !a.equals(b);
  });
  if (stale.length > 0) {
    console.error(`src/generated/prisma is not what prisma/schema.prisma generates (${stale.slice(0, 5).join(", ")}${stale.length > 5 ? ", …" : ""}): run npm run generate and commit it`);
    process.exit(1);
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
