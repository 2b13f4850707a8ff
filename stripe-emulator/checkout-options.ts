import type Stripe from "stripe";

import { invalid, noSuchParam } from "./errors";
import type { CheckoutSession, LineItem } from "./objects";
import { asArray, isHash, type ParamValue, type Params } from "./params";

/**
 * Checkout's own options as the emulator plays them: one promotion code, a
 * flat tax rate, two shipping rates, phone and terms consent (README.md).
 * Parsed when the session is created, applied when it is paid.
 */

/** The one promotion code the emulator knows: 10% off the line items. */
export const PROMOTION_CODE = {
  code: "WELCOME10",
  id: "promo_emulatorWELCOME10",
  coupon: "coupon_emulatorWELCOME10",
  percentOff: 10,
} as const;

/** The flat rate of automatic tax, on the line items after the discount (shipping is not taxed). */
export const TAX_PERCENT = 8;

export type ShippingRate = {
  id: string;
  display_name: string;
  /** Minor units per currency: a session in another currency refuses the rate, as Stripe does. */
  amounts: Record<string, number>;
};

/** The shipping rates the emulator knows (Stripe's ids are shr_...). */
export const SHIPPING_RATES: readonly ShippingRate[] = [
  { id: "shr_emulator_standard", display_name: "Standard shipping", amounts: { usd: 500, eur: 500, gbp: 400 } },
  { id: "shr_emulator_express", display_name: "Express shipping", amounts: { usd: 1500, eur: 1500, gbp: 1200 } },
];

/** A ShippingRate object as the API returns it (for `expand` and the session's options). */
export function shippingRateObject(rate: ShippingRate, currency: string): Stripe.ShippingRate {
  const [first, ...rest] = Object.entries(rate.amounts);
  return {
    id: rate.id,
    object: "shipping_rate",
    active: true,
    created: 1_700_000_000,
    delivery_estimate: null,
    display_name: rate.display_name,
    fixed_amount: {
      amount: rate.amounts[currency] ?? first![1],
      currency: rate.amounts[currency] !== undefined ? currency : first![0],
      currency_options: Object.fromEntries(
        rest.map(([code, amount]) => [code, { amount, tax_behavior: "unspecified" as const }]),
      ),
    },
    livemode: false,
    metadata: {},
    tax_behavior: "unspecified",
    tax_code: null,
    type: "fixed_amount",
  };
}

// Countries Stripe's shipping_address_collection refuses (SDK docs).
const UNSUPPORTED_COUNTRIES = new Set("AS CX CC CU HM IR KP MH FM NF MP PW SY UM VI".split(" "));

export type SessionOptions = {
  automaticTax: boolean;
  allowedCountries: string[] | null;
  shippingRates: ShippingRate[];
  phone: boolean;
  termsRequired: boolean;
  termsMessage: string | null;
};

const hashOf = (value: ParamValue | undefined, param: string): Params | undefined => {
  if (value === undefined || value === "") return undefined;
  if (!isHash(value)) throw invalid("Invalid object", param);
  return value;
};

function onlyKeys(hash: Params, allowed: string[], param: string) {
  for (const key of Object.keys(hash)) {
    if (!allowed.includes(key)) throw invalid(`Received unknown parameter: ${param}[${key}]`, `${param}[${key}]`);
  }
}

function bool(hash: Params, key: string, param: string): boolean {
  const value = hash[key];
  if (value === undefined) throw invalid(`Missing required param: ${param}[${key}].`, `${param}[${key}]`);
  if (value !== "true" && value !== "false") throw invalid("Invalid boolean", `${param}[${key}]`);
  return value === "true";
}

