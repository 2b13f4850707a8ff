// `npm run stripe:sync-catalog`: brings the `products` table in line with the
// active prices and products in Stripe (app/lib/catalog-sync.server.ts).
// The changes and counts go to stdout; log lines go to stderr.
import { format } from "node:util";

import { loadApp, parseOptions, whenStripeIsDown, whichStripe } from "./lib/cli";

const USAGE = `Usage: npm run stripe:sync-catalog -- [--dry-run]

Reads every active price in Stripe with its product and updates the products table: adds new
prices, updates changed names, descriptions, amounts and limits, and deactivates products whose
price is no longer active (never deletes them: past checkouts refer to them).
Product metadata may set \`slug\` (the page's URL) and \`max_quantity\` (default 1).

Options:
  --dry-run    show the changes and write nothing
  -h, --help   show this text

Exit codes: 0 done, 1 Stripe could not be reached, 2 bad arguments or configuration.`;

const values = parseOptions(USAGE, { "dry-run": { type: "boolean" }, help: { type: "boolean", short: "h" } });

console.log = console.info = (...args: unknown[]) => void process.stderr.write(`${format(...args)}\n`);

const app = await loadApp("sync-catalog", () => import("~/lib/catalog-sync.server"));
const { config } = await import("~/lib/config.server");
// Log lines (JSON in production) beside the progress on stderr; stdout holds the report only.
(await import("~/lib/logger.server")).logToStderr();
process.stderr.write(`sync-catalog: reading prices from ${whichStripe(config)}\n`);

let code = 0;
try {
  const report = await app.syncCatalog({ dryRun: values["dry-run"] ?? false });
  process.stdout.write(`${app.formatSyncReport(report).join("\n")}\n`);
} catch (error: unknown) {
  process.stderr.write(
    `sync-catalog failed: ${error instanceof Error ? error.message : String(error)}\nNothing was changed. ${whenStripeIsDown(config)}\n`,
  );
  code = 1;
}
const { closeDatabase } = await import("~/lib/db.server");
await closeDatabase();
process.exit(code);
