import { sql } from "drizzle-orm";
import type Stripe from "stripe";

import { logger } from "../logger.server";
import { handledEvent } from "./events";
import { linkIdOf } from "./link";
import {
  chargeNews,
  disputeNews,
  invoiceNews,
  type Job,
  refundNews,
  type StoredNews,
  sessionFacts,
  subscriptionNews,
} from "./transition";

export type ApplyResult = {
  /** The event had been recorded before: nothing was done. */
  duplicate: boolean;
  /** The checkout's id, when the event or session concerns one this shop created. */
  checkoutId: string | null;
  changed: boolean;
  /** This call fulfilled the checkout. */
  fulfilled: boolean;
  flag: string | null;
  /** Jobs the decision enqueues (kind + key): the job queue is wired in by the stores' caller. */
  jobs: Job[];
};

export type EventSource = "webhook" | "reconcile" | "success_page";

/** An event a store is asked to record, and the delivery waiting on it in a group commit. */
export type Delivery = { event: Stripe.Event; payload: string | undefined; source: EventSource };
export type Pending = Delivery & { resolve: (result: ApplyResult) => void; reject: (error: unknown) => void };

export const nothing = (checkoutId: string | null = null): ApplyResult => ({
  duplicate: false,
  checkoutId,
  changed: false,
  fulfilled: false,
  flag: null,
  jobs: [],
});

/** Every kind of news but a session's: the payload of a stored event, applied when its order is linked. */
export function storedNews(stored: { payload: string }): StoredNews | null {
  return newsOf(JSON.parse(stored.payload) as Stripe.Event);
}

/** What an event tells the state machine, or null (a type it does not act on, or an object it cannot read). */
export function newsOf(event: Pick<Stripe.Event, "type" | "created" | "data">): StoredNews | null {
  const handled = handledEvent(event.type);
  if (!handled) return null;
  const object: unknown = event.data?.object;
  if (handled.effect === "subscription") return subscriptionNews(object, event.created);
  if (handled.effect === "charge") return chargeNews(object, event.created);
  if (handled.effect === "refund") return refundNews(object, event.created);
  if (handled.effect === "dispute") return disputeNews(object, event.created);
  if (handled.effect === "invoice_paid") return invoiceNews(object, event.created, true);
  if (handled.effect === "invoice_failed") return invoiceNews(object, event.created, false);
  const session = sessionFacts(object);
  return session ? { kind: "session", effect: handled.effect, session } : null;
}

/** The id of the event's data.object (cs_..., sub_...), when it is a string. */
export function objectIdOf(event: Pick<Stripe.Event, "data">): string | null {
  const id = (event.data?.object as { id?: unknown } | undefined)?.id;
  return typeof id === "string" ? id : null;
}

/**
 * The placeholders of eventRow's fields, for the stores' prepared or named
 * INSERT of that row (the same names in both dialects' tables).
 */
export const eventRowPlaceholders = () => {
  const p = sql.placeholder;
  return {
    id: p("id"),
    type: p("type"),
    created: p("created"),
    livemode: p("livemode"),
    payload: p("payload"),
    objectId: p("objectId"),
    linkId: p("linkId"),
    source: p("source"),
  };
};

/** The stripe_events row of an event, as both stores insert it (the id is the key: a repeat inserts nothing). */
export function eventRow(
  event: Stripe.Event,
  news: StoredNews | null,
  payload: string | undefined,
  source: EventSource,
) {
  return {
    id: event.id,
    type: event.type,
    created: event.created,
    livemode: event.livemode,
    payload: payload ?? JSON.stringify(event),
    objectId: objectIdOf(event),
    linkId: news ? linkIdOf(news) : null,
    source,
  };
}

export function warnForeign(news: StoredNews) {
  if (news.kind !== "session") return;
  const { effect, session } = news;
  // A payment link, another app on the same account, or a session from before
  // this database: the event is recorded, nothing is fulfilled.
  if (effect === "completed" || effect === "async_succeeded") {
    logger.warn(
      { checkoutId: session.id },
      `checkout not created by this shop, not fulfilled session=${session.id} client_reference_id=${session.clientReferenceId ?? "-"} payment_link=${session.paymentLinkId ?? "-"}`,
    );
  }
}
