import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";

import { db, schema } from "../support/db";
import { tryAcquire } from "~/lib/locks.server";
import { getCheckpoint, RECONCILE_JOB } from "~/lib/reconcile.server";

import { cleanSlate, emu, runCli, snapshot } from "./reconcile-support";
import { buy, newShopper } from "./success-support";

/**
 * `npm run stripe:reconcile` as an operator runs it: the real script in a
 * child process (node --import tsx scripts/reconcile.ts) on this file's
 * database and emulator. Its report, exit codes and what it leaves behind.
 */

const checkout = async (id: string) =>
  (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
const eventRequests = () => emu.requestsTo("GET", "/v1/events");

async function paidCheckouts(n: number) {
  const shopper = await newShopper();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = await buy("ceramic-pour-over", shopper, 1);
    await emu.pay(id);
    ids.push(id);
  }
  return ids;
}

beforeEach(cleanSlate);

// Each run starts node with tsx and loads the app: seconds apiece on a busy machine.
describe("npm run stripe:reconcile", { timeout: 60_000 }, () => {
  it("fulfills the payments the webhook missed, says what it did and exits 0; run again, it finds nothing new", async () => {
    const ids = await paidCheckouts(2);

    const first = await runCli("reconcile");
    expect(first.code).toBe(0);
    expect(first.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^events since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(30 days ago, as far back as Stripe keeps events\)$/,
      ),
      "events: 2 seen, 2 new, 2 applied, 2 fulfilled",
      "checkouts: 0 checked, 0 corrected, 0 fulfilled",
      expect.stringMatching(/^checkpoint: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    ]);
    // Log lines go to stderr, ids only.
    for (const id of ids) expect(first.stderr).toContain(`fulfilled checkout_session=${id}`);
    for (const id of ids) expect(await checkout(id)).toMatchObject({ status: "complete", paymentStatus: "paid" });
    for (const id of ids) expect((await checkout(id)).fulfilledAt).not.toBeNull();
    const checkpoint = await getCheckpoint();
    expect(checkpoint).not.toBeNull();

    const before = await snapshot();
    const second = await runCli("reconcile");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("(the checkpoint, minus the overlap)");
    expect(second.stdout).toContain("events: 2 seen, 0 new, 0 applied, 0 fulfilled");
    expect(second.stdout).toMatch(/checkpoint: \S+ \(unchanged\)/);
    // Only the checkpoint's time and the last run's record (its report) move.
    expect(await snapshot()).toEqual({ ...before, job_checkpoints: expect.anything(), job_runs: expect.anything() });
    expect(await getCheckpoint()).toBe(checkpoint);
  });

  it("--dry-run says what it would do and writes nothing", async () => {
    await paidCheckouts(1);
    const before = await snapshot();

    const result = await runCli("reconcile", ["--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("events: 1 seen, 1 new (would be applied)");
    expect(result.stdout).toContain("checkouts: 0 checked, 0 would be corrected");
    expect(result.stdout).toContain("dry run: nothing was written");
    expect(await snapshot()).toEqual(before);
  });

  it("exits 1 when Stripe cannot be reached, and the next run completes", async () => {
    const [id] = await paidCheckouts(1);
    await emu.fault({ pathPrefix: "/v1/events", status: 500 });

    const failed = await runCli("reconcile");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/reconcile failed: Stripe could not be reached \(listing events, page 1\)/);
    expect(failed.stderr).toContain("run again when Stripe answers");
    expect((await checkout(id!)).fulfilledAt).toBeNull();

    await emu.clearFaults();
    const next = await runCli("reconcile");
    expect(next.code).toBe(0);
    expect(next.stdout).toContain("events: 1 seen, 1 new, 1 applied, 1 fulfilled");
    expect((await checkout(id!)).fulfilledAt).not.toBeNull();
  });

  it("exits 2 on bad arguments, with a message, before doing anything", async () => {
    await paidCheckouts(1);
    const before = await snapshot();
    const cases: Array<[string[], RegExp]> = [
      [["--bogus"], /Unknown option '--bogus'[\s\S]*Usage: npm run stripe:reconcile/],
      [["--since", "yesterday"], /--since must be an ISO date or time .*not "yesterday"/],
      [["--since", "2999-01-01"], /--since is in the future: 2999-01-01/],
      [["--overlap", "5 minutes"], /--overlap must be an age such as 90s, 5m, 36h or 3d, not "5 minutes"/],
      [["--wait-timeout", "1m"], /--wait-timeout only makes sense with --wait/],
      [["extra"], /Unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli("reconcile", args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe("");
    }
    expect(await eventRequests()).toHaveLength(0);
    expect(await snapshot()).toEqual(before);
  });

  it("exits 3 while another run holds the lock, naming it; with --wait it runs once the lock is free", async () => {
    const [id] = await paidCheckouts(1);
    expect(await tryAcquire(RECONCILE_JOB, "other-host:4242:beef01", 60_000)).toEqual({ acquired: true });
    const lease = (await db.select().from(schema.jobLocks))[0]!;

    const held = await runCli("reconcile");
    expect(held.code).toBe(3);
    expect(held.stderr).toContain(
      `Another reconcile run holds the lock: other-host:4242:beef01, until ${new Date(lease.expiresAt).toISOString()}`,
    );
    expect(held.stderr).toContain("Run again later, or with --wait to wait for it.");
    expect(held.stdout).toBe("");
    expect(await eventRequests()).toHaveLength(0);
    expect((await checkout(id!)).fulfilledAt).toBeNull();

    // That holder dies without releasing: its lease runs out in a moment.
    const expiresAt = Date.now() + 2_000;
    await db.update(schema.jobLocks).set({ expiresAt });
    const waited = await runCli("reconcile", ["--wait"]);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toContain("events: 1 seen, 1 new, 1 applied, 1 fulfilled");
    // It applied the event only after the other lease had run out.
    expect((await checkout(id!)).fulfilledAt).toBeGreaterThanOrEqual(expiresAt);
    expect(await db.select().from(schema.jobLocks)).toEqual([]);
  });
});
