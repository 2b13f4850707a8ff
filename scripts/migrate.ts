// `npm run db:migrate`: applies db/migrations to DATABASE_PATH and seeds the
// catalog into an empty database. The server does the same at start-up:
// opening the database (app/lib/db.server.ts) migrates it.
import { config } from "~/lib/config.server";
import { sqlite } from "~/lib/db.server";

const products = sqlite.prepare("SELECT count(*) AS n FROM products").get() as { n: number };
console.log(`migrated ${config.databasePath} (${products.n} products)`);
sqlite.close();
