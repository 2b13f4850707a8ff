import type { ActionFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";

import { describeDatabaseError, isDatabaseUnavailable, RETRY_AFTER_SECONDS } from "~/lib/db-errors.server";
import { logFor } from "~/lib/logger.server";
import { recordWebhook } from "~/lib/metrics.server";
import { processStripeEvent } from "~/lib/orders/state-machine.server";
import { UserError } from "~/lib/user-error";
import { recordWebhookFailure } from "~/lib/webhook-failures.server";
import { readBoundedBody, verifyWebhook } from "~/lib/webhook.server";

/**
 * POST /stripe/webhook: Stripe tells the shop what happened. The order is
 * the point: bound and read the raw body, verify its signature (nothing is
 * parsed or stored before that), record the event and its effect in one
 * transaction, and only then answer 2xx. Any failure to store answers 5xx so
 * that Stripe delivers again; a duplicate answers 200 and changes nothing.
 * https://docs.stripe.com/webhooks#acknowledge-events-immediately
 */

const NO_STORE = { "Cache-Control": "no-store" };
const ALLOW_POST = { Allow: "POST", ...NO_STORE };

const plain = (status: number, message: string, headers: Record<string, string> = NO_STORE) =>
  new Response(`${message}\n`, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...headers } });

export async function loader() {
  return plain(405, "Method not allowed: Stripe delivers webhooks with POST.", ALLOW_POST);
}

export async function action({ request }: ActionFunctionArgs) {
  if (request.method !== "POST") {
    return plain(405, "Method not allowed: Stripe delivers webhooks with POST.", ALLOW_POST);
  }

  let event;
  let rawBody: string;
  try {
    rawBody = await readBoundedBody(request);
    event = verifyWebhook(rawBody, request.headers.get("Stripe-Signature"));
  } catch (error: unknown) {
    if (error instanceof UserError) {
      recordWebhook(null, "rejected");
      return plain(error.status, error.message);
    }
    throw error;
  }

  const log = logFor(request, { eventId: event.id, eventType: event.type });
  log.info(`webhook received id=${event.id} type=${event.type}`);
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await processStripeEvent(event, { payload: rawBody, source: "webhook" });
    recordWebhook(event.type, result.duplicate ? "duplicate" : "stored", seconds());
    return json(result.duplicate ? { received: true, duplicate: true } : { received: true }, { headers: NO_STORE });
  } catch (error: unknown) {
    // The transaction rolled back: nothing of this event is stored, and
    // Stripe's retry will find the database as if it had never arrived.
    recordWebhook(event.type, "failed", seconds());
    log.error(`webhook not stored id=${event.id} type=${event.type} error=${describeDatabaseError(error)}`);
    // Kept for the console (/admin/events) outside the rolled-back transaction.
    await recordWebhookFailure(event, error);
    return isDatabaseUnavailable(error)
      ? plain(503, "The database cannot take this event right now; Stripe will retry.", {
          ...NO_STORE,
          "Retry-After": String(RETRY_AFTER_SECONDS),
        })
      : plain(500, "The event could not be processed; Stripe will retry.");
  }
}
