/**
 * An error the user (a shopper, a sender of a webhook) caused, with the HTTP
 * status that says so: the one class the Buy path, the webhook's reading and
 * verification, and the routes that answer them share. Anything else thrown is
 * the shop's fault or a service's, and answers 5xx.
 */
export class UserError extends Error {
  override name = "UserError";

  constructor(
    readonly status: number,
    message: string,
    /** Seconds to wait, for a 429 or a 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}
