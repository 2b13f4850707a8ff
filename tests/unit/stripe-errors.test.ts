import Stripe from "stripe";
import { describe, expect, it } from "vitest";

import { describeStripeError } from "~/lib/stripe-errors.server";

/** The one place that says what a failed Stripe call means, by the SDK's own classes. */
describe("describeStripeError", () => {
  const raw = (extra: Record<string, unknown>) => ({ message: "m", ...extra }) as never;

  it("a customer Stripe does not have (resource_missing on customer)", () => {
    const error = new Stripe.errors.StripeInvalidRequestError(
      raw({ type: "invalid_request_error", code: "resource_missing", param: "customer", statusCode: 400 }),
    );
    expect(describeStripeError(error)).toMatchObject({
      type: "StripeInvalidRequestError",
      missingCustomer: true,
      unavailable: false,
      statusCode: 400,
    });
    const otherParam = new Stripe.errors.StripeInvalidRequestError(
      raw({ type: "invalid_request_error", code: "resource_missing", param: "price" }),
    );
    expect(describeStripeError(otherParam).missingCustomer).toBe(false);
  });

  it("connection, API and rate-limit errors mean Stripe is unavailable; an idempotency conflict is its own", () => {
    expect(describeStripeError(new Stripe.errors.StripeConnectionError(raw({}))).unavailable).toBe(true);
    expect(describeStripeError(new Stripe.errors.StripeAPIError(raw({}))).unavailable).toBe(true);
    expect(describeStripeError(new Stripe.errors.StripeRateLimitError(raw({}))).unavailable).toBe(true);
    expect(describeStripeError(new Stripe.errors.StripeIdempotencyError(raw({})))).toMatchObject({
      idempotencyConflict: true,
      unavailable: false,
    });
  });

  it("anything that is not a Stripe error, even one shaped like it, is just an error", () => {
    expect(describeStripeError({ type: "StripeIdempotencyError", message: "fake" })).toMatchObject({
      type: "error",
      idempotencyConflict: false,
    });
    expect(describeStripeError(new Error("boom"))).toMatchObject({ type: "error", message: "boom" });
  });
});
