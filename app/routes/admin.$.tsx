import type { LoaderFunctionArgs } from "@remix-run/node";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import { orUnavailable } from "~/lib/db-errors.server";
import { invariantResponse } from "~/lib/http.server";
import { requireOperator } from "~/lib/operators.server";

/** Any other /admin URL: the sign-in page without a session, 404 with one (nothing about what exists leaks). */
export async function loader({ request }: LoaderFunctionArgs) {
  await orUnavailable(() => requireOperator(request));
  invariantResponse(false, "No console page at this address.", { status: 404 });
}

export async function action({ request }: LoaderFunctionArgs) {
  await orUnavailable(() => requireOperator(request));
  invariantResponse(false, "No console page at this address.", { status: 404 });
}

export default function AdminNotFound() {
  return null;
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
