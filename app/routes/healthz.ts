import { json } from "@remix-run/node";

import { sqlite } from "~/lib/db.server";

// 200 with JSON when the database answers, 503 when it does not.
export async function loader() {
  const headers = { "Cache-Control": "no-store" };
  try {
    sqlite.prepare("SELECT 1 FROM products LIMIT 1").get();
    return json({ status: "ok", database: "ok" }, { headers });
  } catch (error: unknown) {
    console.error(`healthz: database check failed: ${error instanceof Error ? error.message : String(error)}`);
    return json({ status: "error", database: "unavailable" }, { status: 503, headers });
  }
}
