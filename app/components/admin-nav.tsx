import { Form, Link } from "@remix-run/react";

/** The console's header: its pages and a sign-out button (a form: works without JavaScript). */
export function AdminNav({ email }: { email: string }) {
  return (
    <nav className="admin-nav" aria-label="Console">
      <Link to="/admin">Orders</Link> <Link to="/admin/events">Webhook events</Link> <Link to="/admin/jobs">Jobs</Link>{" "}
      <Link to="/admin/reconcile">Reconcile</Link>
      <Form method="post" action="/admin/logout" className="inline-form">
        <span className="muted">{email}</span> <button type="submit">Sign out</button>
      </Form>
    </nav>
  );
}

const timeFormat = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" });

/** A unix-ms time in UTC, in a <time> element. */
export function Time({ ms }: { ms: number }) {
  const date = new Date(ms);
  return <time dateTime={date.toISOString()}>{timeFormat.format(date)} UTC</time>;
}
