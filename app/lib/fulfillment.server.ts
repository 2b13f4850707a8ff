import type { CheckoutSession } from "../../db/schema";
import type { DB } from "./db.server";

/** The transaction the state machine runs in; a hook writes through it. */
export type Tx = Parameters<Parameters<DB["transaction"]>[0]>[0];

/**
 * What a shop does when a checkout is first paid: send mail, grant access,
 * ship. Hooks run inside the state machine's synchronous transaction, exactly
 * once per checkout: write durable work (an outbox row, a grant) through `tx`
 * and let a worker do the slow part. A hook that throws rolls the whole event
 * back, and Stripe (or the reconcile command) delivers it again.
 */
export type FulfillmentHook = (tx: Tx, checkout: CheckoutSession) => void;

const hooks = new Set<FulfillmentHook>();

export function onFulfill(hook: FulfillmentHook): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

export function fulfill(tx: Tx, checkout: CheckoutSession) {
  for (const hook of hooks) hook(tx, checkout);
  console.info(`fulfilled checkout_session=${checkout.id} shopper=${checkout.shopperId}`);
}
