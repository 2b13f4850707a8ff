/**
 * The one registry of the Stripe event types this shop acts on: the object
 * each carries and its effect. The webhook's shape check, the state machine,
 * reconcile's event list and the README's `stripe listen --events` line all
 * come from here (tests/unit/event-registry.test.ts compares the README).
 * Every other type is stored and otherwise ignored.
 */
export const HANDLED_EVENTS = {
  "checkout.session.completed": { object: "checkout.session", effect: "completed" },
  "checkout.session.async_payment_succeeded": { object: "checkout.session", effect: "async_succeeded" },
  "checkout.session.async_payment_failed": { object: "checkout.session", effect: "async_failed" },
  "checkout.session.expired": { object: "checkout.session", effect: "expired" },
  "customer.subscription.updated": { object: "subscription", effect: "subscription" },
  "customer.subscription.deleted": { object: "subscription", effect: "subscription" },
  "charge.refunded": { object: "charge", effect: "charge" },
  "refund.created": { object: "refund", effect: "refund" },
  "refund.updated": { object: "refund", effect: "refund" },
  "refund.failed": { object: "refund", effect: "refund" },
  "charge.dispute.created": { object: "dispute", effect: "dispute" },
  "charge.dispute.updated": { object: "dispute", effect: "dispute" },
  "charge.dispute.closed": { object: "dispute", effect: "dispute" },
  "charge.dispute.funds_withdrawn": { object: "dispute", effect: "dispute" },
  "charge.dispute.funds_reinstated": { object: "dispute", effect: "dispute" },
  "invoice.paid": { object: "invoice", effect: "invoice_paid" },
  "invoice.payment_failed": { object: "invoice", effect: "invoice_failed" },
} as const;

export type HandledEventType = keyof typeof HANDLED_EVENTS;
export type EventEffect = (typeof HANDLED_EVENTS)[HandledEventType]["effect"];
export type SessionEffect = Exclude<
  EventEffect,
  "subscription" | "charge" | "refund" | "dispute" | "invoice_paid" | "invoice_failed"
>;

export const HANDLED_EVENT_TYPES = Object.keys(HANDLED_EVENTS) as HandledEventType[];

export const SUBSCRIPTION_EVENT_TYPES = HANDLED_EVENT_TYPES.filter(
  (type) => HANDLED_EVENTS[type].object === "subscription",
);

/** The registry's entry for a type, or null ("constructor" must not find Object's prototype). */
export function handledEvent(type: string): (typeof HANDLED_EVENTS)[HandledEventType] | null {
  return Object.hasOwn(HANDLED_EVENTS, type) ? HANDLED_EVENTS[type as HandledEventType] : null;
}

/**
 * The types whose news belongs to an order through an id the order learns
 * later (its payment intent or subscription): stored when they come first,
 * and applied when the order names that id (stripe_events.link_id).
 */
export const LINKED_EVENT_TYPES = HANDLED_EVENT_TYPES.filter(
  (type) => HANDLED_EVENTS[type].object !== "checkout.session",
);
