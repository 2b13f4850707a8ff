/**
 * The view models of the success and orders pages: what the loaders hand the
 * components (app/components/order-status.tsx, order-list.tsx). Plain types,
 * here so that server modules (app/lib/orders.server.ts) build them without
 * importing from components/.
 */

/** One line of an order, as the shop asked Stripe to charge it (app/components/order-lines.tsx). */
export type OrderLineView = { name: string; quantity: number; unitPrice: string; lineTotal: string };

/**
 * Stripe's totals of a paid order, formatted, when a promotion code, tax or
 * shipping made the total differ from the subtotal (app/components/OrderTotals.tsx).
 * A line is null when it does not apply.
 */
export type OrderTotalsView = {
  subtotal: string;
  discount: string | null;
  shipping: string | null;
  tax: string | null;
  total: string;
};

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
    /** Subtotal, discount, shipping, tax and total, or null when the total is the subtotal. */
    totals?: OrderTotalsView | null;
  };
};

export type OrderListItem = {
  id: string;
  productName: string;
  quantity: number;
  /** Every line of the order (a cart's checkout has several). */
  lines?: OrderLineView[];
  amount: string | null;
  /** Subtotal, discount, shipping, tax and total, or null when the total is the subtotal. */
  totals?: OrderTotalsView | null;
  /** The state in words: "Paid", "Waiting for your bank"... */
  state: string;
  date: string;
  dateTime: string;
  /** A subscription with a Stripe customer: the billing portal can manage it. */
  canManage: boolean;
};

type Totals = {
  amountSubtotal: number | null;
  amountDiscount: number | null;
  amountTax: number | null;
  amountShipping: number | null;
  amountTotal: number | null;
  currency: string | null;
};

/** The order's totals in words, or null unless a discount, tax or shipping is recorded. */
export function totalsView(
  order: Totals,
  format: (amount: number, currency: string) => string,
): OrderTotalsView | null {
  const { amountSubtotal, amountTotal, currency } = order;
  if (amountSubtotal == null || amountTotal == null || !currency) return null;
  const some = (value: number | null) => (value != null && value > 0 ? value : null);
  const discount = some(order.amountDiscount);
  const tax = some(order.amountTax);
  const shipping = some(order.amountShipping);
  if (discount === null && tax === null && shipping === null) return null;
  return {
    subtotal: format(amountSubtotal, currency),
    discount: discount === null ? null : `-${format(discount, currency)}`,
    shipping: shipping === null ? null : format(shipping, currency),
    tax: tax === null ? null : format(tax, currency),
    total: format(amountTotal, currency),
  };
}