/** The options of a session being created; throws Stripe's errors for what Stripe would refuse. */
export function parseSessionOptions(
  params: Params,
  { mode, currency, customer }: { mode: "payment" | "subscription"; currency: string; customer: boolean },
): SessionOptions {
  const tax = hashOf(params.automatic_tax, "automatic_tax");
  if (tax) onlyKeys(tax, ["enabled", "liability"], "automatic_tax");
  const automaticTax = tax ? bool(tax, "enabled", "automatic_tax") : false;

  const collection = hashOf(params.shipping_address_collection, "shipping_address_collection");
  let allowedCountries: string[] | null = null;
  if (collection) {
    onlyKeys(collection, ["allowed_countries"], "shipping_address_collection");
    const countries = asArray(collection.allowed_countries);
    if (!countries || countries.length === 0) {
      throw invalid(
        "Missing required param: shipping_address_collection[allowed_countries].",
        "shipping_address_collection[allowed_countries]",
      );
    }
    allowedCountries = countries.map((c, i) => {
      const param = `shipping_address_collection[allowed_countries][${i}]`;
      if (typeof c !== "string" || !/^[A-Z]{2}$/.test(c) || UNSUPPORTED_COUNTRIES.has(c)) {
        throw invalid(`Invalid shipping_address_collection[allowed_countries][${i}]: ${String(c)}`, param);
      }
      return c;
    });
  }

  const shippingRates: ShippingRate[] = [];
  if (params.shipping_options !== undefined && params.shipping_options !== "") {
    const options = asArray(params.shipping_options);
    if (!options) throw invalid("Invalid array", "shipping_options");
    if (mode !== "payment") {
      throw invalid("`shipping_options` can only be used in `payment` mode.", "shipping_options");
    }
    if (options.length > 5) throw invalid("You can only pass up to 5 shipping options.", "shipping_options");
    options.forEach((option, i) => {
      const param = `shipping_options[${i}]`;
      if (!isHash(option)) throw invalid("Invalid object", param);
      onlyKeys(option, ["shipping_rate", "shipping_rate_data"], param);
      if (option.shipping_rate_data !== undefined) {
        throw invalid(
          "The Stripe emulator only knows its own shipping rates: pass `shipping_rate`, not `shipping_rate_data`.",
          `${param}[shipping_rate_data]`,
        );
      }
      const id = option.shipping_rate;
      if (typeof id !== "string" || id === "") throw invalid(`Missing required param: ${param}[shipping_rate].`);
      const rate = SHIPPING_RATES.find((r) => r.id === id);
      if (!rate) throw noSuchParam("shipping_rate", id, `${param}[shipping_rate]`);
      if (rate.amounts[currency] === undefined) {
        throw invalid(
          `The shipping rate ${id} has no amount in ${currency}: its currency must match the session's.`,
          `${param}[shipping_rate]`,
        );
      }
      shippingRates.push(rate);
    });
  }

  const phoneParams = hashOf(params.phone_number_collection, "phone_number_collection");
  if (phoneParams) onlyKeys(phoneParams, ["enabled"], "phone_number_collection");
  const phone = phoneParams ? bool(phoneParams, "enabled", "phone_number_collection") : false;

  const consent = hashOf(params.consent_collection, "consent_collection");
  let termsRequired = false;
  if (consent) {
    onlyKeys(consent, ["payment_method_reuse_agreement", "promotions", "terms_of_service"], "consent_collection");
    const terms = consent.terms_of_service;
    if (terms !== undefined && terms !== "required" && terms !== "none") {
      throw invalid(
        "Invalid consent_collection[terms_of_service]: must be one of none or required",
        "consent_collection[terms_of_service]",
      );
    }
    termsRequired = terms === "required";
  }

  const text = hashOf(params.custom_text, "custom_text");
  let termsMessage: string | null = null;
  if (text) {
    onlyKeys(text, ["after_submit", "shipping_address", "submit", "terms_of_service_acceptance"], "custom_text");
    const acceptance = hashOf(text.terms_of_service_acceptance, "custom_text[terms_of_service_acceptance]");
    if (acceptance) {
      const message = acceptance.message;
      if (typeof message !== "string" || message === "" || message.length > 1200) {
        throw invalid(
          "custom_text[terms_of_service_acceptance][message] must be text of 1 to 1200 characters.",
          "custom_text[terms_of_service_acceptance][message]",
        );
      }
      if (!termsRequired) {
        throw invalid(
          "`custom_text[terms_of_service_acceptance]` requires `consent_collection[terms_of_service]=required`.",
          "custom_text[terms_of_service_acceptance]",
        );
      }
      termsMessage = message;
    }
  }

  const update = hashOf(params.customer_update, "customer_update");
  if (update) {
    onlyKeys(update, ["address", "name", "shipping"], "customer_update");
    if (!customer) throw invalid("`customer_update` can only be used with `customer`.", "customer_update");
    for (const key of ["address", "name", "shipping"]) {
      const value = update[key];
      if (value !== undefined && value !== "auto" && value !== "never") {
        throw invalid(`Invalid customer_update[${key}]: must be one of auto or never`, `customer_update[${key}]`);
      }
    }
  }

  return { automaticTax, allowedCountries, shippingRates, phone, termsRequired, termsMessage };
}

