import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type CheckoutOptions, config } from "~/lib/config.server";
import type { OrderListItem, SuccessView } from "~/lib/order-views";
import { loader as ordersLoader } from "~/routes/orders";
import { loader as successLoader } from "~/routes/checkout.success";
import { db, schema } from "../support/db";

import { expectConsoleError } from "../support/console";
import { emulatorControl } from "../support/emulator";
import { getRequest, settle } from "../support/http";
import { buy, deliverWebhook, newShopper } from "./success-support";

/**
 * Checkout's options through the real Buy action: exactly what the shop asks
 * Stripe (the emulator's record of the request), and a paid order with a
 * promotion code, tax and shipping stored with Stripe's totals, not flagged.
 */

const emu = emulatorControl();
const saved = config.checkout;
const OFF: CheckoutOptions = {
  promotionCodes: false,
  automaticTax: false,
  shippingCountries: [],
  shippingRates: [],
  phone: false,
  termsUrl: undefined,
};
const ALL: CheckoutOptions = {
  promotionCodes: true,
  automaticTax: true,
  shippingCountries: ["US", "CA"],
  shippingRates: ["shr_emulator_standard", "shr_emulator_express"],
  phone: true,
  termsUrl: "https://shop.test/terms",
};

const use = (options: Partial<CheckoutOptions>) => {
  (config as { checkout: CheckoutOptions }).checkout = { ...OFF, ...options };
};

beforeEach(async () => {
  await emu.reset();
  await db.delete(schema.refunds);
  await db.delete(schema.checkoutSessions);
  await db.delete(schema.shoppers);
});
afterEach(() => {
  (config as { checkout: CheckoutOptions }).checkout = saved;
});

/** What Buy now sent to Stripe for `slug`, beyond the parameters it always sends. */
async function optionsSent(slug: string) {
  await emu.reset();
  const id = await buy(slug, await newShopper(slug), slug === "ceramic-pour-over" ? 1 : undefined);
  const [request, ...others] = await emu.requestsTo("POST", "/v1/checkout/sessions");
  expect(others).toHaveLength(0);
  const { mode, line_items, success_url, cancel_url, client_reference_id, metadata, customer_creation, ...rest } =
    request!.params as Record<string, unknown>;
  expect({ mode, line_items, success_url, cancel_url, client_reference_id, metadata }).toMatchObject({
    success_url: "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
  });
  void customer_creation;
  return { id, rest };
}

describe("Buy now with Checkout's options", () => {
  it("with every option off, sends none of them", async () => {
    use({});
    expect((await optionsSent("ceramic-pour-over")).rest).toEqual({});
  });

  it.each([
    ["promotion codes", { promotionCodes: true }, { allow_promotion_codes: "true" }],
    ["automatic tax", { automaticTax: true }, { automatic_tax: { enabled: "true" } }],
    [
      "shipping countries",
      { shippingCountries: ["US", "CA"] },
      { shipping_address_collection: { allowed_countries: { "0": "US", "1": "CA" } } },
    ],
    [
      "shipping countries and rates",
      { shippingCountries: ["US"], shippingRates: ["shr_emulator_standard", "shr_emulator_express"] },
      {
        shipping_address_collection: { allowed_countries: { "0": "US" } },
        shipping_options: {
          "0": { shipping_rate: "shr_emulator_standard" },
          "1": { shipping_rate: "shr_emulator_express" },
        },
      },
    ],
    ["phone", { phone: true }, { phone_number_collection: { enabled: "true" } }],
    [
      "terms",
      { termsUrl: "https://shop.test/terms" },
      {
        consent_collection: { terms_of_service: "required" },
        custom_text: {
          terms_of_service_acceptance: { message: "I agree to the [terms of service](https://shop.test/terms)." },
        },
      },
    ],
  ] as const)(
    "%s on: exactly those parameters, and the emulator (Stripe's rules) takes them",
    async (_what, options, sent) => {
      use(options as Partial<CheckoutOptions>);
      expect((await optionsSent("ceramic-pour-over")).rest).toEqual(sent);
    },
  );

  it("shipping only for a shippable product in payment mode; the rest applies to every product", async () => {
    use(ALL);
    const notShippable = {
      allow_promotion_codes: "true",
      automatic_tax: { enabled: "true" },
      phone_number_collection: { enabled: "true" },
    };
    const gift = (await optionsSent("gift-card")).rest;
    expect(gift).toMatchObject(notShippable);
    expect(gift).not.toHaveProperty("shipping_address_collection");
    expect(gift).not.toHaveProperty("shipping_options");
    const club = (await optionsSent("coffee-club")).rest;
    expect(club).toMatchObject(notShippable);
    expect(club).not.toHaveProperty("shipping_address_collection");
    expect(club).not.toHaveProperty("shipping_options");
  });

  it("a shipping rate Stripe does not know: the shopper is told to try again, nothing is stored", async () => {
    use({ shippingCountries: ["US"], shippingRates: ["shr_unknown"] });
    const cookie = await newShopper();
    expectConsoleError(/checkout create failed/);
    await expect(buy("ceramic-pour-over", cookie, 1)).rejects.toThrow(/Buy answered 502/);
    expect(await db.select().from(schema.checkoutSessions)).toHaveLength(0);
  });
});

describe("a paid order with a promotion code, tax and shipping", () => {
  it("stores Stripe's subtotal, discount, tax, shipping and total, is not flagged, and is fulfilled", async () => {
    use(ALL);
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 2);
    await emu.payWith(id, { promotion_code: "WELCOME10", shipping_rate: "shr_emulator_express" });
    expect(await deliverWebhook(id)).toMatchObject({ fulfilled: true, flag: null });
    const [row] = await db.select().from(schema.checkoutSessions);
    // 64.00 - 10% + 8% tax on 57.60 + 15.00 express shipping
    expect(row).toMatchObject({
      status: "complete",
      paymentStatus: "paid",
      flag: null,
      amountSubtotal: 6400,
      amountDiscount: 640,
      amountTax: 461,
      amountShipping: 1500,
      amountTotal: 7721,
      fulfilledAt: expect.any(Number),
    });

    const totals = { subtotal: "$64.00", discount: "-$6.40", shipping: "$15.00", tax: "$4.61", total: "$77.21" };
    const success = await settle(() =>
      successLoader({ request: getRequest(`/checkout/success?session_id=${id}`, { cookie }), params: {}, context: {} }),
    );
    expect(((await success.json()) as SuccessView).order.totals).toEqual(totals);
    const orders = await settle(() =>
      ordersLoader({ request: getRequest("/orders", { cookie }), params: {}, context: {} }),
    );
    expect(((await orders.json()) as { orders: OrderListItem[] }).orders[0]!.totals).toEqual(totals);
  });

  it("an order with no discount, tax or shipping shows its amount alone", async () => {
    use({});
    const cookie = await newShopper();
    const id = await buy("ceramic-pour-over", cookie, 2);
    await emu.pay(id);
    await deliverWebhook(id);
    const orders = await settle(() =>
      ordersLoader({ request: getRequest("/orders", { cookie }), params: {}, context: {} }),
    );
    expect(((await orders.json()) as { orders: OrderListItem[] }).orders[0]).toMatchObject({
      amount: "$64.00",
      totals: null,
    });
  });
});
