import { invalid } from "./errors";
import { REFUND_FAILURE_REASONS } from "./lifecycle";
import type { Charge } from "./lifecycle-objects";
import type { EmulatorState, RequestContext } from "./state";

/**
 * Control routes for what Stripe does on its own after a payment: refund an
 * order (a session, or a charge), fail or settle a refund, open, update and
 * close a dispute, renew a subscription with its invoice paid or failed.
 * Shared by the JSON control API (control.ts) and the dashboard page.
 * Returns undefined for any other route.
 */

export type LifecycleResult = { status: number; body: unknown };
type Body = Record<string, unknown>;

const notFound = (message: string): LifecycleResult => ({
  status: 404,
  body: { error: { type: "invalid_request_error", message } },
});

function integer(body: Body, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === "") return undefined;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) throw invalid(`\`${key}\` must be an integer >= 1`, key);
  return n;
}

function text(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(`\`${key}\` must be a string`, key);
  return value;
}

function flag(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (value === true || value === "true" || value === "on") return true;
  if (value === false || value === "false") return false;
  throw invalid(`\`${key}\` must be true or false`, key);
}

function strings(body: Body, key: string): Record<string, string> | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(`\`${key}\` must be an object of strings`, key);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

export function lifecycleControl(
  state: EmulatorState,
  method: string,
  parts: string[],
  body: Body,
  request: RequestContext | null = null,
): LifecycleResult | undefined {
  if (method !== "POST" || parts.length !== 3) return undefined;
  const [kind, id, action] = parts as [string, string, string];
  const life = state.lifecycle;
  const ok = (value: unknown): LifecycleResult => ({ status: 200, body: value });

  if ((kind === "sessions" || kind === "charges") && (action === "refund" || action === "dispute")) {
    let charge: Charge | undefined;
    if (kind === "sessions") {
      const record = state.getSession(id);
      if (!record) return notFound(`No such checkout.session: '${id}'`);
      charge = life.chargeOfSession(record);
      if (!charge) throw invalid(`Checkout Session ${id} has no successful payment to ${action}.`);
    } else {
      charge = life.charges.get(id);
      if (!charge) return notFound(`No such charge: '${id}'`);
    }
    if (action === "refund") {
      const reason = text(body, "reason") ?? null;
      if (reason !== null && !["duplicate", "fraudulent", "requested_by_customer"].includes(reason)) {
        throw invalid("`reason` must be duplicate, fraudulent or requested_by_customer", "reason");
      }
      return ok(
        life.refund(
          charge,
          {
            amount: integer(body, "amount") ?? null,
            reason,
            metadata: strings(body, "metadata") ?? {},
            instructionsEmail: null,
            pending: flag(body, "pending") ?? false,
          },
          request,
        ),
      );
    }
    return ok(life.openDispute(charge, { amount: integer(body, "amount"), reason: text(body, "reason") }, request));
  }

  if (kind === "refunds" && (action === "fail" || action === "succeed")) {
    const refund = life.refunds.get(id);
    if (!refund) return notFound(`No such refund: '${id}'`);
    if (action === "succeed") return ok(life.succeedRefund(refund, request));
    const reason = text(body, "failure_reason") ?? "expired_or_canceled_card";
    if (!REFUND_FAILURE_REASONS.has(reason)) {
      throw invalid(`\`failure_reason\` must be one of ${[...REFUND_FAILURE_REASONS].join(", ")}`, "failure_reason");
    }
    return ok(life.failRefund(refund, reason, request));
  }

  if (kind === "disputes" && (action === "update" || action === "close")) {
    const dispute = life.disputes.get(id);
    if (!dispute) return notFound(`No such dispute: '${id}'`);
    if (action === "update") {
      const evidence = strings(body, "evidence");
      return ok(
        life.updateDispute(
          dispute,
          { evidence, submit: flag(body, "submit"), metadata: strings(body, "metadata") },
          request,
        ),
      );
    }
    const status = text(body, "status");
    if (status !== "won" && status !== "lost") throw invalid("`status` must be won or lost", "status");
    return ok(life.closeDispute(dispute, status, request));
  }

  if (kind === "subscriptions" && action === "advance") {
    const subscription = state.subscriptions.get(id);
    if (!subscription) return notFound(`No such subscription: '${id}'`);
    const outcome = text(body, "outcome") ?? "paid";
    if (outcome !== "paid" && outcome !== "failed") throw invalid("`outcome` must be paid or failed", "outcome");
    return ok(life.advanceSubscription(subscription, outcome, request));
  }
  return undefined;
}
