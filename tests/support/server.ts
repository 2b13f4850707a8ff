import { copyFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { freePort, root, snapshotBuild, spawnNode, waitForHealth, waitForLine, type Proc } from "./processes";
import { SESSION_SECRET, PREVIOUS_SESSION_SECRET, WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET } from "./test-env";

/**
 * Starts real processes for tests and benchmarks: the built app (`npm
 * start`'s server.js) and the Stripe emulator, on free loopback ports, with
 * the harness of processes.ts.
 */

export { freePort, snapshotBuild, type Proc };

/** A fresh database file: a copy of the migrated base when one is given. */
export function tempDatabase(base?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "shop-db-"));
  const file = path.join(dir, "app.db");
  if (base && existsSync(base)) copyFileSync(base, file);
  return file;
}

export const BUILT_SERVER_ENV = {
  NODE_ENV: "production" as const,
  STRIPE_SECRET_KEY: "sk_test_shop_tests_only",
  STRIPE_WEBHOOK_SECRET: `${WEBHOOK_SECRET},${PREVIOUS_WEBHOOK_SECRET}`,
  SESSION_SECRET: `${SESSION_SECRET},${PREVIOUS_SESSION_SECRET}`,
  STRIPE_TIMEOUT_MS: "1500",
  // No job worker (it would need MAIL_URL in production); tests/integration/jobs-mail.test.ts runs one.
  WORKER: "off",
  STRIPE_LOOKUP_INTERVAL_MS: "0",
};

/** The environment of the built app answering at `url`. */
export function builtServerEnv({
  url,
  databasePath,
  stripeApiBase,
}: {
  url: string;
  databasePath: string;
  stripeApiBase: string;
}) {
  return {
    ...BUILT_SERVER_ENV,
    APP_ORIGIN: url,
    PORT: new URL(url).port,
    DATABASE_PATH: databasePath,
    STRIPE_API_BASE: stripeApiBase,
  };
}

/**
 * Starts `node server.js` (the build must exist: `npm test` builds first).
 * `appDir`: where server.js and build/ are, when not the repository (a
 * snapshot of the build, see snapshotBuild); the working directory stays the
 * repository's (db/migrations). `port`: a port picked beforehand.
 * `nodeArgs`, `keepLines`: for the benchmarks (profiling, bounded output).
 */
export async function startBuiltServer({
  stripeApiBase,
  databasePath = tempDatabase(),
  env = {},
  appDir = root,
  port: chosenPort,
  nodeArgs = [],
  keepLines,
}: {
  stripeApiBase: string;
  databasePath?: string;
  env?: Record<string, string>;
  appDir?: string;
  port?: number;
  nodeArgs?: string[];
  keepLines?: number;
}): Promise<Proc & { databasePath: string; databaseUrl?: string }> {
  if (!existsSync(path.join(appDir, "build/server/index.js"))) {
    throw new Error("No build: run `npx remix vite:build` (npm test does) before the built-server tests.");
  }
  const port = chosenPort ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  // On the PostgreSQL run each server gets a fresh database, as it gets a fresh file on SQLite.
  const databaseUrl = env.DATABASE_URL ?? (process.env.TEST_PG_TEMPLATE ? await postgresDatabase() : undefined);
  const proc = spawnNode(
    "the built server",
    [...startNodeOptions(appDir), ...nodeArgs, path.join(appDir, "server.js")],
    {
      env: {
        ...builtServerEnv({ url, databasePath, stripeApiBase }),
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
        ...env,
      },
      keepLines,
    },
  );
  Object.assign(proc, { url, port });
  await waitForHealth(proc);
  return Object.assign(proc, { databasePath, databaseUrl });
}

/**
 * The Node options `npm start` gives server.js (package.json's `start` script: what is between
 * `node` and `./server.js`), so that the tests and the benchmarks run the server as it ships.
 */
export function startNodeOptions(appDir = root): string[] {
  const pkg = JSON.parse(readFileSync(path.join(appDir, "package.json"), "utf8")) as { scripts?: { start?: string } };
  const between = /\bnode\s+(.*?)\s*\.\/server\.js\b/.exec(pkg.scripts?.start ?? "");
  if (!between) throw new Error(`package.json's start script does not run node ./server.js: ${pkg.scripts?.start}`);
  return between[1]!.split(/\s+/).filter(Boolean);
}

/** A new database copied from the PostgreSQL run's template (dropped with it at the end of the run). */
async function postgresDatabase() {
  const { createDatabaseFromTemplate } = await import("./pg-databases");
  return createDatabaseFromTemplate();
}

/** Starts the Stripe emulator as its own process (stripe-emulator/main.ts). */
export async function startEmulatorProcess({
  webhookUrl,
  webhookSecret = WEBHOOK_SECRET,
  env = {},
}: {
  webhookUrl?: string;
  webhookSecret?: string;
  env?: Record<string, string>;
} = {}): Promise<Proc> {
  const proc = spawnNode("the Stripe emulator", ["--import", "tsx", path.join(root, "stripe-emulator/main.ts")], {
    env: {
      NODE_ENV: "development",
      EMULATOR_PORT: "0",
      EMULATOR_RETRY_BASE_MS: "200",
      ...(webhookUrl ? { EMULATOR_WEBHOOK_URL: webhookUrl, EMULATOR_WEBHOOK_SECRET: webhookSecret } : {}),
      ...env,
    },
  });
  proc.url = await waitForLine(proc, "stripe-emulator listening on ");
  proc.port = Number(new URL(proc.url).port);
  return proc;
}
