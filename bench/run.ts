// `npm run bench`: every scenario, each in its own process (`npm run bench -- append` for one).
import { spawnSync } from "node:child_process";
import { ROOT } from "./lib.ts";

const SCENARIOS = ["fold", "append", "storyPage", "rebuild", "fanout", "storage", "embedded", "abuse", "catchup", "chaos", "peer", "memory"];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : SCENARIOS;
let failed = 0;
for (const scenario of chosen) {
  if (!SCENARIOS.includes(scenario)) {
    console.error(`unknown scenario ${scenario}; one of ${SCENARIOS.join(", ")}`);
    process.exit(2);
  }
  console.error(`\n== ${scenario}`);
  const result = spawnSync(process.execPath, ["--experimental-strip-types", `bench/${scenario}.ts`], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) failed++;
}
console.error(failed === 0 ? "\nall scenarios ran; results appended to bench/RESULTS.md" : `\n${failed} scenario(s) failed`);
process.exit(failed === 0 ? 0 : 1);
