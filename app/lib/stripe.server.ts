import Stripe from "stripe";

import { config } from "./config.server";

/**
 * The one Stripe client. STRIPE_API_BASE (host, port, protocol) points the
 * same code at Stripe, stripe-mock or the bundled emulator. The timeout is a
 * few seconds, not the SDK's 80 s: a shopper waiting on a form post should get
 * an answer. One retry is safe because every create carries an idempotency key.
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
    maxNetworkRetries: 1,
    telemetry: false,
    appInfo: { name: "remix-stripe-checkout" },
  });
}

const globalForStripe = globalThis as unknown as { __shopStripe?: Stripe };
export const stripe: Stripe = (globalForStripe.__shopStripe ??= createStripe());

export { Stripe };
