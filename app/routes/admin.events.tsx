import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { recentEvents } from "~/lib/admin.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { requireOperator } from "~/lib/operators.server";
import { webhookFailureList } from "~/lib/webhook-failures.server";

/** GET /admin/events: deliveries that failed (5xx), then the newest stored Stripe events (types, ids, times; never payloads). */

export const meta: MetaFunction = () => [{ title: "Webhook events: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const events = await orUnavailable(() => recentEvents());
  const failures = await orUnavailable(() => webhookFailureList());
  return json({ operator: operator.email, events, failures }, { headers: { "Cache-Control": "no-store" } });
}

export default function AdminEvents() {
  const { operator, events, failures } = useLoaderData<typeof loader>();
  const failing = failures.filter((failure) => failure.resolvedAt === null).length;
  return (
    <section className="admin" aria-labelledby="events-title">
      <AdminNav email={operator} />
      <h1 id="events-title">Webhook events</h1>
      <h2>Failed deliveries</h2>
      <p className="muted">
        Verified events the shop answered with an error: nothing of them was stored. Stripe retries them, and the
        reconcile run replays them; one is resolved once a later delivery is stored.
      </p>
      {failures.length === 0 ? (
        <p>No failed deliveries.</p>
      ) : (
        <>
          <p role="status" className={failing > 0 ? "notice" : undefined}>
            {failing} still failing, {failures.length - failing} resolved.
          </p>
          <ol className="webhook-failures">
            {failures.map((failure) => (
              <li key={failure.eventId}>
                <span className="event-type">{failure.type}</span> <code>{failure.eventId}</code>:{" "}
                <span className="failure-state">{failure.resolvedAt === null ? "failing" : "resolved"}</span>, error{" "}
                <code>{failure.error}</code>, {failure.count} failed deliver{failure.count === 1 ? "y" : "ies"}
                <br />
                first <Time ms={failure.firstAt} />, last <Time ms={failure.lastAt} />
                {failure.resolvedAt === null ? null : (
                  <>
                    , stored <Time ms={failure.resolvedAt} />
                  </>
                )}
              </li>
            ))}
          </ol>
        </>
      )}

      <h2>Stored events</h2>
      <p className="muted">Newest first.</p>
      {events.length === 0 ? (
        <p>No events stored yet.</p>
      ) : (
        <ol className="timeline">
          {events.map((event) => (
            <li key={event.id}>
              <span className="event-type">{event.type}</span> <code>{event.id}</code>
              {event.objectId?.startsWith("cs_") ? (
                <>
                  {" "}
                  for <Link to={`/admin/orders/${event.objectId}`}>{event.objectId}</Link>
                </>
              ) : event.objectId ? (
                <>
                  {" "}
                  for <code>{event.objectId}</code>
                </>
              ) : null}
              <br />
              received <Time ms={event.receivedAt} /> by {event.source}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
