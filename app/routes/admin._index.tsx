import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { findOrders, parseFilter } from "~/lib/admin.server";
import { ORDER_FILTERS } from "~/lib/admin-filters";
import { orUnavailable } from "~/lib/db-errors.server";
import { requireOperator } from "~/lib/operators.server";

/** GET /admin: orders, found by checkout id, payment intent or email and a state; flagged first. */

export const meta: MetaFunction = () => [{ title: "Orders: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const params = new URL(request.url).searchParams;
  const q = params.get("q") ?? "";
  const state = parseFilter(params.get("state"));
  const orders = await orUnavailable(() => findOrders(q, state));
  return json({ operator: operator.email, q, state, orders }, { headers: { "Cache-Control": "no-store" } });
}

export default function AdminOrders() {
  const { operator, q, state, orders } = useLoaderData<typeof loader>();
  return (
    <section className="admin" aria-labelledby="orders-title">
      <AdminNav email={operator} />
      <h1 id="orders-title">Orders</h1>
      <Form method="get" className="admin-form">
        <label>
          Checkout id, payment intent or email
          <input type="search" name="q" defaultValue={q} />
        </label>
        <label>
          State
          <select name="state" defaultValue={state}>
            {ORDER_FILTERS.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Find</button>
      </Form>
      {orders.length === 0 ? (
        <p>No orders match.</p>
      ) : (
        <ul className="admin-list">
          {orders.map((order) => (
            <li key={order.id} className={order.flag ? "flagged" : undefined}>
              <Link to={`/admin/orders/${order.id}`}>
                <code>{order.id}</code>
              </Link>
              <br />
              {order.product}, {order.amount ?? "no amount"}, <span className="state">{order.state}</span>
              {order.email ? `, ${order.email}` : null}
              <br />
              <Time ms={order.createdAt} />
              {order.flag ? (
                <p className="flag">
                  <strong>Flagged:</strong> {order.flag}
                </p>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
