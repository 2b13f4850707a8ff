import { rmSync } from "node:fs";

import Database from "better-sqlite3";

import { emulatorControl, type EmulatorControl } from "../../support/emulator";
import {
  BUILT_SERVER_ENV,
  snapshotBuild,
  startBuiltServer,
  startEmulatorProcess,
  type Proc,
} from "../../support/server";
import { WEBHOOK_SECRET } from "../../support/test-env";

/**
 * The shop as `npm start` runs it (the built app) with the Stripe emulator as
 * its own process, shared by the tests of one file. The emulator starts first
 * with no webhook endpoint; once the app's port is known the control API
 * points the webhooks at it, signed with the secret the app verifies. The
 * app runs from a copy of build/, so a rebuild meanwhile (another run of
 * `npm test` in the same tree) cannot pull its assets away.
 */

export type Shop = {
  url: string;
  emulator: Proc;
  server: Proc & { databasePath: string };
  stripe: EmulatorControl;
  /** Between tests: the emulator forgets sessions, events and delivery switches (it keeps the endpoint). */
  reset(): Promise<void>;
  /** How many times the app fulfilled this checkout, from its log (`fulfilled checkout_session=<id>`). */
  fulfillments(sessionId: string): number;
  /** The checkout's stored row and the events recorded for it, read from the app's database read-only. */
  stored(sessionId: string): { checkout: CheckoutRow | undefined; eventIds: string[] };
  /** The events Stripe (the emulator) has for this checkout, newest first, as GET /v1/events lists them. */
  eventsFor(sessionId: string): Promise<{ id: string; type: string }[]>;
  /** The last lines of both processes' output, for a failing test. */
  tail(lines?: number): string;
  stop(): Promise<void>;
};

export type CheckoutRow = { id: string; status: string; payment_status: string; fulfilled_at: number | null };

/** `env`: more configuration for the shop (e.g. Checkout's options). */
export async function startShop({ env = {} }: { env?: Record<string, string> } = {}): Promise<Shop> {
  const [appDir, emulator] = await Promise.all([snapshotBuild(), startEmulatorProcess()]);
  let server: (Proc & { databasePath: string }) | undefined;
  try {
    server = await startBuiltServer({ stripeApiBase: emulator.url, appDir, env });
    const stripe = emulatorControl(emulator.url);
    await stripe.setWebhook(`${server.url}/stripe/webhook`, WEBHOOK_SECRET);
    return shop(emulator, server, stripe, appDir);
  } catch (error: unknown) {
    await server?.stop();
    await emulator.stop();
    rmSync(appDir, { recursive: true, force: true });
    throw error;
  }
}

function shop(emulator: Proc, server: Proc & { databasePath: string }, stripe: EmulatorControl, appDir: string): Shop {
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(server.databasePath, { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    url: server.url,
    emulator,
    server,
    stripe,
    async reset() {
      await stripe.reset();
      await stripe.clearFaults();
    },
    fulfillments(sessionId) {
      return server.output.filter((line) => line.includes(`fulfilled checkout_session=${sessionId} `)).length;
    },
    stored(sessionId) {
      return read((db) => ({
        checkout: db
          .prepare("SELECT id, status, payment_status, fulfilled_at FROM checkout_sessions WHERE id = ?")
          .get(sessionId) as CheckoutRow | undefined,
        eventIds: (
          db
            .prepare("SELECT id FROM stripe_events WHERE json_extract(payload, '$.data.object.id') = ? ORDER BY id")
            .all(sessionId) as { id: string }[]
        ).map((row) => row.id),
      }));
    },
    async eventsFor(sessionId) {
      const response = await fetch(`${emulator.url}/v1/events?limit=100`, {
        headers: { Authorization: `Bearer ${BUILT_SERVER_ENV.STRIPE_SECRET_KEY}` },
      });
      if (!response.ok) throw new Error(`GET /v1/events: ${response.status} ${await response.text()}`);
      const list = (await response.json()) as {
        data: { id: string; type: string; data: { object: { id?: string } } }[];
      };
      return list.data.filter((event) => event.data.object.id === sessionId).map(({ id, type }) => ({ id, type }));
    },
    tail(lines = 40) {
      return [
        "--- app output ---",
        ...server.output.slice(-lines),
        "--- emulator output ---",
        ...emulator.output.slice(-lines),
      ].join("\n");
    },
    async stop() {
      await server.stop();
      await emulator.stop();
      rmSync(appDir, { recursive: true, force: true });
    },
  };
}
