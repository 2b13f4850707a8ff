import { readdirSync, rmSync } from "node:fs";
import path from "node:path";

import { emulatorControl } from "../../support/emulator";
import { freePort, type Proc, root, spawnNode, waitForHealth, waitUntil } from "../../support/processes";
import { BUILT_SERVER_ENV, startEmulatorProcess, tempDatabase } from "../../support/server";
import { WEBHOOK_SECRET } from "../../support/test-env";
import type { Shop } from "./shop";

/**
 * The shop as `npm run dev` runs it (`remix vite:dev`: NODE_ENV=development,
 * the job worker in the same process, no MAIL_URL so each mail is written to
 * data/mail/ beside the database and listed at /dev/mail), with the Stripe
 * emulator as its own process like the built-server tests. The mail page is
 * development-only (404 with NODE_ENV=production), so this is the one honest
 * way to see it; the built server keeps WORKER=off and its production gate.
 * Keys are given explicitly, so the dev plugin starts no emulator of its own.
 * `--force` empties Vite's dependency cache first, so every run sees what a
 * newcomer's first `npm run dev` does.
 */
export type DevShop = Pick<Shop, "url" | "emulator" | "stripe" | "reset" | "tail" | "stop"> & {
  server: Proc & { databasePath: string };
  /** The files the folder mailer wrote (data/mail/ beside this server's database). */
  mailFiles(): string[];
};

export async function startDevShop(): Promise<DevShop> {
  const emulator = await startEmulatorProcess();
  const databasePath = tempDatabase();
  const mailDir = path.join(path.dirname(databasePath), "mail");
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = spawnNode(
      "npm run dev",
      [
        path.join(root, "node_modules/@remix-run/dev/dist/cli.js"),
        "vite:dev",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        // Vite's dependency optimizer starts cold, as on a fresh clone: its first-load behaviour is what is tested.
        "--force",
      ],
      {
        env: {
          NODE_ENV: "development",
          STRIPE_SECRET_KEY: BUILT_SERVER_ENV.STRIPE_SECRET_KEY,
          STRIPE_WEBHOOK_SECRET: BUILT_SERVER_ENV.STRIPE_WEBHOOK_SECRET,
          SESSION_SECRET: BUILT_SERVER_ENV.SESSION_SECRET,
          STRIPE_TIMEOUT_MS: BUILT_SERVER_ENV.STRIPE_TIMEOUT_MS,
          STRIPE_LOOKUP_INTERVAL_MS: BUILT_SERVER_ENV.STRIPE_LOOKUP_INTERVAL_MS,
          STRIPE_API_BASE: emulator.url,
          APP_ORIGIN: url,
          DATABASE_PATH: databasePath,
        },
      },
    );
    Object.assign(server, { url, port, databasePath });
    const dev = server as DevShop["server"];
    try {
      // Vite compiles on the first request: give a loaded machine time.
      await waitForHealth(dev, 90_000);
      // `npm run dev` starts the worker once it listens (vite.config.ts, shop:dev-jobs).
      await waitUntil(dev, () => dev.output.some((line) => line.includes("job worker started")));
    } catch (error: unknown) {
      await dev.stop();
      throw error;
    }
    const stripe = emulatorControl(emulator.url);
    await stripe.setWebhook(`${url}/stripe/webhook`, WEBHOOK_SECRET);
    return {
      url,
      emulator,
      server: dev,
      stripe,
      async reset() {
        await stripe.reset();
        await stripe.clearFaults();
      },
      mailFiles() {
        try {
          return readdirSync(mailDir);
        } catch {
          return [];
        }
      },
      tail(lines = 40) {
        return [
          "--- dev server output ---",
          ...dev.output.slice(-lines),
          "--- emulator output ---",
          ...emulator.output.slice(-lines),
        ].join("\n");
      },
      async stop() {
        await dev.stop();
        await emulator.stop();
        rmSync(path.dirname(databasePath), { recursive: true, force: true });
      },
    };
  } catch (error: unknown) {
    await emulator.stop();
    rmSync(path.dirname(databasePath), { recursive: true, force: true });
    throw error;
  }
}
