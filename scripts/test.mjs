#!/usr/bin/env node
// `npm test`: builds the app (the built-server and browser tests run it),
// runs every vitest project, and ends with one line `N passed, N failed`.
// Extra arguments go to vitest: `npm test -- tests/integration/buy.test.ts`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const cacheDir = path.join(root, ".cache");
const resultsFile = path.join(cacheDir, "vitest-results.json");
const summaryFile = path.join(cacheDir, "test-summary.txt");
mkdirSync(cacheDir, { recursive: true });
rmSync(resultsFile, { force: true });

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const projects = ["unit", "emulator", "integration", "component"];
const skipNotice =
  `Skipped the browser tests (tests/e2e): Chromium was not found at ${chromium}. ` +
  "Install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH, then run npm test again.";
const skippingBrowsers = !existsSync(chromium);
if (!skippingBrowsers) {
  projects.push("e2e");
} else if (process.env.CI) {
  console.error(`Chromium is missing at ${chromium}: CI must run the browser tests (apt-get install -y chromium).`);
  process.exit(1);
} else {
  console.warn(`\n${skipNotice}\n`);
}

const run = (args, options = {}) => spawnSync(process.execPath, args, { cwd: root, stdio: "inherit", ...options });

/** A step before the tests: its failure ends the run with one failed count. */
function step(title, args, options) {
  console.log(`\n> ${title}`);
  const result = run(args, options);
  if (result.status === 0) return;
  console.error(`${title}: failed, see above.`);
  writeFileSync(summaryFile, "0 passed, 1 failed\n");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

step("Type check (tsc --noEmit)", [path.join(root, "node_modules/typescript/bin/tsc"), "--noEmit"]);
step("Lint and format check (biome check)", [path.join(root, "node_modules/@biomejs/biome/bin/biome"), "check", "."]);
step("Build (remix vite:build)", [path.join(root, "node_modules/@remix-run/dev/dist/cli.js"), "vite:build"], {
  stdio: ["ignore", "ignore", "inherit"],
});
console.log(`\n> Tests: vitest projects ${projects.join(", ")}`);

const vitest = run([
  path.join(root, "node_modules/vitest/vitest.mjs"),
  "run",
  ...projects.flatMap((p) => ["--project", p]),
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${resultsFile}`,
  ...process.argv.slice(2),
]);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(resultsFile)) {
  const results = JSON.parse(readFileSync(resultsFile, "utf8"));
  passed = results.numPassedTests;
  failed = results.numFailedTests;
  skipped = results.numPendingTests + results.numTodoTests;
  // A file that failed to load has no failed test but is a failure all the same.
  if (vitest.status !== 0 && failed === 0) failed = Math.max(1, results.numFailedTestSuites);
} else if (vitest.status !== 0) {
  failed = 1;
}
const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`;
writeFileSync(summaryFile, `${line}\n`);
if (skippingBrowsers) console.warn(`\n${skipNotice}`);
console.log(`\n${line}`);
process.exit(failed > 0 || vitest.status !== 0 || passed === 0 ? 1 : 0);
