import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { orderDetail } from "~/lib/admin.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { invariantResponse } from "~/lib/http.server";
import { requireOperator } from "~/lib/operators.server";

/** GET /admin/orders/:id: one order, its state and flags, each state change with its cause, every stored event about it, its jobs. */

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `${data?.order.id ?? "Order"}: console` }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request, params }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const order = await orUnavailable(() => orderDetail(params.id ?? ""));
  invariantResponse(order, "No order with that id.", { status: 404 });
  const refunded = new URL(request.url).searchParams.get("refund");
  return json(
    { operator: operator.email, order, refundRequested: refunded && /^re_\w+$/.test(refunded) ? refunded : null },
    { headers: { "Cache-Control": "no-store" } },
  );
}

export default function AdminOrder() {
  const { operator, order, refundRequested } = useLoaderData<typeof loader>();
  return (
    <section className="admin" aria-labelledby="order-title">
      <AdminNav email={operator} />
      <h1 id="order-title">
        Order <code>{order.id}</code>
      </h1>
      {refundRequested ? (
        <p role="status" className="notice">
          Refund <code>{refundRequested}</code> was sent to Stripe. The order changes when Stripe's event arrives.
        </p>
      ) : null}
      <dl className="admin-facts">
        <dt>State</dt>
        <dd className="state">
          {order.status} / {order.paymentStatus}
          {order.subscriptionStatus ? ` / subscription ${order.subscriptionStatus}` : null} ({order.stateInWords})
        </dd>
        {order.lines.length > 1 ? (
          <>
            <dt>Lines</dt>
            <dd>
              <ul>
                {order.lines.map((line) => (
                  <li key={line.name}>
                    {line.quantity} × {line.name} at {line.unitPrice}: {line.lineTotal}
                  </li>
                ))}
              </ul>
              ({order.mode})
            </dd>
          </>
        ) : (
          <>
            <dt>Line</dt>
            <dd>
              {order.quantity} × {order.product} ({order.mode})
            </dd>
          </>
        )}
        <dt>Amount</dt>
        <dd>{order.amount ?? "not known yet"}</dd>
        <dt>Email</dt>
        <dd>{order.email ?? "none"}</dd>
        <dt>Payment intent</dt>
        <dd>{order.paymentIntentId ? <code>{order.paymentIntentId}</code> : "none"}</dd>
        <dt>Fulfilled</dt>
        <dd>{order.fulfilledAt ? <Time ms={order.fulfilledAt} /> : "no"}</dd>
        <dt>Flag</dt>
        <dd className="flag">{order.flag ?? "none"}</dd>
        <dt>Created</dt>
        <dd>
          <Time ms={order.createdAt} />
        </dd>
        <dt>Last change</dt>
        <dd>
          <Time ms={order.updatedAt} />
        </dd>
      </dl>

      <h2 id="changes-title">State changes</h2>
      {order.changes.length === 0 ? (
        <p>No state change recorded for this order yet.</p>
      ) : (
        <ol className="state-changes" aria-labelledby="changes-title">
          {order.changes.map((change) => (
            <li key={change.id}>
              <Time ms={change.at} />: {change.changes.join(", ")}
              <br />
              {change.eventId ? (
                <>
                  by <span className="event-type">{change.eventType ?? "event"}</span> <code>{change.eventId}</code> (
                  {change.source})
                </>
              ) : (
                <>
                  by{" "}
                  {change.source === "success_page"
                    ? "the success page asking Stripe"
                    : "the reconcile run asking Stripe"}
                </>
              )}
            </li>
          ))}
        </ol>
      )}

      <h2>Events</h2>
      {order.events.length === 0 ? (
        <p>No events stored for this order yet.</p>
      ) : (
        <ol className="timeline">
          {order.events.map((event) => (
            <li key={event.id}>
              <span className="event-type">{event.type}</span> <code>{event.id}</code>
              <br />
              created <Time ms={event.created * 1000} />, received <Time ms={event.receivedAt} /> by {event.source}
            </li>
          ))}
        </ol>
      )}

      <h2>Jobs</h2>
      {order.jobs.length === 0 ? (
        <p>No jobs for this order.</p>
      ) : (
        <ul className="order-jobs">
          {order.jobs.map((job) => (
            <li key={job.id}>
              #{job.id} {job.kind} <code>{job.key}</code>: <span className="job-state">{job.state}</span>,{" "}
              {job.attempts} attempt{job.attempts === 1 ? "" : "s"}
              {job.lastError ? `, last error: ${job.lastError}` : null} (updated <Time ms={job.updatedAt} />)
            </li>
          ))}
        </ul>
      )}

      {order.refundable ? (
        <>
          <h2>Refund</h2>
          <Form method="get" action={`/admin/orders/${order.id}/refund`} className="admin-form">
            <label>
              Amount (empty: all that is left)
              <input type="text" name="amount" inputMode="decimal" placeholder="e.g. 5.00" />
            </label>
            <button type="submit">Review refund</button>
          </Form>
        </>
      ) : null}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary messages={{ 404: "No order with that id." }} />;
}
