// The command-line scripts' shared preamble: options, exit codes, and which
// Stripe they talk to (said before anything is asked, and again on failure).
import { type ParseArgsConfig, parseArgs } from "node:util";

import type { Config } from "~/lib/config.server";

export function exit(code: number, message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** Parses the options (exit 2 with the usage on a bad one; --help prints it and exits 0). */
export function parseOptions<T extends NonNullable<ParseArgsConfig["options"]>>(usage: string, options: T) {
  let parsed: ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>;
  try {
    parsed = parseArgs({ options, strict: true, allowPositionals: false });
  } catch (error: unknown) {
    exit(2, `${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed.values;
}

/** Imports the app's module; a bad configuration is a bad argument (exit 2), anything else exit 1. */
export async function loadApp<M>(name: string, load: () => Promise<M>): Promise<M> {
  try {
    return await load();
  } catch (error: unknown) {
    if (error instanceof Error && (error.name === "ConfigError" || error.name === "CatalogFileError")) {
      exit(2, error.message);
    }
    exit(1, `${name} could not start: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** "the local emulator at http://127.0.0.1:12111", "Stripe (test mode)"... */
export function whichStripe(config: Config): string {
  const { apiBase, emulated, livemode } = config.stripe;
  if (emulated && apiBase) return `the local Stripe emulator at ${apiBase.origin}`;
  if (apiBase) return `the Stripe API at ${apiBase.origin} (STRIPE_API_BASE)`;
  return `Stripe (${livemode ? "live" : "test"} mode)`;
}

/** What to do when that Stripe did not answer. */
export function whenStripeIsDown(config: Config): string {
  const { apiBase, emulated } = config.stripe;
  if (emulated && apiBase) {
    return `Is the emulator running? Start it with \`npm run emulator\` (or \`npm run dev\`, which starts it), or set STRIPE_SECRET_KEY to use Stripe.`;
  }
  if (apiBase) return `Is something listening at ${apiBase.origin}? Unset STRIPE_API_BASE to use Stripe itself.`;
  return "Check the network and https://status.stripe.com, then run again.";
}
