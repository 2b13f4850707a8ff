import { startEmulator } from "./server";

/**
 * The emulator as a process: `node --import tsx stripe-emulator/main.ts`
 * (or `npm run emulator`). Configured from the environment; prints one line,
 * `stripe-emulator listening on http://127.0.0.1:PORT`, once it listens, and
 * stops cleanly on SIGTERM or SIGINT.
 */

function fail(message: string): never {
  process.stderr.write(`stripe-emulator: ${message}\n`);
  process.exit(1);
}

function integer(name: string, fallback: number | undefined, min: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, not "${raw}"`);
  return value;
}

const env = (name: string) => {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
};

const port = integer("EMULATOR_PORT", 12111, 0)!;
if (port > 65535) fail(`EMULATOR_PORT must be a port number, not ${port}`);
const webhookUrl = env("EMULATOR_WEBHOOK_URL");
const webhookSecret = env("EMULATOR_WEBHOOK_SECRET");
if (webhookUrl) {
  try {
    new URL(webhookUrl);
  } catch {
    fail(`EMULATOR_WEBHOOK_URL must be an absolute URL, not "${webhookUrl}"`);
  }
  if (!webhookSecret)
    fail("EMULATOR_WEBHOOK_SECRET is required with EMULATOR_WEBHOOK_URL (the whsec_... the app verifies with)");
}

const emulator = await startEmulator({
  port,
  host: env("EMULATOR_HOST"),
  catalogPath: env("EMULATOR_CATALOG_PATH"),
  webhookUrl,
  webhookSecret,
  retryBaseMs: integer("EMULATOR_RETRY_BASE_MS", undefined, 0),
  maxAttempts: integer("EMULATOR_MAX_ATTEMPTS", undefined, 1),
  quiet: env("EMULATOR_QUIET") === "1",
  verbose: env("EMULATOR_VERBOSE") === "1",
}).catch((error: unknown) => fail((error as Error).message));

process.stdout.write(`stripe-emulator listening on ${emulator.url}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  emulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
