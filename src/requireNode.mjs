// Before `npm start` and the install's Prisma step: a Node older than package.json's `engines` fails
// here in one line, naming the version needed and how to get it, not in a flag it doesn't know.
// Plain JavaScript on purpose: it must run on any Node.
import { readFileSync } from "node:fs";

const { engines } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const [, major = "0", minor = "0"] = /^>=\s*(\d+)(?:\.(\d+))?/.exec(engines.node) ?? [];
const [ourMajor, ourMinor] = process.versions.node.split(".").map(Number);

if (ourMajor < Number(major) || (ourMajor === Number(major) && ourMinor < Number(minor))) {
  // npm puts node_modules/.bin first on a script's PATH: on Linux x64 and arm64 that holds Node 24 (an optional dependency)
  console.error(
    `Story Spark needs Node.js ${major}.${minor} or newer and this is ${process.version}: install Node 24 (\`nvm install\` reads .nvmrc, or https://nodejs.org), then run \`npm install\` again.`,
  );
  process.exit(1);
}
