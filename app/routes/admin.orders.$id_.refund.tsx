import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData } from "@remix-run/react";

import { AdminNav } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import {
  checkRefundToken,
  newRefundToken,
  orderDetail,
  parseAmount,
  type Refundable,
  refundableAmount,
  sendRefund,
} from "~/lib/admin.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { invariantResponse, readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { formatMoney } from "~/lib/money";
import { requireOperator } from "~/lib/operators.server";
import { assertSameOrigin } from "~/lib/security.server";
import { Stripe } from "~/lib/stripe.server";

/**
 * GET /admin/orders/:id/refund?amount=5.00: the confirm page (what Stripe says
 * is left, the amount, a hidden one-time token). POST: `refunds.create` with
 * the token as its idempotency key, then back to the order, which changes
 * when Stripe's refund event arrives (docs/decisions/142-console-refunds.md).
 */

export const meta: MetaFunction = () => [{ title: "Confirm refund: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

async function refundableOrder(request: Request, id: string) {
  const operator = await orUnavailable(() => requireOperator(request));
  const order = await orUnavailable(() => orderDetail(id));
  invariantResponse(order, "No order with that id.", { status: 404 });
  invariantResponse(order.refundable && order.paymentIntentId, "This order has no payment to refund.", { status: 400 });
  let left: Refundable | null;
  try {
    left = await refundableAmount(order.paymentIntentId);
  } catch (error: unknown) {
    if (error instanceof Stripe.errors.StripeError) {
      throw new Response("Stripe did not answer about this payment. Nothing was sent; try again.", {
        status: 502,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    throw error;
  }
  invariantResponse(left, "Stripe knows no charge for this payment.", { status: 400 });
  return { operator, order, left };
}

const tooLarge = (amount: number, left: Refundable) =>
  left.left === 0
    ? "This payment is already refunded in full. Nothing was sent."
    : `${formatMoney(amount, left.currency)} is more than is left to refund (${formatMoney(left.left, left.currency)}). Nothing was sent.`;

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { operator, order, left } = await refundableOrder(request, params.id ?? "");
  const field = new URL(request.url).searchParams.get("amount")?.trim() ?? "";
  const amount = field === "" ? left.left : parseAmount(field, left.currency);
  const base = {
    operator: operator.email,
    orderId: order.id,
    charged: formatMoney(left.charged, left.currency),
    refunded: formatMoney(left.refunded, left.currency),
    leftText: formatMoney(left.left, left.currency),
  };
  const headers = { "Cache-Control": "no-store" };
  if (amount === null) {
    return json(
      { ...base, error: "Enter an amount such as 5.00, or leave it empty for all that is left.", confirm: null },
      { status: 400, headers },
    );
  }
  if (amount > left.left || left.left === 0) {
    return json({ ...base, error: tooLarge(amount, left), confirm: null }, { status: 400, headers });
  }
  return json(
    {
      ...base,
      error: null,
      confirm: { amount, amountText: formatMoney(amount, left.currency), token: newRefundToken(order.id, amount) },
    },
    { headers },
  );
}

export async function action({ request, params }: ActionFunctionArgs) {
  assertSameOrigin(request);
  const id = params.id ?? "";
  const { left, order } = await refundableOrder(request, id);
  const form = await readForm(request, FORM_BODY_LIMIT);
  const amount = Number(form.get("amount"));
  const nonce =
    Number.isSafeInteger(amount) && amount > 0 ? checkRefundToken(String(form.get("token") ?? ""), id, amount) : null;
  if (nonce === null) {
    return json(
      { error: "This confirmation is not valid. Open the refund page again. Nothing was sent." },
      { status: 400 },
    );
  }
  if (amount > left.left) return json({ error: tooLarge(amount, left) }, { status: 400 });
  const result = await sendRefund(order.paymentIntentId!, amount, nonce);
  if (!result.ok) return json({ error: result.message }, { status: result.status });
  return redirect(`/admin/orders/${id}?refund=${result.refundId}`, 303);
}

export default function AdminRefund() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const error = actionData?.error ?? data.error;
  return (
    <section className="admin" aria-labelledby="refund-title">
      <AdminNav email={data.operator} />
      <h1 id="refund-title">
        Refund order <code>{data.orderId}</code>
      </h1>
      <p>
        Charged {data.charged}; refunded so far {data.refunded}; left {data.leftText}.
      </p>
      {error ? (
        <p role="alert" className="error-message">
          {error}
        </p>
      ) : null}
      {data.confirm && !actionData ? (
        <Form method="post" className="admin-form">
          <input type="hidden" name="amount" value={data.confirm.amount} />
          <input type="hidden" name="token" value={data.confirm.token} />
          <p>
            Refund <strong>{data.confirm.amountText}</strong> to the customer?
          </p>
          <button type="submit">Confirm refund of {data.confirm.amountText}</button>
        </Form>
      ) : null}
      <p>
        <Link to={`/admin/orders/${data.orderId}`}>Back to the order</Link>
      </p>
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary messages={{ 404: "No order with that id." }} />;
}
