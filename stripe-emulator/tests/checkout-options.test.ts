import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { type Emulator, startEmulator } from "../server";

/**
 * Checkout's options on the emulator: the promotion code WELCOME10 (10% off),
 * 8% automatic tax, the shipping rates shr_emulator_standard ($5.00) and
 * shr_emulator_express ($15.00), phone and terms consent; through the SDK,
 * the hosted page (plain form posts) and the control API. The completed
 * session is in the SDK's shapes (typed as Stripe.Checkout.Session here).
 */

const CERAMIC = "price_1TSceramicPourOver"; // 32.00 USD, one-time
const CLUB = "price_1TScoffeeClub"; // 18.00 USD a month
const SUCCESS = "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}";

let emulator: Emulator;
let stripe: Stripe;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, quiet: true });
  stripe = new Stripe("sk_test_emulator_tests", {
    host: "127.0.0.1",
    port: emulator.port,
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
  });
});
afterAll(async () => emulator.close());
beforeEach(async () => {
  await fetch(`${emulator.url}/_emulator/reset`, { method: "POST" });
});

const everything: Partial<Stripe.Checkout.SessionCreateParams> = {
  allow_promotion_codes: true,
  automatic_tax: { enabled: true },
  shipping_address_collection: { allowed_countries: ["US", "CA"] },
  shipping_options: [{ shipping_rate: "shr_emulator_standard" }, { shipping_rate: "shr_emulator_express" }],
  phone_number_collection: { enabled: true },
  consent_collection: { terms_of_service: "required" },
  custom_text: { terms_of_service_acceptance: { message: "I agree to the [terms](https://shop.test/terms)." } },
};

function create(params: Partial<Stripe.Checkout.SessionCreateParams> = {}) {
  return stripe.checkout.sessions.create({
    mode: "payment",
    line_items: [{ price: CERAMIC, quantity: 2 }],
    success_url: SUCCESS,
    ...params,
  });
}

function submit(id: string, fields: Record<string, string>) {
  return fetch(`${emulator.url}/c/pay/${id}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ email: "buyer@example.com", action: "card", ...fields }).toString(),
    redirect: "manual",
  });
}

async function payByControl(id: string, body: Record<string, unknown>) {
  const response = await fetch(`${emulator.url}/_emulator/sessions/${id}/pay`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Stripe.Checkout.Session & { error?: unknown } };
}

const address = {
  shipping_name: "Ada Lovelace",
  shipping_line1: "12 Analytical Row",
  shipping_city: "Toronto",
  shipping_postal_code: "M5V 2T6",
  shipping_country: "CA",
};

describe("creating a session with Checkout's options", () => {
  it("shows them in Stripe's shapes; the first shipping rate is preselected and in the total", async () => {
    const session = await create(everything);
    expect(session).toMatchObject({
      allow_promotion_codes: true,
      amount_subtotal: 6400,
      amount_total: 6900,
      automatic_tax: { enabled: true, status: "requires_location_inputs" },
      shipping_address_collection: { allowed_countries: ["US", "CA"] },
      shipping_options: [
        { shipping_amount: 500, shipping_rate: "shr_emulator_standard" },
        { shipping_amount: 1500, shipping_rate: "shr_emulator_express" },
      ],
      shipping_cost: { amount_subtotal: 500, amount_tax: 0, amount_total: 500, shipping_rate: "shr_emulator_standard" },
      total_details: { amount_discount: 0, amount_shipping: 500, amount_tax: 0 },
      phone_number_collection: { enabled: true },
      consent_collection: { terms_of_service: "required" },
      custom_text: { terms_of_service_acceptance: { message: "I agree to the [terms](https://shop.test/terms)." } },
    });
  });

  it("refuses an unknown shipping rate as Stripe does (resource_missing), and creates nothing", async () => {
    const error = await create({ ...everything, shipping_options: [{ shipping_rate: "shr_nope" }] }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      code: "resource_missing",
      param: "shipping_options[0][shipping_rate]",
      message: "No such shipping_rate: 'shr_nope'",
    });
    expect((await stripe.checkout.sessions.list()).data).toHaveLength(0);
  });

  it.each([
    [
      { shipping_options: [{ shipping_rate: "shr_emulator_standard" }], mode: "subscription" as const },
      "payment` mode",
    ],
    [{ shipping_address_collection: { allowed_countries: ["CU" as "US"] } }, "allowed_countries][0]"],
    [{ automatic_tax: { enabled: true, nope: 1 } as Stripe.Checkout.SessionCreateParams.AutomaticTax }, "nope"],
    [{ custom_text: { terms_of_service_acceptance: { message: "Agree" } } }, "consent_collection[terms_of_service]"],
    [{ customer_update: { address: "auto" as const } }, "customer_update"],
  ])("refuses what Stripe refuses: %o", async (params, message) => {
    const line_items =
      "mode" in params && params.mode === "subscription"
        ? [{ price: CLUB, quantity: 1 }]
        : [{ price: CERAMIC, quantity: 1 }];
    const error = await create({ line_items, ...params }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((error as Error).message).toContain(message);
  });
});

