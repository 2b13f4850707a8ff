import type { LoaderFunctionArgs } from "@remix-run/node";

import { orUnavailable } from "~/lib/db-errors.server";
import { scrape } from "~/lib/metrics.server";

/** GET /metrics: Prometheus text, only with `Authorization: Bearer $METRICS_TOKEN`. */
export async function loader({ request }: LoaderFunctionArgs) {
  const answer = await orUnavailable(() => scrape(request.headers.get("Authorization")));
  const headers: Record<string, string> = {
    "Cache-Control": "no-store",
    "Content-Type": answer.status === 200 ? answer.contentType : "text/plain; charset=utf-8",
  };
  if (answer.status === 401) headers["WWW-Authenticate"] = 'Bearer realm="metrics"';
  return new Response(answer.body, { status: answer.status, headers });
}
