import Stripe from "stripe";

/**
 * What a failed Stripe call means, decided in one place through the SDK's own
 * error classes (https://docs.stripe.com/error-handling): the Buy path, the
 * success page, reconcile and catalog sync all ask here.
 */
export type StripeFailure = {
  /** The SDK's class name (StripeInvalidRequestError...), or "error" for anything that is not a Stripe error. */
  type: string;
  /** Stripe could not be reached or is having trouble (connection, 5xx, rate limit): try again later. */
  unavailable: boolean;
  /** The same idempotency key was sent with other parameters. */
  idempotencyConflict: boolean;
  /** The request named a customer Stripe does not have (deleted, or the keys changed test to live). */
  missingCustomer: boolean;
  statusCode: number | null;
  requestId: string | null;
  message: string;
};

export function describeStripeError(error: unknown): StripeFailure {
  if (!(error instanceof Stripe.errors.StripeError)) {
    return {
      type: "error",
      unavailable: false,
      idempotencyConflict: false,
      missingCustomer: false,
      statusCode: null,
      requestId: null,
      message: error instanceof Error ? error.message : String(error),
    };
  }
  return {
    type: error.type,
    unavailable:
      error instanceof Stripe.errors.StripeConnectionError ||
      error instanceof Stripe.errors.StripeAPIError ||
      error instanceof Stripe.errors.StripeRateLimitError,
    idempotencyConflict: error instanceof Stripe.errors.StripeIdempotencyError,
    missingCustomer:
      error instanceof Stripe.errors.StripeInvalidRequestError &&
      error.code === "resource_missing" &&
      error.param === "customer",
    statusCode: error.statusCode ?? null,
    requestId: error.requestId ?? null,
    message: error.message,
  };
}
