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
// The integration tests run a second time on PostgreSQL when a server is named.
const pgUrl = process.env.TEST_DATABASE_URL;
const pgNotice = pgUrl
  ? null
  : "The PostgreSQL tests (integration-pg) did not run: TEST_DATABASE_URL is not set. " +
    "Point it at a PostgreSQL 15 server, e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test.";
if (pgNotice) console.warn(`\n${pgNotice}\n`);

/** One vitest run of some projects, read back from its JSON report. */
function vitestRun(selected, file) {
  rmSync(file, { force: true });
  console.log(`\n> Tests: vitest projects ${selected.join(", ")}`);
  const result = run([
    path.join(root, "node_modules/vitest/vitest.mjs"),
    "run",
    ...selected.flatMap((p) => ["--project", p]),
    "--passWithNoTests",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${file}`,
    ...process.argv.slice(2),
  ]);
  const counts = { passed: 0, failed: 0, skipped: 0, skippedNames: [], integration: { passed: 0, failed: 0 } };
  if (existsSync(file)) {
    const results = JSON.parse(readFileSync(file, "utf8"));
    counts.passed = results.numPassedTests;
    counts.failed = results.numFailedTests;
    counts.skipped = results.numPendingTests + results.numTodoTests;
    for (const suite of results.testResults) {
      if (!suite.name.includes(`${path.sep}tests${path.sep}integration${path.sep}`)) continue;
      for (const test of suite.assertionResults) {
        if (test.status === "skipped" || test.status === "pending" || test.status === "todo") {
          counts.skippedNames.push(`${path.relative(root, suite.name)} > ${test.fullName}`);
        }
        if (test.status === "passed") counts.integration.passed++;
        else if (test.status === "failed") counts.integration.failed++;
      }
      // A file that failed to load has no failed test but is a failure all the same.
      if (suite.status === "failed" && suite.assertionResults.every((t) => t.status !== "failed")) {
        counts.integration.failed++;
      }
    }
    if (result.status !== 0 && counts.failed === 0) counts.failed = Math.max(1, results.numFailedTestSuites);
  } else if (result.status !== 0) {
    counts.failed = 1;
  }
  return { ...counts, status: result.status };
}

const main = vitestRun(projects, resultsFile);
const runs = [main];
const perDatabase = [`integration on SQLite: ${main.integration.passed} passed, ${main.integration.failed} failed`];
if (pgUrl) {
  const pg = vitestRun(["integration-pg"], path.join(cacheDir, "vitest-results-pg.json"));
  runs.push(pg);
  perDatabase.push(`integration on PostgreSQL: ${pg.integration.passed} passed, ${pg.integration.failed} failed`);
} else {
  perDatabase.push("integration on PostgreSQL: not run (TEST_DATABASE_URL is not set)");
}

const passed = runs.reduce((n, r) => n + r.passed, 0);
const failed = runs.reduce((n, r) => n + r.failed, 0);
const skipped = runs.reduce((n, r) => n + r.skipped, 0);
const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`;
writeFileSync(summaryFile, `${line}\n`);
if (skippingBrowsers) console.warn(`\n${skipNotice}`);
if (pgNotice) console.warn(`\n${pgNotice}`);
for (const [label, run] of [
  ["SQLite", main],
  ["PostgreSQL", runs[1]],
]) {
  if (!run || run.skippedNames.length === 0) continue;
  console.log(`\nSkipped on ${label} (the reason is in each title):\n  ${run.skippedNames.join("\n  ")}`);
}
console.log(`\n${perDatabase.join("\n")}`);
console.log(`\n${line}`);
process.exit(failed > 0 || runs.some((r) => r.status !== 0) || passed === 0 ? 1 : 0);
