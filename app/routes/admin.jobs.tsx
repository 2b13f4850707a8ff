import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, useLoaderData } from "@remix-run/react";

import { AdminNav, Time } from "~/components/admin-nav";
import { GeneralErrorBoundary } from "~/components/error-boundary";
import { orUnavailable } from "~/lib/db-errors.server";
import { readForm } from "~/lib/http.server";
import { configuredJobDatabase } from "~/lib/jobs/start.server";
import { JOB_STATES } from "~/lib/jobs/types";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { requireOperator } from "~/lib/operators.server";
import { assertSameOrigin } from "~/lib/security.server";

/**
 * GET /admin/jobs: jobs by state and the dead ones with their last error.
 * POST (intent retry with an id, or retry-all): the dead job(s) pending again
 * with attempts from zero, through the store operation `npm run jobs --retry`
 * uses (docs/decisions/145-console-jobs.md).
 */

const DEAD_SHOWN = 100;

export const meta: MetaFunction = () => [{ title: "Jobs: console" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

const text = (message: string, status: number) =>
  new Response(message, { status, headers: { "Content-Type": "text/plain; charset=utf-8" } });

export async function loader({ request }: LoaderFunctionArgs) {
  const operator = await orUnavailable(() => requireOperator(request));
  const { store } = configuredJobDatabase();
  const counts = await orUnavailable(() => store.counts());
  const dead = await orUnavailable(() => store.list({ state: "dead", limit: DEAD_SHOWN }));
  const retried = new URL(request.url).searchParams.get("retried");
  return json(
    {
      operator: operator.email,
      counts: JOB_STATES.map((state) => ({ state, n: counts[state] })),
      dead: dead.map(({ id, kind, key, attempts, lastError, createdAt, updatedAt }) => ({
        id,
        kind,
        key,
        attempts,
        lastError,
        createdAt,
        updatedAt,
      })),
      retried: retried && /^\d{1,9}$/.test(retried) ? Number(retried) : null,
    },
    { headers: { "Cache-Control": "no-store" } },
  );
}

export async function action({ request }: ActionFunctionArgs) {
  assertSameOrigin(request);
  await orUnavailable(() => requireOperator(request));
  const form = await readForm(request, FORM_BODY_LIMIT);
  const { store } = configuredJobDatabase();
  const intent = form.get("intent");
  if (intent === "retry-all") {
    const n = await orUnavailable(() => store.requeueDead("all", Date.now()));
    return redirect(`/admin/jobs?retried=${n}`, 303);
  }
  if (intent !== "retry") return text("This form is not one we know.", 400);
  const raw = form.get("id");
  if (typeof raw !== "string" || !/^\d{1,15}$/.test(raw)) return text("A job id (a number) is required.", 400);
  const id = Number(raw);
  const n = await orUnavailable(() => store.requeueDead(id, Date.now()));
  if (n === 1) return redirect("/admin/jobs?retried=1", 303);
  const job = await orUnavailable(() => store.get(id));
  return job ? text(`Job #${id} is ${job.state}, not dead: nothing to retry.`, 409) : text(`No job #${id}.`, 404);
}

export default function AdminJobs() {
  const { operator, counts, dead, retried } = useLoaderData<typeof loader>();
  return (
    <section className="admin" aria-labelledby="jobs-title">
      <AdminNav email={operator} />
      <h1 id="jobs-title">Jobs</h1>
      {retried !== null ? (
        <p role="status" className="notice">
          {retried === 0
            ? "No dead jobs to retry."
            : `Requeued ${retried} dead job${retried === 1 ? "" : "s"}: they run again as soon as a worker is free.`}
        </p>
      ) : null}
      <dl className="admin-facts job-counts">
        {counts.map(({ state, n }) => (
          <div key={state}>
            <dt>{state}</dt>
            <dd className={`count-${state}`}>{n}</dd>
          </div>
        ))}
      </dl>
      <h2>Dead jobs</h2>
      {dead.length === 0 ? (
        <p>Nothing has failed for good.</p>
      ) : (
        <>
          <Form method="post">
            <input type="hidden" name="intent" value="retry-all" />
            <button type="submit">Retry all dead</button>
          </Form>
          <table className="admin-table">
            <thead>
              <tr>
                <th>Job</th>
                <th>Kind</th>
                <th>Key</th>
                <th>Attempts</th>
                <th>Last error</th>
                <th>Created</th>
                <th>Died</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {dead.map((job) => (
                <tr key={job.id}>
                  <td>#{job.id}</td>
                  <td>{job.kind}</td>
                  <td>
                    <code>{job.key}</code>
                  </td>
                  <td>{job.attempts}</td>
                  <td className="last-error">{job.lastError ?? "none"}</td>
                  <td>
                    <Time ms={job.createdAt} />
                  </td>
                  <td>
                    <Time ms={job.updatedAt} />
                  </td>
                  <td>
                    <Form method="post">
                      <input type="hidden" name="intent" value="retry" />
                      <input type="hidden" name="id" value={job.id} />
                      <button type="submit">Retry</button>
                    </Form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
