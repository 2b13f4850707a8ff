import { defineConfig } from "drizzle-kit";

// The PostgreSQL half of `npm run db:generate` (drizzle.config.ts is SQLite's).
// Generating needs no database: drizzle-kit diffs the schema against the snapshots.
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/pg.ts",
  out: "./db/migrations/pg",
});