/** The fields an open session shows for its options (Stripe's shapes). */
export function openSessionFields(
  options: SessionOptions,
  currency: string,
): Partial<CheckoutSession> & Record<string, unknown> {
  const first = options.shippingRates[0];
  return {
    automatic_tax: options.automaticTax
      ? { enabled: true, liability: { type: "self" }, provider: "stripe", status: "requires_location_inputs" }
      : { enabled: false, liability: null, provider: null, status: null },
    consent_collection: options.termsRequired
      ? { payment_method_reuse_agreement: null, promotions: null, terms_of_service: "required" }
      : null,
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: options.termsMessage ? { message: options.termsMessage } : null,
    },
    phone_number_collection: { enabled: options.phone },
    shipping_address_collection: options.allowedCountries ? { allowed_countries: options.allowedCountries } : null,
    shipping_options: options.shippingRates.map(
      (rate): Stripe.Checkout.Session.ShippingOption => ({
        shipping_amount: rate.amounts[currency]!,
        shipping_rate: rate.id,
      }),
    ),
    // Stripe preselects the first shipping option.
    shipping_cost: first ? shippingCost(first, currency) : null,
  };
}

function shippingCost(rate: ShippingRate, currency: string): Stripe.Checkout.Session.ShippingCost {
  const amount = rate.amounts[currency]!;
  return { amount_subtotal: amount, amount_tax: 0, amount_total: amount, shipping_rate: rate.id };
}

/** What the shopper entered on the hosted page (or a test through the control API). */
export type PayDetails = {
  promotionCode?: string;
  shippingRate?: string;
  shipping?: { name: string; line1: string; line2?: string; city: string; postalCode: string; country: string };
  phone?: string;
  termsAccepted?: boolean;
};

export type Totals = {
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
  rate: ShippingRate | undefined;
  promotion: boolean;
};

const PHONE = /^\+?[0-9][0-9 ().-]{5,19}$/;

/**
 * Checks what was entered against the session's options and works out the
 * totals; throws a 400 whose message the hosted page shows.
 */
export function totalsFor(
  session: CheckoutSession,
  lineItems: readonly LineItem[],
  options: SessionOptions,
  details: PayDetails,
  { requireAll }: { requireAll: boolean },
): Totals {
  const subtotal = lineItems.reduce((sum, item) => sum + item.amount_subtotal, 0);
  const code = details.promotionCode?.trim() ?? "";
  let promotion = false;
  if (code !== "") {
    if (!session.allow_promotion_codes) throw invalid("This checkout does not take promotion codes.", "promotion_code");
    if (code.toUpperCase() !== PROMOTION_CODE.code) throw invalid("This code is invalid.", "promotion_code");
    promotion = true;
  }
  const discount = promotion ? Math.round((subtotal * PROMOTION_CODE.percentOff) / 100) : 0;

  let rate: ShippingRate | undefined;
  if (details.shippingRate) {
    rate = options.shippingRates.find((r) => r.id === details.shippingRate);
    if (!rate) throw invalid("Choose one of the shipping rates offered.", "shipping_rate");
  } else {
    rate = options.shippingRates[0];
  }
  const shipping = rate ? rate.amounts[session.currency]! : 0;

  if (requireAll && options.allowedCountries) {
    const address = details.shipping;
    if (!address || [address.name, address.line1, address.city, address.postalCode].some((v) => !v.trim())) {
      throw invalid("Enter the shipping name, address, city and postal code.", "shipping");
    }
    if (!options.allowedCountries.includes(address.country)) {
      throw invalid(`This shop ships to ${options.allowedCountries.join(", ")} only.`, "shipping[country]");
    }
  }
  if (requireAll && options.phone && !PHONE.test(details.phone?.trim() ?? "")) {
    throw invalid("Enter a phone number.", "phone");
  }
  if (requireAll && options.termsRequired && !details.termsAccepted) {
    throw invalid("Accept the terms of service to pay.", "terms");
  }

  const tax = options.automaticTax ? Math.round(((subtotal - discount) * TAX_PERCENT) / 100) : 0;
  return { subtotal, discount, tax, shipping, total: subtotal - discount + tax + shipping, rate, promotion };
}

