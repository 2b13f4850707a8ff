import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    baseDatabase: string;
    tmpRoot: string;
  }
}

/**
 * Builds one migrated, empty database for the whole run; each test file
 * copies it (tests/support/setup.ts) instead of wiping tables between tests.
 */
export default function setup(project: TestProject) {
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), "shop-tests-"));
  mkdirSync(tmpRoot, { recursive: true });
  const baseDatabase = path.join(tmpRoot, "base.db");
  const sqlite = new Database(baseDatabase);
  sqlite.pragma("journal_mode = WAL");
  migrate(drizzle(sqlite), { migrationsFolder: path.resolve("db/migrations/sqlite") });
  // Fold the WAL into the file so that a plain copy carries everything.
  sqlite.pragma("wal_checkpoint(TRUNCATE)");
  sqlite.close();
  project.provide("baseDatabase", baseDatabase);
  project.provide("tmpRoot", tmpRoot);
  return () => rmSync(tmpRoot, { recursive: true, force: true });
}
