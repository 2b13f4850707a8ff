import { randomBytes } from "node:crypto";
import path from "node:path";

import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

import { root } from "./processes";

/**
 * A PostgreSQL database of a test's own, for the tests that start several
 * built servers on one database (many instances, a database that goes away,
 * copying a SQLite shop): created on the server TEST_DATABASE_URL names,
 * migrated with the app's own migrations, dropped afterwards.
 */

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Why PostgreSQL cannot be used here, or null when it answers. */
export async function postgresUnavailable(url = TEST_DATABASE_URL): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (error: unknown) {
    const where = new URL(url);
    return `no PostgreSQL at ${where.hostname}:${where.port || 5432} (TEST_DATABASE_URL): ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The same server, another database. */
export function urlFor(name: string, url = TEST_DATABASE_URL) {
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = TEST_DATABASE_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export type TestDatabase = { name: string; url: string; drop(): Promise<void> };

/** A new, uniquely named database; migrated unless `migrated: false`. */
export async function createTestDatabase(prefix: string, { migrated = true } = {}): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = urlFor(name);
  if (migrated) {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await migrate(drizzle(pool), { migrationsFolder: path.join(root, "db", "migrations", "pg") });
    } finally {
      await pool.end();
    }
  }
  return {
    name,
    url,
    drop: () =>
      admin(async (c) => {
        await c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`).catch(() => {});
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}

/** Ends every connection to `name` from the server's side; how many it ended. */
export function terminateConnections(name: string) {
  return admin(async (c) => {
    const result = await c.query(
      "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [name],
    );
    return Number(result.rows[0].n);
  });
}

/** Refuses (false) or allows (true) new connections to `name`. */
export function allowConnections(name: string, allow: boolean) {
  return admin((c) => c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS ${allow}`));
}

/** A pool on a test database, for the test's own reads. */
export function testPool(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // Its idle connections are ended too when a test terminates the database's backends.
  pool.on("error", () => {});
  return pool;
}
