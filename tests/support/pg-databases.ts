import { randomBytes } from "node:crypto";

import pg from "pg";

/** A new PostgreSQL database copied from the run's migrated template (tests/support/global-setup-pg.ts). */
export async function createDatabaseFromTemplate(): Promise<string> {
  const server = process.env.TEST_PG_SERVER;
  const template = process.env.TEST_PG_TEMPLATE;
  if (!server || !template) throw new Error("no PostgreSQL template: this runs in the integration-pg project only");
  const name = `${template}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    // Two files copying the template at the same moment: PostgreSQL allows one at a time.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (error: unknown) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
