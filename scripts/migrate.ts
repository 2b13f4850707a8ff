// `npm run db:migrate`: applies the migrations of the configured database
// (db/migrations/pg with DATABASE_URL, else db/migrations/sqlite to
// DATABASE_PATH) and seeds the catalog into an empty database. The server does
// the same at start-up: opening the database (app/lib/db.server.ts) migrates it.
import { count } from "drizzle-orm";

import { closeDatabase, db, describeDatabase, schema } from "~/lib/db.server";

const [products] = await db.select({ n: count() }).from(schema.products);
console.log(`migrated ${describeDatabase().name} (${products?.n ?? 0} products)`);
await closeDatabase();
