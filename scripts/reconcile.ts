// `npm run stripe:reconcile`: replays the Stripe events the webhook missed and
// asks Stripe about checkouts that should have moved on (app/lib/reconcile.server.ts).
// The report goes to stdout; progress and log lines go to stderr.
import { format } from "node:util";

import { exit, loadApp, parseOptions, whenStripeIsDown, whichStripe } from "./lib/cli";

const USAGE = `Usage: npm run stripe:reconcile -- [options]

Lists the Stripe events the webhook handles, since the last checkpoint (or --since), applies
the ones not yet recorded, and asks Stripe about checkouts still open past their expiry or
completed but unpaid for too long. Safe to run any time: nothing is applied twice.

Options:
  --since <when>          list events from this time: an ISO date or time (2025-06-01,
                          2025-06-01T12:00:00Z), unix seconds, or an age (90m, 36h, 7d);
                          Stripe keeps events for 30 days, so at most 30 days back
  --dry-run               change nothing; report what is new and what would be corrected
  --wait                  wait for a run in progress to finish instead of exiting with 3
  --wait-timeout <age>    how long --wait waits (default 15m)
  --overlap <age>         how far before the checkpoint to list again (default 5m)
  --unpaid-after <age>    ask about completed but unpaid checkouts older than this (default 3d)
  -h, --help              show this text

Exit codes: 0 done; 1 Stripe could not be reached, or an event or checkout failed (the next
run picks up the rest); 2 bad arguments or configuration; 3 another run holds the lock.`;

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `36h`, `7d`, `30s` as milliseconds, or null. */
function parseAge(text: string): number | null {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  return match ? Number(match[1]) * UNITS[match[2]!]! : null;
}

/** An ISO date or time, unix seconds, or an age before now, as unix seconds; or null. */
function parseWhen(text: string, nowMs = Date.now()): number | null {
  const value = text.trim();
  const age = parseAge(value);
  if (age !== null) return Math.floor((nowMs - age) / 1000);
  if (/^\d{9,11}$/.test(value)) return Number(value);
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

const values = parseOptions(USAGE, {
  since: { type: "string" },
  "dry-run": { type: "boolean" },
  wait: { type: "boolean" },
  "wait-timeout": { type: "string" },
  overlap: { type: "string" },
  "unpaid-after": { type: "string" },
  help: { type: "boolean", short: "h" },
});

function bad(message: string): never {
  exit(2, `${message}\n\nRun with --help for the options.`);
}
function age(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseAge(text);
  if (ms === null) bad(`--${name} must be an age such as 90s, 5m, 36h or 3d, not "${text}"`);
  return ms;
}

let since: number | undefined;
if (values.since !== undefined) {
  const parsed = parseWhen(values.since);
  if (parsed === null) {
    bad(
      `--since must be an ISO date or time (2025-06-01, 2025-06-01T12:00:00Z), unix seconds or an age (36h, 7d), not "${values.since}"`,
    );
  }
  if (parsed > Date.now() / 1000) bad(`--since is in the future: ${values.since}`);
  since = parsed;
}
if (values["wait-timeout"] !== undefined && !values.wait) bad("--wait-timeout only makes sense with --wait");
const waitForLockMs = values.wait ? age("wait-timeout", values["wait-timeout"], 15 * 60_000) : 0;
const overlapSeconds = Math.floor(age("overlap", values.overlap, 5 * 60_000) / 1000);
const unpaidAfterMs = age("unpaid-after", values["unpaid-after"], 3 * 86_400_000);
const dryRun = values["dry-run"] ?? false;

// The state machine's log lines ("fulfilled ...") go to stderr with the progress.
console.log = console.info = (...args: unknown[]) => void process.stderr.write(`${format(...args)}\n`);

const app = await loadApp("reconcile", () => import("~/lib/reconcile.server"));
const { config } = await import("~/lib/config.server");
// Log lines (JSON in production) beside the progress on stderr; stdout holds the report only.
(await import("~/lib/logger.server")).logToStderr();
process.stderr.write(`reconcile: asking ${whichStripe(config)}${dryRun ? " (dry run: nothing is written)" : ""}\n`);

const PHASES = {
  listing: "listing events",
  applying: "applying events",
  checkouts: "checking checkouts",
  refunds: "checking pending refunds",
} as const;
let lastProgress = Date.now();
const onProgress = ({ phase, done, total }: { phase: keyof typeof PHASES; done: number; total: number | null }) => {
  if (Date.now() - lastProgress < 2_000) return;
  lastProgress = Date.now();
  process.stderr.write(`reconcile: ${PHASES[phase]}: ${done}${total === null ? " so far" : ` of ${total}`}\n`);
};

const print = (lines: string[]) => process.stdout.write(`${lines.join("\n")}\n`);

let code = 0;
try {
  if (waitForLockMs > 0) process.stderr.write("reconcile: waiting for the lock if another run holds it\n");
  const report = await app.reconcile({ since, dryRun, waitForLockMs, overlapSeconds, unpaidAfterMs, onProgress });
  print(app.formatReport(report));
  if (!report.ok) {
    process.stderr.write("reconcile: some events or checkouts failed (see above); the next run tries them again\n");
    code = 1;
  }
} catch (error: unknown) {
  if (error instanceof app.LockHeldError) {
    process.stderr.write(
      `reconcile: ${error.message}\nNothing was done. Run again later, or with --wait to wait for it.\n`,
    );
    code = 3;
  } else if (error instanceof app.ReconcileError) {
    // A dry run's summary would read as what Stripe holds; after a failure it is not.
    if (!dryRun) print(app.formatReport(error.report));
    process.stderr.write(
      `reconcile failed: ${error.message}\n${dryRun ? "Nothing was written." : "What was applied stays applied; run again when Stripe answers and it picks up the rest."}\n${whenStripeIsDown(config)}\n`,
    );
    code = 1;
  } else {
    process.stderr.write(
      `reconcile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    code = 1;
  }
}
const { closeDatabase } = await import("~/lib/db.server");
await closeDatabase();
process.exit(code);
