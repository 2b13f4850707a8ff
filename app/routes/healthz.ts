import { json } from "@remix-run/node";

import { checkDatabase } from "~/lib/db.server";
import { logger } from "~/lib/logger.server";

// 200 with JSON when the database answers reads and writes, 503 (saying which
// database, and which part failed) when it does not.
export async function loader() {
  const headers = { "Cache-Control": "no-store" };
  const check = await checkDatabase();
  if (check.ok) return json({ status: "ok", database: "ok", dialect: check.dialect }, { headers });
  logger.error(`healthz: ${check.dialect} ${check.failed} check failed: ${check.error}`);
  return json(
    { status: "error", database: "unavailable", dialect: check.dialect, failed: check.failed },
    { status: 503, headers: { ...headers, "Retry-After": "5" } },
  );
}
