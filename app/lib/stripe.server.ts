import Stripe from "stripe";

import { config } from "./config.server";

/**
 * The one Stripe client. STRIPE_API_BASE (host, port, protocol) points the
 * same code at Stripe, stripe-mock or the bundled emulator. STRIPE_TIMEOUT_MS
 * is the whole wait a shopper sees, not the SDK's 80 s, and not one attempt
 * of several: the SDK retries a timed-out request, which doubled the wait
 * (docs/decisions/092-stripe-timeout-is-the-whole-wait.md). A shopper who
 * submits again carries the same form token, so the same idempotency key.
 */
function createStripe() {
  const base = config.stripe.apiBase;
  const protocol = base?.protocol === "http:" ? "http" : "https";
  return new Stripe(config.stripe.secretKey, {
    ...(base && {
      host: base.hostname,
      port: Number(base.port || (protocol === "http" ? 80 : 443)),
      protocol,
    }),
    timeout: config.stripe.timeoutMs,
    maxNetworkRetries: 0,
    telemetry: false,
    appInfo: { name: "remix-stripe-checkout" },
  });
}

const globalForStripe = globalThis as unknown as { __shopStripe?: Stripe };
export const stripe: Stripe = (globalForStripe.__shopStripe ??= createStripe());

export { Stripe };
