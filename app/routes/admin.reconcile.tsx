import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { reconcileStatus } from "~/lib/admin.server";
import { orUnavailable } from "~/lib/db-errors.server";
import { readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { requireOperator } from "~/lib/operators.server";
import { formatReport, LockHeldError, ReconcileError, reconcile } from "~/lib/reconcile.server";
import { assertSameOrigin } from "~/lib/security.server";

/**
 * GET /admin/reconcile: the checkpoint's age, when it last moved, the last
 * run's report (job_runs, written by every run: CLI, schedule, console) and
 * who holds the lease. POST ("Run now"): one reconcile run in this request, if nobody
 * else holds the lease (the CLI's and the schedule's lease: never two at once).
 */

export const meta: MetaFunction = () => [{ title: "Reconcile: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader({ request }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const status = await orUnavailable(() => reconcileStatus());
  return json({ operator: operator.email, status }, { headers: { "Cache-Control": "no-store" } });
}

export async function action({ request }: ActionFunctionArgs) {
  assertSameOrigin(request);
  await orUnavailable(() => requireOperator(request));
  const form = await readForm(request, FORM_BODY_LIMIT);
  if (form.get("intent") !== "run")
    return json({ ok: false, lines: ["This form is not one we know."] }, { status: 400 });
  try {
    const report = await orUnavailable(() => reconcile({ waitForLockMs: 0 }));
    return json({ ok: report.ok, lines: formatReport(report) });
  } catch (error: unknown) {
    if (error instanceof LockHeldError) {
      return json(
        { ok: false, lines: ["Another reconcile run holds the lease. Nothing was started; try again later."] },
        { status: 409 },
      );
    }
    if (error instanceof ReconcileError) {
      return json({ ok: false, lines: [error.message, ...formatReport(error.report)] }, { status: 502 });
    }
    throw error;
  }
}

export default function AdminReconcile() {
  const { operator, status } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  return (
    <section className="admin" aria-labelledby="reconcile-title">
      <AdminNav email={operator} />
      <h1 id="reconcile-title">Reconcile</h1>
      <dl className="admin-facts">
        <dt>Checkpoint</dt>
        <dd className="checkpoint">
          {status.checkpoint === null ? (
            "none yet: no run has completed"
          ) : (
            <>
              <Time ms={status.checkpoint * 1000} /> ({status.checkpointAgeSeconds} s old)
            </>
          )}
        </dd>
        <dt>Checkpoint last moved</dt>
        <dd>{status.lastRunAt ? <Time ms={status.lastRunAt} /> : "never"}</dd>
        <dt>Last run</dt>
        <dd className="last-run">
          {status.lastRun ? (
            <>
              finished <Time ms={status.lastRun.finishedAt} />, {status.lastRun.ok ? "complete" : "incomplete"}
            </>
          ) : (
            "none yet"
          )}
        </dd>
        <dt>Lease</dt>
        <dd className="lease">
          {status.lease ? (
            <>
              held until <Time ms={status.lease.expiresAt} />
            </>
          ) : (
            "free"
          )}
        </dd>
      </dl>
      {status.lastRun ? (
        <>
          <h2>Last run's report</h2>
          <pre className="reconcile-report">{status.lastRun.report.join("\n")}</pre>
        </>
      ) : null}
      {result ? (
        <div role="status" className={result.ok ? "notice" : "error-message"}>
          {result.lines.map((line) => (
            <p key={line}>{line}</p>
          ))}
        </div>
      ) : null}
      <Form method="post">
        <input type="hidden" name="intent" value="run" />
        <button type="submit">Run now</button>
      </Form>
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