describe("paying on the hosted page", () => {
  it("shows the promotion code, shipping, phone and terms fields, and Apply shows the discounted totals", async () => {
    const session = await create(everything);
    const page = await (await fetch(session.url!)).text();
    for (const id of [
      "promotion-code",
      "shipping-name",
      "shipping-country",
      "shipping-rate-shr_emulator_express",
      "phone",
      "terms",
    ]) {
      expect(page).toContain(`id="${id}"`);
    }
    const applied = await submit(session.id, {
      action: "apply",
      promotion_code: "WELCOME10",
      shipping_rate: "shr_emulator_express",
    });
    expect(applied.status).toBe(200);
    const html = await applied.text();
    // 64.00 - 6.40 + 8% of 57.60 (4.61) + 15.00 = 77.21
    expect(html).toMatch(/id="subtotal">\$64\.00/);
    expect(html).toMatch(/id="discount">-\$6\.40/);
    expect(html).toMatch(/id="tax">\$4\.61/);
    expect(html).toMatch(/id="shipping-amount">\$15\.00/);
    expect(html).toMatch(/id="total-amount">\$77\.21/);
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("open");
  });

  it("pays with the code, an address, a rate, a phone and consent: totals in Stripe's shapes", async () => {
    const session = await create(everything);
    const response = await submit(session.id, {
      ...address,
      promotion_code: "welcome10",
      shipping_rate: "shr_emulator_express",
      phone: "+1 416 555 0100",
      terms: "accepted",
    });
    expect(response.status).toBe(303);
    const paid: Stripe.Checkout.Session = await stripe.checkout.sessions.retrieve(session.id);
    expect(paid).toMatchObject({
      status: "complete",
      payment_status: "paid",
      amount_subtotal: 6400,
      amount_total: 7721,
      total_details: { amount_discount: 640, amount_shipping: 1500, amount_tax: 461 },
      discounts: [{ coupon: "coupon_emulatorWELCOME10", promotion_code: "promo_emulatorWELCOME10" }],
      shipping_cost: {
        amount_subtotal: 1500,
        amount_tax: 0,
        amount_total: 1500,
        shipping_rate: "shr_emulator_express",
      },
      collected_information: {
        shipping_details: {
          name: "Ada Lovelace",
          address: {
            line1: "12 Analytical Row",
            line2: null,
            city: "Toronto",
            postal_code: "M5V 2T6",
            country: "CA",
            state: null,
          },
        },
      },
      customer_details: { phone: "+1 416 555 0100", email: "buyer@example.com" },
      consent: { promotions: null, terms_of_service: "accepted" },
      automatic_tax: { enabled: true, status: "complete" },
    });
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent as string);
    expect(intent.amount).toBe(7721);
    const items = await stripe.checkout.sessions.listLineItems(session.id);
    expect(items.data[0]).toMatchObject({
      amount_subtotal: 6400,
      amount_discount: 640,
      amount_tax: 461,
      amount_total: 6221,
    });
  });

  it.each([
    [{ promotion_code: "NOPE" }, "This code is invalid."],
    [{ shipping_country: "GB" }, "This shop ships to US, CA only."],
    [{ shipping_line1: "" }, "Enter the shipping name, address, city and postal code."],
    [{ phone: "" }, "Enter a phone number."],
    [{ terms: "" }, "Accept the terms of service to pay."],
    [{ shipping_rate: "shr_other" }, "Choose one of the shipping rates offered."],
  ])("a missing or wrong field %o: the page again with a message, nothing paid", async (change, message) => {
    const session = await create(everything);
    const response = await submit(session.id, { ...address, phone: "+15555550100", terms: "accepted", ...change });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain(message);
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("open");
  });

  it("a code on a session that takes none is refused", async () => {
    const session = await create();
    const response = await submit(session.id, { promotion_code: "WELCOME10" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("This checkout does not take promotion codes.");
  });

  it("without options, the totals are the line items' and nothing extra is asked", async () => {
    const session = await create();
    const page = await (await fetch(session.url!)).text();
    expect(page).not.toContain('id="promotion-code"');
    expect(page).not.toContain('id="shipping-name"');
    expect((await submit(session.id, {})).status).toBe(303);
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({
      amount_subtotal: 6400,
      amount_total: 6400,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      discounts: [],
      shipping_cost: null,
      consent: null,
      collected_information: { shipping_details: null },
    });
  });
});

describe("paying through the control API", () => {
  it("takes the promotion code, shipping rate, address and phone; fills test defaults for the rest", async () => {
    const session = await create(everything);
    const paid = await payByControl(session.id, {
      promotion_code: "WELCOME10",
      shipping_rate: "shr_emulator_standard",
      shipping: {
        name: "Grace Hopper",
        address: { line1: "1 Navy Way", city: "Arlington", postal_code: "22202", country: "US" },
      },
      phone: "+15555550123",
    });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({
      amount_total: 6400 - 640 + 461 + 500,
      total_details: { amount_discount: 640, amount_shipping: 500, amount_tax: 461 },
      customer_details: { phone: "+15555550123" },
      collected_information: { shipping_details: { name: "Grace Hopper", address: { country: "US" } } },
      consent: { terms_of_service: "accepted" },
    });
  });

  it("refuses a wrong code with Stripe's error shape and pays nothing", async () => {
    const session = await create(everything);
    const paid = await payByControl(session.id, { promotion_code: "FREE" });
    expect(paid.status).toBe(400);
    expect(paid.body.error).toMatchObject({ type: "invalid_request_error", message: "This code is invalid." });
    expect((await stripe.checkout.sessions.retrieve(session.id)).status).toBe("open");
  });
});
