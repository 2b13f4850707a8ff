import { describe, expect, it } from "vitest";

import { checkoutOptionParams, termsMessage } from "~/lib/checkout-options.server";
import { ConfigError, type CheckoutOptions, parseConfig } from "~/lib/config.server";

const OFF: CheckoutOptions = {
  promotionCodes: false,
  automaticTax: false,
  shippingCountries: [],
  shippingRates: [],
  phone: false,
  termsUrl: undefined,
};
const payment = { mode: "payment", shippable: true, customer: false } as const;

describe("Checkout's options as session parameters", () => {
  it("with every option off, adds nothing", () => {
    expect(checkoutOptionParams(OFF, payment)).toEqual({});
    expect(checkoutOptionParams(OFF, { mode: "subscription", shippable: false, customer: true })).toEqual({});
  });

  it("promotion codes", () => {
    expect(checkoutOptionParams({ ...OFF, promotionCodes: true }, payment)).toEqual({ allow_promotion_codes: true });
  });

  it("automatic tax, in payment and subscription mode; an existing customer lets Checkout save the address", () => {
    const on = { ...OFF, automaticTax: true };
    expect(checkoutOptionParams(on, payment)).toEqual({ automatic_tax: { enabled: true } });
    expect(checkoutOptionParams(on, { mode: "subscription", shippable: false, customer: false })).toEqual({
      automatic_tax: { enabled: true },
    });
    expect(checkoutOptionParams(on, { ...payment, shippable: false, customer: true })).toEqual({
      automatic_tax: { enabled: true },
      customer_update: { address: "auto" },
    });
    expect(checkoutOptionParams({ ...on, shippingCountries: ["US"] }, { ...payment, customer: true })).toEqual({
      automatic_tax: { enabled: true },
      customer_update: { address: "auto", shipping: "auto" },
      shipping_address_collection: { allowed_countries: ["US"] },
    });
  });

  it("shipping address and rates only for a shippable product in payment mode", () => {
    const on = { ...OFF, shippingCountries: ["US", "CA"], shippingRates: ["shr_a", "shr_b"] };
    expect(checkoutOptionParams(on, payment)).toEqual({
      shipping_address_collection: { allowed_countries: ["US", "CA"] },
      shipping_options: [{ shipping_rate: "shr_a" }, { shipping_rate: "shr_b" }],
    });
    expect(checkoutOptionParams({ ...on, shippingRates: [] }, payment)).toEqual({
      shipping_address_collection: { allowed_countries: ["US", "CA"] },
    });
    expect(checkoutOptionParams(on, { ...payment, shippable: false })).toEqual({});
    expect(checkoutOptionParams(on, { mode: "subscription", shippable: true, customer: false })).toEqual({});
  });

  it("phone number collection", () => {
    expect(checkoutOptionParams({ ...OFF, phone: true }, payment)).toEqual({
      phone_number_collection: { enabled: true },
    });
  });

  it("terms of service: required consent and the text with the terms URL", () => {
    expect(checkoutOptionParams({ ...OFF, termsUrl: "https://shop.example.com/terms" }, payment)).toEqual({
      consent_collection: { terms_of_service: "required" },
      custom_text: {
        terms_of_service_acceptance: {
          message: "I agree to the [terms of service](https://shop.example.com/terms).",
        },
      },
    });
    expect(termsMessage("https://x.example/t")).toContain("https://x.example/t");
  });
});

describe("Checkout's options in the configuration", () => {
  const errorOf = (env: Record<string, string>) => {
    try {
      parseConfig({ NODE_ENV: "test", ...env });
    } catch (error: unknown) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error("expected a ConfigError");
  };

  it("defaults to every option off", () => {
    expect(parseConfig({ NODE_ENV: "test" }).checkout).toEqual(OFF);
  });

  it("reads every option", () => {
    expect(
      parseConfig({
        NODE_ENV: "test",
        CHECKOUT_PROMOTION_CODES: "on",
        CHECKOUT_AUTOMATIC_TAX: "on",
        CHECKOUT_SHIPPING_COUNTRIES: "us, ca,GB",
        CHECKOUT_SHIPPING_RATES: "shr_standard,shr_express",
        CHECKOUT_PHONE: "on",
        CHECKOUT_TERMS_URL: "https://shop.example.com/terms",
      }).checkout,
    ).toEqual({
      promotionCodes: true,
      automaticTax: true,
      shippingCountries: ["US", "CA", "GB"],
      shippingRates: ["shr_standard", "shr_express"],
      phone: true,
      termsUrl: "https://shop.example.com/terms",
    });
  });

  it.each([
    [{ CHECKOUT_PROMOTION_CODES: "yes" }, "CHECKOUT_PROMOTION_CODES must be on or off"],
    [{ CHECKOUT_AUTOMATIC_TAX: "true" }, "CHECKOUT_AUTOMATIC_TAX must be on or off"],
    [{ CHECKOUT_PHONE: "1" }, "CHECKOUT_PHONE must be on or off"],
    [{ CHECKOUT_SHIPPING_COUNTRIES: "USA" }, "CHECKOUT_SHIPPING_COUNTRIES must be comma-separated two-letter"],
    [{ CHECKOUT_SHIPPING_COUNTRIES: "US,CU" }, "CHECKOUT_SHIPPING_COUNTRIES names a country Stripe does not ship to"],
    [{ CHECKOUT_SHIPPING_COUNTRIES: "US,us" }, "CHECKOUT_SHIPPING_COUNTRIES names a country twice"],
    [{ CHECKOUT_SHIPPING_COUNTRIES: "US", CHECKOUT_SHIPPING_RATES: "rate_1" }, "CHECKOUT_SHIPPING_RATES must be"],
    [
      { CHECKOUT_SHIPPING_COUNTRIES: "US", CHECKOUT_SHIPPING_RATES: "shr_1,shr_2,shr_3,shr_4,shr_5,shr_6" },
      "CHECKOUT_SHIPPING_RATES may name at most 5 rates",
    ],
    [{ CHECKOUT_SHIPPING_RATES: "shr_1" }, "CHECKOUT_SHIPPING_RATES needs CHECKOUT_SHIPPING_COUNTRIES"],
    [{ CHECKOUT_TERMS_URL: "ftp://example.com/terms" }, "CHECKOUT_TERMS_URL must be an http(s) URL"],
  ])("refuses %o with a message naming the variable", (env, message) => {
    expect(errorOf(env)).toContain(message);
  });
});
