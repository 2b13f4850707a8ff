// `npm run stripe:sync-catalog`: brings the `products` table in line with the
// active prices and products in Stripe (app/lib/catalog-sync.server.ts).
// The changes and counts go to stdout; log lines go to stderr.
import { format, parseArgs } from "node:util";

const USAGE = `Usage: npm run stripe:sync-catalog -- [--dry-run]

Reads every active price in Stripe with its product and updates the products table: adds new
prices, updates changed names, descriptions, amounts and limits, and deactivates products whose
price is no longer active (never deletes them: past checkouts refer to them).
Product metadata may set \`slug\` (the page's URL) and \`max_quantity\` (default 1).

Options:
  --dry-run    show the changes and write nothing
  -h, --help   show this text

Exit codes: 0 done, 1 Stripe could not be reached, 2 bad arguments or configuration.`;

function exit(code: number, message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    allowPositionals: false,
    strict: true,
    options: { "dry-run": { type: "boolean" }, help: { type: "boolean", short: "h" } },
  }));
} catch (error: unknown) {
  exit(2, `${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

console.log = console.info = (...args: unknown[]) => void process.stderr.write(`${format(...args)}\n`);

let app: typeof import("~/lib/catalog-sync.server");
try {
  app = await import("~/lib/catalog-sync.server");
} catch (error: unknown) {
  if (error instanceof Error && error.name === "ConfigError") exit(2, error.message);
  exit(1, `sync-catalog could not start: ${error instanceof Error ? error.message : String(error)}`);
}

let code = 0;
try {
  const report = await app.syncCatalog({ dryRun: values["dry-run"] ?? false });
  process.stdout.write(`${app.formatSyncReport(report).join("\n")}\n`);
} catch (error: unknown) {
  process.stderr.write(
    `sync-catalog failed: ${error instanceof Error ? error.message : String(error)}\nNothing was changed.\n`,
  );
  code = 1;
}
const { closeDatabase } = await import("~/lib/db.server");
await closeDatabase();
process.exit(code);
