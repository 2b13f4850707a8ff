import { defineConfig } from "drizzle-kit";

// `npm run db:generate` runs drizzle-kit once per dialect (this file for
// SQLite, drizzle.pg.config.ts for PostgreSQL) to write reviewed SQL. The app
// applies the migrations itself at start-up (app/lib/db.server.ts).
export default defineConfig({
  dialect: "sqlite",
  schema: "./db/schema/sqlite.ts",
  out: "./db/migrations/sqlite",
});
