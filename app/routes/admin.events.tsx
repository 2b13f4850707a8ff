import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { recentEvents } from "~/lib/admin.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { requireOperator } from "~/lib/operators.server";

/** GET /admin/events: the newest stored Stripe events (types, ids, times; never payloads). */

export const meta: MetaFunction = () => [{ title: "Webhook events: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const events = await orUnavailable(() => recentEvents());
  return json({ operator: operator.email, events }, { headers: { "Cache-Control": "no-store" } });
}

export default function AdminEvents() {
  const { operator, events } = useLoaderData<typeof loader>();
  return (
    <section className="admin" aria-labelledby="events-title">
      <AdminNav email={operator} />
      <h1 id="events-title">Webhook events</h1>
      <p className="muted">
        Stored events, newest first. A delivery that failed was not stored: Stripe retries it, and reconcile replays it.
      </p>
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
