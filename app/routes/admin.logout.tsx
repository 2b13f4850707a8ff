import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";

import { orUnavailable } from "~/lib/db-errors.server";
import { endSession, requireOperator } from "~/lib/operators.server";
import { assertSameOrigin } from "~/lib/security.server";

/** POST /admin/logout: ends this session (its row), clears the cookie. A GET changes nothing. */

export async function loader({ request }: LoaderFunctionArgs) {
  await orUnavailable(() => requireOperator(request));
  return redirect("/admin", 303);
}

export async function action({ request }: ActionFunctionArgs) {
  assertSameOrigin(request);
  const setCookie = await orUnavailable(() => endSession(request));
  return redirect("/admin/login", { status: 303, headers: { "Set-Cookie": setCookie, "Cache-Control": "no-store" } });
}
