import { serverQuery } from "../support/db";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { startReconcileSchedule } from "~/lib/reconcile.server";

import { emulatorControl } from "../support/emulator";
import { startBuiltServer, type Proc } from "../support/server";

/**
 * The schedule inside the server process: the built server (`npm start`)
 * with RECONCILE_INTERVAL_MINUTES set brings in a payment whose webhook never
 * came (this file's emulator has no webhook endpoint), with nobody running
 * the command.
 */

const emu = emulatorControl();
let server: (Proc & { databasePath: string }) | undefined;

beforeAll(async () => {
  // 0.02 minutes: a run about every second, so that the test need not wait long.
  server = await startBuiltServer({ stripeApiBase: emu.url, env: { RECONCILE_INTERVAL_MINUTES: "0.02" } });
});
afterAll(() => server?.stop());

async function buyThroughTheServer(url: string, slug: string) {
  const page = await fetch(`${url}/products/${slug}`);
  const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
  const token = /name="token" value="([^"]+)"/.exec(await page.text())![1]!;
  const post = await fetch(`${url}/products/${slug}`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: url },
    body: new URLSearchParams({ quantity: "1", token }),
  });
  expect(post.status).toBe(303);
  return post.headers.get("location")!.split("/").at(-1)!;
}

describe("reconcile on a schedule", () => {
  it("fulfills, inside the running server, a payment whose webhook never arrived", async () => {
    const id = await buyThroughTheServer(server!.url, "ceramic-pour-over");
    await emu.pay(id);

    // The run that brings it in logs its report once it is done.
    const reported = /reconcile \(scheduled\): events: 1 seen, 1 new, 1 applied, 1 fulfilled/;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !server!.output.some((line) => reported.test(line))) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(server!.output.join("\n")).toContain("reconcile scheduled every 0.02 min");
    expect(server!.output.join("\n")).toMatch(reported);

    const [row] = await serverQuery(
      server!,
      "SELECT status, payment_status, fulfilled_at FROM checkout_sessions WHERE id = ?",
      [id],
    );
    expect(row).toMatchObject({ status: "complete", payment_status: "paid", fulfilled_at: expect.any(Number) });
    expect(await serverQuery(server!, "SELECT type, source FROM stripe_events")).toEqual([
      { type: "checkout.session.completed", source: "reconcile" },
    ]);
  });

  it("is off by default (RECONCILE_INTERVAL_MINUTES unset, as in this test process)", () => {
    const info = vi.spyOn(console, "info");
    const stop = startReconcileSchedule();
    expect(info).not.toHaveBeenCalled();
    stop();
  });
});
