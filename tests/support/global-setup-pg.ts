import { randomBytes } from "node:crypto";
import path from "node:path";

import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    pgServer: string;
    pgTemplate: string;
  }
}

/**
 * For the integration-pg project: one migrated, empty template database for
 * the whole run, on the server TEST_DATABASE_URL names; each test file (and
 * each built server it starts) gets its own database copied from it
 * (tests/support/setup-pg.ts). The name carries a random part so that runs
 * side by side never meet; everything made from it is dropped at the end.
 */
export default async function setup(project: TestProject) {
  const server = process.env.TEST_DATABASE_URL;
  if (!server)
    throw new Error("integration-pg needs TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres");
  const template = `shop_test_${process.pid}_${randomBytes(3).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${template}"`);
  await admin.end();

  const url = new URL(server);
  url.pathname = `/${template}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  await migrate(drizzle(pool), { migrationsFolder: path.resolve("db/migrations/pg") });
  await pool.end();

  project.provide("pgServer", server);
  project.provide("pgTemplate", template);

  return async () => {
    const cleanup = new pg.Client({ connectionString: server });
    await cleanup.connect();
    const { rows } = await cleanup.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
      [template, `${template}\\_%`],
    );
    for (const { datname } of rows) await cleanup.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await cleanup.end();
  };
}