/** Shares `amount` over the lines in proportion to their subtotals; the last line takes the remainder. */
function spread(amount: number, lineItems: readonly LineItem[], subtotal: number): number[] {
  let left = amount;
  return lineItems.map((item, i) => {
    if (i === lineItems.length - 1) return left;
    const share = subtotal === 0 ? 0 : Math.round((amount * item.amount_subtotal) / subtotal);
    left -= share;
    return share;
  });
}

/** Writes the totals and what was collected onto the session and its line items, as Stripe reports them once paid. */
export function applyTotals(
  session: CheckoutSession,
  lineItems: LineItem[],
  options: SessionOptions,
  details: PayDetails,
  totals: Totals,
) {
  const discounts = spread(totals.discount, lineItems, totals.subtotal);
  const taxes = spread(totals.tax, lineItems, totals.subtotal);
  lineItems.forEach((item, i) => {
    item.amount_discount = discounts[i]!;
    item.amount_tax = taxes[i]!;
    item.amount_total = item.amount_subtotal - discounts[i]! + taxes[i]!;
  });
  session.amount_subtotal = totals.subtotal;
  session.amount_total = totals.total;
  const totalDetails: Stripe.Checkout.Session.TotalDetails = {
    amount_discount: totals.discount,
    amount_shipping: totals.shipping,
    amount_tax: totals.tax,
  };
  session.total_details = totalDetails;
  const discountList: Stripe.Checkout.Session.Discount[] = totals.promotion
    ? [{ coupon: PROMOTION_CODE.coupon, promotion_code: PROMOTION_CODE.id }]
    : [];
  session.discounts = discountList;
  session.shipping_cost = totals.rate ? shippingCost(totals.rate, session.currency) : null;
  if (options.automaticTax) {
    session.automatic_tax = { enabled: true, liability: { type: "self" }, provider: "stripe", status: "complete" };
  }
  const address = details.shipping;
  const shippingDetails: Stripe.Checkout.Session.CollectedInformation.ShippingDetails | null =
    options.allowedCountries && address
      ? {
          name: address.name.trim(),
          address: {
            city: address.city.trim(),
            country: address.country,
            line1: address.line1.trim(),
            line2: address.line2?.trim() || null,
            postal_code: address.postalCode.trim(),
            state: null,
          },
        }
      : null;
  return {
    shippingDetails,
    phone: options.phone ? (details.phone?.trim() ?? null) : null,
    consent: options.termsRequired
      ? ({ promotions: null, terms_of_service: "accepted" } satisfies Stripe.Checkout.Session.Consent)
      : null,
  };
}

/** The defaults the control API pays with when a test names nothing (README.md). */
export function defaultDetails(options: SessionOptions, given: PayDetails): PayDetails {
  return {
    ...given,
    shipping:
      given.shipping ??
      (options.allowedCountries
        ? {
            name: "Test Shopper",
            line1: "1 Test Street",
            city: "Springfield",
            postalCode: "12345",
            country: options.allowedCountries[0]!,
          }
        : undefined),
    phone: given.phone ?? (options.phone ? "+15555550100" : undefined),
    termsAccepted: given.termsAccepted ?? options.termsRequired,
  };
}
