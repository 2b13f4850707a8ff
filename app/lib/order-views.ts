/**
 * The view models of the success and orders pages: what the loaders hand the
 * components (app/components/order-status.tsx, order-list.tsx). Plain types,
 * here so that server modules (app/lib/orders.server.ts) build them without
 * importing from components/.
 */

/** One line of an order, as the shop asked Stripe to charge it (app/components/order-lines.tsx). */
export type OrderLineView = { name: string; quantity: number; unitPrice: string; lineTotal: string };

export type SuccessState = "paid" | "review" | "processing" | "waiting_for_bank" | "failed" | "expired";

export type SuccessView = {
  state: SuccessState;
  /** Seconds before the page reloads itself (no JavaScript needed), or null when the state is final. */
  refreshSeconds: number | null;
  order: {
    productName: string;
    productSlug: string;
    mode: "payment" | "subscription";
    quantity: number;
    /** Every line of the order (a cart's checkout has several). */
    lines?: OrderLineView[];
    /** A cart's checkout: "try again" leads back to the cart, not to a product. */
    fromCart?: boolean;
    amount: string | null;
    email: string | null;
    /** A subscription's billing interval ("month"), when known. */
    interval?: string | null;
    /** What happened to the money after the payment (refund, dispute, failed renewal), or null. */
    afterPayment: string | null;
  };
};

export type OrderListItem = {
  id: string;
  productName: string;
  quantity: number;
  /** Every line of the order (a cart's checkout has several). */
  lines?: OrderLineView[];
  amount: string | null;
  /** The state in words: "Paid", "Waiting for your bank"... */
  state: string;
  date: string;
  dateTime: string;
  /** A subscription with a Stripe customer: the billing portal can manage it. */
  canManage: boolean;
};
