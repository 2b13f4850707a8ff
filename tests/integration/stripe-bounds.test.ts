import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { config } from "~/lib/config.server";
import { checkoutsPerAddress, checkoutsPerShopper, orderLookups, sessionLookups } from "~/lib/rate-limit.server";
import { action as buyAction, loader as productLoader } from "~/routes/products.$slug";
import { loader } from "~/routes/checkout.success";

import { formRequest, getRequest, settle } from "../support/http";
import { buy, emu, newShopper, resetData, retrievals } from "./success-support";

/**
 * What one client can make the shop ask of Stripe: a pending success page
 * loaded a hundred times asks once per interval, and Buy opens a bounded
 * number of sessions per shopper and per address (429 with Retry-After, no
 * Stripe call). Counted in the database, so the same on every instance.
 */

const defaultInterval = config.stripeLookupIntervalMs;
beforeEach(async () => {
  await emu.reset();
  await emu.clearFaults();
  await resetData();
  await Promise.all([orderLookups, sessionLookups, checkoutsPerShopper, checkoutsPerAddress].map((l) => l.reset()));
});
afterEach(() => {
  (config as { stripeLookupIntervalMs: number }).stripeLookupIntervalMs = defaultInterval;
});

const successPage = (id: string, cookie: string) =>
  settle(() =>
    loader({ request: getRequest(`/checkout/success?session_id=${id}`, { cookie }), params: {}, context: {} }),
  );

async function buyAs(cookie: string, context: Record<string, unknown> = {}) {
  const page = await settle(() =>
    productLoader({
      request: getRequest("/products/ceramic-pour-over", { cookie }),
      params: { slug: "ceramic-pour-over" },
      context,
    }),
  );
  const { token } = (await page.json()) as { token: string };
  return settle(() =>
    buyAction({
      request: formRequest("/products/ceramic-pour-over", { token, quantity: "1" }, { cookie }),
      params: { slug: "ceramic-pour-over" },
      context,
    }),
  );
}

describe("bounds on what a client makes the shop ask Stripe", () => {
  it("a pending success page loaded 100 times within the interval asks Stripe once, and shows the stored state", async () => {
    (config as { stripeLookupIntervalMs: number }).stripeLookupIntervalMs = 60_000;
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    const answers = await Promise.all(Array.from({ length: 100 }, () => successPage(id, cookie)));
    expect(answers.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(await retrievals(id)).toHaveLength(1);
  });

  it("the next load after the interval asks again (default interval in tests: 0, every load)", async () => {
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 1);
    await successPage(id, cookie);
    await successPage(id, cookie);
    expect(await retrievals(id)).toHaveLength(2);
  });

  it("one shopper opening more than 10 sessions in 10 minutes gets 429 with Retry-After, and Stripe is not asked", async () => {
    const cookie = await newShopper();
    for (let i = 0; i < 10; i++) expect((await buyAs(cookie)).status).toBe(303);
    const creates = async () => (await emu.requestsTo("POST", "/v1/checkout/sessions")).length;
    const before = await creates();
    const refused = await buyAs(cookie);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: string }).error).toMatch(/many checkouts.*not been charged/);
    expect(await creates()).toBe(before);
  });

  it("one address is bounded across shoppers (30 in 10 minutes); another address is not", async () => {
    const address = { clientAddress: "203.0.113.7" };
    for (let i = 0; i < 30; i++) expect((await buyAs(await newShopper(), address)).status).toBe(303);
    expect((await buyAs(await newShopper(), address)).status).toBe(429);
    expect((await buyAs(await newShopper(), { clientAddress: "203.0.113.8" })).status).toBe(303);
  });
});
