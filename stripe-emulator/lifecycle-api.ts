import { invalid, noSuch, unknownParam } from "./errors";
import { createdFilter, paginate } from "./lists";
import type { Params } from "./params";
import { optString, type EmulatorState, type RequestContext } from "./state";

/**
 * The /v1 routes for what follows a payment: refunds (create, retrieve,
 * update, list), charges, disputes (retrieve, list, close) and invoices
 * (retrieve, list). Returns undefined for any other path, so that api.ts
 * answers it.
 */

const PAGINATION = ["limit", "starting_after", "ending_before", "expand"];

function allowOnly(params: Params, allowed: readonly string[]) {
  for (const key of Object.keys(params)) if (!allowed.includes(key)) throw unknownParam(key);
}

export function lifecycleRoute(
  state: EmulatorState,
  method: string,
  parts: string[],
  params: Params,
  request: RequestContext,
): object | undefined {
  const life = state.lifecycle;
  const [resource, id, action] = parts;
  const one = parts.length === 2;
  const list = parts.length === 1;

  switch (resource) {
    case "refunds": {
      if (method === "POST" && list) return life.createRefund(params, request);
      if (method === "POST" && one) return life.updateRefund(refundOf(state, id!), params);
      if (method === "GET" && one) {
        allowOnly(params, ["expand"]);
        return refundOf(state, id!);
      }
      if (method === "GET" && list) {
        allowOnly(params, [...PAGINATION, "charge", "payment_intent", "created"]);
        const charge = optString(params, "charge");
        const intent = optString(params, "payment_intent");
        const created = createdFilter(params);
        return paginate(life.refunds.all(), params, {
          url: "/v1/refunds",
          kind: "refund",
          positionOf: (r) => life.refunds.position(r),
          filter: (r) =>
            (charge === null || r.charge === charge) &&
            (intent === null || r.payment_intent === intent) &&
            (!created || created(r.created)),
        });
      }
      return undefined;
    }
    case "charges": {
      if (method === "GET" && one) {
        allowOnly(params, ["expand"]);
        const charge = life.charges.get(id!);
        if (!charge) throw noSuch("charge", id!, "id");
        return charge;
      }
      if (method === "GET" && list) {
        allowOnly(params, [...PAGINATION, "customer", "payment_intent", "created", "transfer_group"]);
        const customer = optString(params, "customer");
        const intent = optString(params, "payment_intent");
        const created = createdFilter(params);
        return paginate(life.charges.all(), params, {
          url: "/v1/charges",
          kind: "charge",
          positionOf: (c) => life.charges.position(c),
          filter: (c) =>
            (customer === null || c.customer === customer) &&
            (intent === null || c.payment_intent === intent) &&
            (!created || created(c.created)),
        });
      }
      return undefined;
    }
    case "disputes": {
      if (method === "GET" && one) {
        allowOnly(params, ["expand"]);
        return disputeOf(state, id!);
      }
      if (method === "POST" && parts.length === 3 && action === "close") {
        // The merchant accepts the dispute: it is lost.
        allowOnly(params, ["expand"]);
        return life.closeDispute(disputeOf(state, id!), "lost", request);
      }
      if (method === "GET" && list) {
        allowOnly(params, [...PAGINATION, "charge", "payment_intent", "created"]);
        const charge = optString(params, "charge");
        const intent = optString(params, "payment_intent");
        const created = createdFilter(params);
        return paginate(life.disputes.all(), params, {
          url: "/v1/disputes",
          kind: "dispute",
          positionOf: (d) => life.disputes.position(d),
          filter: (d) =>
            (charge === null || d.charge === charge) &&
            (intent === null || d.payment_intent === intent) &&
            (!created || created(d.created)),
        });
      }
      return undefined;
    }
    case "invoices": {
      if (method === "GET" && one) {
        allowOnly(params, ["expand"]);
        const invoice = life.invoices.get(id!);
        if (!invoice) throw noSuch("invoice", id!, "invoice");
        return invoice;
      }
      if (method === "GET" && list) {
        allowOnly(params, [
          ...PAGINATION,
          "collection_method",
          "created",
          "customer",
          "customer_account",
          "due_date",
          "status",
          "subscription",
        ]);
        const subscription = optString(params, "subscription");
        const customer = optString(params, "customer");
        const status = optString(params, "status");
        if (status !== null && !["draft", "open", "paid", "uncollectible", "void"].includes(status)) {
          throw invalid("Invalid status: must be one of draft, open, paid, uncollectible, or void", "status");
        }
        const collection = optString(params, "collection_method");
        const created = createdFilter(params);
        return paginate(life.invoices.all(), params, {
          url: "/v1/invoices",
          kind: "invoice",
          positionOf: (i) => life.invoices.position(i),
          filter: (i) =>
            (subscription === null || i.parent?.subscription_details?.subscription === subscription) &&
            (customer === null || i.customer === customer) &&
            (status === null || i.status === status) &&
            (collection === null || i.collection_method === collection) &&
            (!created || created(i.created)),
        });
      }
      return undefined;
    }
  }
  return undefined;
}

function refundOf(state: EmulatorState, id: string) {
  const refund = state.lifecycle.refunds.get(id);
  if (!refund) throw noSuch("refund", id, "id");
  return refund;
}

function disputeOf(state: EmulatorState, id: string) {
  const dispute = state.lifecycle.disputes.get(id);
  if (!dispute) throw noSuch("dispute", id, "dispute");
  return dispute;
}
