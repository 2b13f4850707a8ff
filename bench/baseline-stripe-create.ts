import { randomBytes } from "node:crypto";

import Stripe from "stripe";

import { summarize } from "./lib/load";

/**
 * The Buy baseline: `stripe.checkout.sessions.create` in a loop, one call at a
 * time, against the same emulator, with the client settings of
 * app/lib/stripe.server.ts and the parameters the Buy action sends. The
 * difference from the app's Buy path is what the app adds (HTTP, Remix, the
 * form, the cookie, the database).
 *   STRIPE_API_BASE=http://127.0.0.1:12111 node --import tsx bench/baseline-stripe-create.ts 50 500
 */

const base = new URL(process.env.STRIPE_API_BASE ?? "http://127.0.0.1:12111");
const [warmup = 50, amount = 500] = process.argv.slice(2).map(Number);
const origin = process.env.APP_ORIGIN ?? "http://127.0.0.1:3000";
const shopper = process.env.SHOPPER_ID ?? "BaselineShopper0000000";

const stripe = new Stripe("sk_test_shop_tests_only", {
  host: base.hostname,
  port: Number(base.port || 80),
  protocol: base.protocol === "https:" ? "https" : "http",
  timeout: Number(process.env.STRIPE_TIMEOUT_MS ?? 1500),
  maxNetworkRetries: 1,
  telemetry: false,
  appInfo: { name: "remix-stripe-checkout" },
});

async function loop(count: number) {
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const token = randomBytes(18).toString("base64url");
    const t0 = process.hrtime.bigint();
    const session = await stripe.checkout.sessions.create(
      {
        mode: "payment",
        line_items: [{ price: "price_1TSceramicPourOver", quantity: 1 }],
        success_url: `${origin}/checkout/success?session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${origin}/products/ceramic-pour-over?canceled=1`,
        client_reference_id: shopper,
        metadata: { product: "ceramic-pour-over", shopper },
        customer_creation: "always",
      },
      { idempotencyKey: `checkout-${token}` },
    );
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const key = session.url ? "created" : "no url";
    status[key] = (status[key] ?? 0) + 1;
  }
  return summarize(latencies, status, Number(process.hrtime.bigint() - started) / 1e6);
}

const warm = warmup > 0 ? await loop(warmup) : null;
const measured = await loop(amount);
process.stdout.write(`${JSON.stringify({ warmup: warm, measured })}\n`);
