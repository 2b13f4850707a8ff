/**
 * Stripe's error responses: `{"error": {type, message, code?, param?, doc_url?}}`
 * with Stripe's status codes. The Node SDK picks its error class from the
 * status (400/404 invalid request, 401 authentication, 402 card, 5xx API) and
 * from `type` (idempotency_error).
 */

export type ErrorType = "invalid_request_error" | "api_error" | "card_error" | "idempotency_error";

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly extra: { param?: string; code?: string; decline_code?: string } = {},
  ) {
    super(message);
  }

  body() {
    const error: Record<string, unknown> = {};
    if (this.extra.code) error.code = this.extra.code;
    if (this.extra.decline_code) error.decline_code = this.extra.decline_code;
    if (this.extra.code) error.doc_url = `https://stripe.com/docs/error-codes/${this.extra.code.replace(/_/g, "-")}`;
    error.message = this.message;
    if (this.extra.param) error.param = this.extra.param;
    error.type = this.type;
    return { error };
  }
}

export const invalid = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, "invalid_request_error", message, { param, code });

export const missingParam = (param: string) => invalid(`Missing required param: ${param}.`, param, "parameter_missing");

/** An id in the URL that names nothing: 404. */
export const noSuch = (kind: string, id: string, param: string) =>
  new StripeApiError(404, "invalid_request_error", `No such ${kind}: '${id}'`, { param, code: "resource_missing" });

/** An id in the parameters that names nothing: 400. */
export const noSuchParam = (kind: string, id: string, param: string) =>
  new StripeApiError(400, "invalid_request_error", `No such ${kind}: '${id}'`, { param, code: "resource_missing" });

export const unknownParam = (param: string) =>
  invalid(`Received unknown parameter: ${param}`, param, "parameter_unknown");

export const apiError = (status = 500, message = "An unknown error occurred") =>
  new StripeApiError(status, "api_error", message);
