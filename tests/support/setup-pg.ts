import pg from "pg";
import { afterAll, inject } from "vitest";

import { createDatabaseFromTemplate } from "./pg-databases";

/**
 * Runs after tests/support/setup.ts, before the test file is imported: this
 * file's own PostgreSQL database, copied from the run's migrated template,
 * becomes DATABASE_URL (so the app opens it), and is dropped after the file.
 * Built servers the file starts get databases of their own the same way
 * (tests/support/server.ts reads TEST_PG_TEMPLATE).
 */

const server = inject("pgServer");
const template = inject("pgTemplate");

process.env.TEST_PG_SERVER = server;
process.env.TEST_PG_TEMPLATE = template;
const url = await createDatabaseFromTemplate();
Object.assign(process.env, {
  DATABASE_URL: url,
  DATABASE_POOL_MAX: "4",
});

afterAll(async () => {
  const { closeDatabase } = await import("~/lib/db.server");
  await closeDatabase().catch(() => {});
  // The app keeps its database on globalThis (dev reloads): the next file must open its own.
  delete (globalThis as { __shopDb?: unknown }).__shopDb;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${new URL(url).pathname.slice(1)}" WITH (FORCE)`);
  await admin.end();
});
