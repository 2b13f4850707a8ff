import { Form, Link, useNavigation } from "@remix-run/react";

import type { OrderListItem } from "~/lib/order-views";
import { OrderTotals } from "./OrderTotals";

export type { OrderListItem } from "~/lib/order-views";

/** The shopper's checkouts, newest first, each with a "Manage subscription" form where one applies. */
export function OrderList({
  orders,
  error,
}: {
  orders: OrderListItem[];
  error?: { checkout: string | null; message: string } | null;
}) {
  // An error about one order shows by its form; any other above the list.
  const generalError =
    error && !orders.some((o) => o.id === error.checkout && o.canManage) ? (
      <p role="alert" className="form-error">
        {error.message}
      </p>
    ) : null;
  if (orders.length === 0) {
    return (
      <>
        {generalError}
        <p>
          No orders yet. Orders show up here in the browser you bought them with. <Link to="/">Browse the shop</Link>
        </p>
      </>
    );
  }
  return (
    <>
      {generalError}
      <table className="order-list">
        <thead>
          <tr>
            <th scope="col">Date</th>
            <th scope="col">Product</th>
            <th scope="col">Quantity</th>
            <th scope="col">Amount</th>
            <th scope="col">State</th>
            <th scope="col" aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {orders.map((order) => (
            <tr key={order.id}>
              <td data-label="Date">
                <time dateTime={order.dateTime}>{order.date}</time>
              </td>
              <td data-label="Product">
                {order.lines && order.lines.length > 1 ? (
                  <ul className="order-list-lines">
                    {order.lines.map((line) => (
                      <li key={line.name}>
                        {line.name}: {line.quantity} × {line.unitPrice} = {line.lineTotal}
                      </li>
                    ))}
                  </ul>
                ) : (
                  order.productName
                )}
              </td>
              <td data-label="Quantity">{order.quantity}</td>
              <td data-label="Amount">
                {order.totals ? <OrderTotals totals={order.totals} /> : (order.amount ?? "-")}
              </td>
              <td data-label="State">{order.state}</td>
              <td>
                {order.canManage ? (
                  <ManageSubscriptionForm
                    checkout={order.id}
                    error={error?.checkout === order.id ? error.message : null}
                  />
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * A real form (works without JavaScript). Only the checkout id is sent; the
 * server takes the Stripe customer from its own rows for this shopper.
 */
export function ManageSubscriptionForm({ checkout, error }: { checkout: string; error?: string | null }) {
  const navigation = useNavigation();
  const busy = navigation.state !== "idle" && navigation.formData?.get("checkout") === checkout;
  return (
    <Form method="post" action="/orders" className="manage-subscription">
      <input type="hidden" name="intent" value="portal" />
      <input type="hidden" name="checkout" value={checkout} />
      <button type="submit" disabled={busy} aria-busy={busy || undefined}>
        {busy ? "Opening…" : "Manage subscription"}
      </button>
      {error ? (
        <p role="alert" className="form-error">
          {error}
        </p>
      ) : null}
    </Form>
  );
}
