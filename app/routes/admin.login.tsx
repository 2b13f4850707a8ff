import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, useActionData } from "@remix-run/react";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import { orUnavailable } from "~/lib/db-errors.server";
import { readForm } from "~/lib/http.server";
import { FORM_BODY_LIMIT } from "~/lib/limits";
import { getOperator, signIn } from "~/lib/operators.server";
import { assertSameOrigin } from "~/lib/security.server";

export const meta: MetaFunction = () => [{ title: "Sign in: console" }];

export const headers: HeadersFunction = ({ actionHeaders }) => {
  const headers = new Headers({ "Cache-Control": "no-store" });
  const retry = actionHeaders.get("Retry-After");
  if (retry) headers.set("Retry-After", retry);
  return headers;
};

export async function loader({ request }: LoaderFunctionArgs) {
  if (await orUnavailable(() => getOperator(request))) throw redirect("/admin", 303);
  return json({}, { headers: { "Cache-Control": "no-store" } });
}

export async function action({ request, context }: ActionFunctionArgs) {
  assertSameOrigin(request);
  const form = await readForm(request, FORM_BODY_LIMIT);
  const email = String(form.get("email") ?? "");
  const password = String(form.get("password") ?? "");
  if (email.trim() === "" || password === "") {
    return json({ error: "Enter your email address and password.", email }, { status: 400 });
  }
  // The socket's peer from server.js (docs/decisions/021-guessing-bound.md for what a proxy changes).
  const address = typeof context?.clientAddress === "string" ? context.clientAddress : "unknown";
  const result = await orUnavailable(() => signIn(email, password, address));
  if (result.ok) {
    return redirect("/admin", {
      status: 303,
      headers: { "Set-Cookie": result.setCookie, "Cache-Control": "no-store" },
    });
  }
  return json(
    { error: result.message, email },
    {
      status: result.status,
      headers: result.status === 429 ? { "Retry-After": String(result.retryAfter) } : undefined,
    },
  );
}

export default function AdminLogin() {
  const actionData = useActionData<typeof action>();
  return (
    <section className="admin" aria-labelledby="login-title">
      <h1 id="login-title">Sign in to the console</h1>
      {actionData?.error ? (
        <p role="alert" className="error-message">
          {actionData.error}
        </p>
      ) : null}
      <Form method="post" className="admin-form">
        <label>
          Email
          <input type="email" name="email" autoComplete="username" required defaultValue={actionData?.email ?? ""} />
        </label>
        <label>
          Password
          <input type="password" name="password" autoComplete="current-password" required />
        </label>
        <button type="submit">Sign in</button>
      </Form>
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
