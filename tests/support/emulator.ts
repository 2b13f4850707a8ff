/**
 * The control API of the bundled Stripe emulator (stripe-emulator), for
 * tests. The base URL is the STRIPE_API_BASE the app uses, unless given.
 */

import type Stripe from "stripe";

import type { RecordedRequest } from "../../stripe-emulator/runtime";

export type Delivery = { eventId: string; type: string; attempt: number; status: number; at: number };

export function emulatorControl(base: string = process.env.STRIPE_API_BASE ?? "") {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${base}/_emulator${path}`, {
      method,
      headers: body === undefined ? undefined : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`emulator ${method} ${path}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
  return {
    url: base,
    reset: () => call<void>("POST", "/reset"),
    requests: () => call<RecordedRequest[]>("GET", "/requests"),
    /** The recorded /v1 requests for one method and path prefix. */
    async requestsTo(method: string, pathPrefix: string) {
      return (await call<RecordedRequest[]>("GET", "/requests")).filter(
        (r) => r.method === method && r.path.startsWith(pathPrefix),
      );
    },
    setWebhook: (url: string | null, secret?: string) => call<void>("POST", "/webhook", { url, secret }),
    delivery: (options: {
      mode?: "normal" | "drop" | "hold";
      delayMs?: number;
      duplicate?: boolean;
      order?: "normal" | "reverse";
    }) => call<void>("POST", "/delivery", options),
    release: () => call<void>("POST", "/deliveries/release"),
    redeliver: (eventId: string) => call<void>("POST", "/deliveries/redeliver", { eventId }),
    deliveries: () => call<Delivery[]>("GET", "/deliveries"),
    waitForDeliveries: (count: number, timeoutMs = 10_000) =>
      call<Delivery[]>("GET", `/deliveries/wait?count=${count}&timeoutMs=${timeoutMs}`),
    fault: (fault: { method?: string; pathPrefix?: string; status?: number; hang?: boolean; count?: number }) =>
      call<void>("POST", "/faults", fault),
    clearFaults: () => call<void>("DELETE", "/faults"),
    pay: (sessionId: string, method: "card" | "delayed" = "card", email = "shopper@example.com") =>
      call<Record<string, unknown>>("POST", `/sessions/${sessionId}/pay`, { method, email }),
    /** Pays as a shopper filling in Checkout's options: promotion_code, shipping_rate, shipping, phone, terms_accepted. */
    payWith: (sessionId: string, details: Record<string, unknown>, email = "shopper@example.com") =>
      call<Stripe.Checkout.Session>("POST", `/sessions/${sessionId}/pay`, { method: "card", email, ...details }),
    decline: (sessionId: string) => call<Record<string, unknown>>("POST", `/sessions/${sessionId}/decline`),
    asyncSucceed: (sessionId: string) => call<Record<string, unknown>>("POST", `/sessions/${sessionId}/async_succeed`),
    asyncFail: (sessionId: string) => call<Record<string, unknown>>("POST", `/sessions/${sessionId}/async_fail`),
    expire: (sessionId: string) => call<Record<string, unknown>>("POST", `/sessions/${sessionId}/expire`),
    cancelSubscription: (id: string) => call<Record<string, unknown>>("POST", `/subscriptions/${id}/cancel`),
    updateSubscription: (id: string, status: string) =>
      call<Record<string, unknown>>("POST", `/subscriptions/${id}/update`, { status }),
    /** Refunds an order's charge (all that is left without `amount`); `pending` leaves the refund pending. */
    refund: (sessionId: string, options: { amount?: number; reason?: string; pending?: boolean } = {}) =>
      call<Stripe.Refund>("POST", `/sessions/${sessionId}/refund`, options),
    failRefund: (refundId: string, failure_reason?: string) =>
      call<Stripe.Refund>("POST", `/refunds/${refundId}/fail`, { failure_reason }),
    settleRefund: (refundId: string) => call<Stripe.Refund>("POST", `/refunds/${refundId}/succeed`),
    dispute: (sessionId: string, options: { amount?: number; reason?: string } = {}) =>
      call<Stripe.Dispute>("POST", `/sessions/${sessionId}/dispute`, options),
    updateDispute: (disputeId: string, evidence: Record<string, string> = { uncategorized_text: "Delivered." }) =>
      call<Stripe.Dispute>("POST", `/disputes/${disputeId}/update`, { evidence }),
    closeDispute: (disputeId: string, status: "won" | "lost") =>
      call<Stripe.Dispute>("POST", `/disputes/${disputeId}/close`, { status }),
    /** One billing period on (or a retry of a past-due invoice), its invoice paid or failed. */
    advanceSubscription: (id: string, outcome: "paid" | "failed" = "paid") =>
      call<{ subscription: Stripe.Subscription; invoice: Stripe.Invoice }>("POST", `/subscriptions/${id}/advance`, {
        outcome,
      }),
  };
}

export type EmulatorControl = ReturnType<typeof emulatorControl>;
