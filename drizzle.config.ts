import { defineConfig } from "drizzle-kit";

// Only used by `npm run db:generate` to write reviewed SQL into db/migrations.
// The app applies those migrations itself at start-up (app/lib/db.server.ts).
export default defineConfig({
  dialect: "sqlite",
  schema: "./db/schema.ts",
  out: "./db/migrations",
});
