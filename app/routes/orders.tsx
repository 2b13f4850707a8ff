import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import { OrderList } from "~/components/order-list";
import { orUnavailable } from "~/lib/db-errors.server";
import { invariantResponse, readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { listOrders, openBillingPortal } from "~/lib/orders.server";
import { assertSameOrigin } from "~/lib/security.server";
import { getShopper } from "~/lib/session.server";

/**
 * GET /orders: this browser's shopper's checkouts, newest first. POST /orders
 * (the "Manage subscription" form): a Stripe billing portal session for the
 * shopper's own customer, answered with 303 to it.
 */

export const meta: MetaFunction = () => [{ title: "Your orders: Field & Kiln" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request }: LoaderFunctionArgs) {
  const { shopperId, setCookie } = await getShopper(request);
  const headers = new Headers({ "Cache-Control": "no-store" });
  if (setCookie) headers.set("Set-Cookie", setCookie);
  // No cookie is no orders yet, not an error; nothing is created for a visit.
  return json({ orders: shopperId ? await orUnavailable(() => listOrders(shopperId)) : [] }, { headers });
}

export async function action({ request }: ActionFunctionArgs) {
  assertSameOrigin(request);
  const form = await readForm(request, FORM_BODY_LIMIT);
  invariantResponse(form.get("intent") === "portal", "This form is not one we know.", { status: 400 });

  // Only which of the shopper's checkouts is meant; never a customer id.
  const field = form.get("checkout");
  const checkout = typeof field === "string" && field !== "" ? field : null;
  const { shopperId, setCookie } = await getShopper(request);
  const headers = new Headers({ "Cache-Control": "no-store" });
  if (setCookie) headers.set("Set-Cookie", setCookie);

  const portal = await orUnavailable(() => openBillingPortal(shopperId, checkout));
  // 303 so that the browser follows with a GET to Stripe's portal.
  if (portal.ok) return redirect(portal.url, { status: 303, headers });
  return json({ error: { checkout, message: portal.message } }, { status: portal.status, headers });
}

export default function Orders() {
  const { orders } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">Your orders</h1>
      <OrderList orders={orders} error={actionData?.error ?? null} />
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
