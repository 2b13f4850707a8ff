import type { OrderTotalsView } from "~/lib/order-views";

/** Subtotal, discount, shipping, tax and total of an order: Stripe's figures, each line only when it applies. */
export function OrderTotals({ totals }: { totals: OrderTotalsView }) {
  const lines: Array<[string, string | null, string]> = [
    ["Subtotal", totals.subtotal, "subtotal"],
    ["Discount", totals.discount, "discount"],
    ["Shipping", totals.shipping, "shipping"],
    ["Tax", totals.tax, "tax"],
    ["Total", totals.total, "total"],
  ];
  return (
    <dl className="order-totals">
      {lines.map(([label, value, key]) =>
        value === null ? null : (
          <div key={key} className={`order-totals-${key}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ),
      )}
    </dl>
  );
}
