import { bigint, bigserial, index, integer, pgTable, text } from "drizzle-orm/pg-core";

// The PostgreSQL twin of `jobs` in db/schema.ts: same names, unix-ms times.
export const jobs = pgTable(
  "jobs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    key: text("key").notNull().unique(),
    kind: text("kind").notNull(),
    // JSON text, as on SQLite, so both stores hand handlers the same string.
    payload: text("payload").notNull(),
    state: text("state", { enum: ["pending", "running", "done", "dead"] })
      .notNull()
      .default("pending"),
    attempts: integer("attempts").notNull().default(0),
    runAfter: bigint("run_after", { mode: "number" }).notNull(),
    lastError: text("last_error"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: bigint("lease_expires_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
  },
  (t) => [index("jobs_state_run_after_idx").on(t.state, t.runAfter)],
);
