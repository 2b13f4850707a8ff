import path from "node:path";

import { config, ConfigError } from "../config.server";
import { logger } from "../logger.server";
import { handle } from "../db.server";
import { folderMailer, type Mailer, smtpMailer } from "../mail.server";
import { shopHandlers } from "./handlers.server";
import { pgOrderLoader, sqliteOrderLoader } from "./order-paid.server";
import { createPgJobStore } from "./pg-store.server";
import { createSqliteJobStore } from "./sqlite-store.server";
import { createWorker, type WorkerOptions } from "./worker.server";

/** Where development mail is written: data/mail/ beside the default database. */
export const devMailDir = () => path.join(path.dirname(path.resolve(config.databasePath)), "mail");

export function configuredMailer(): Mailer {
  if (config.mail.url) return smtpMailer(config.mail.url);
  if (config.production) {
    throw new ConfigError(
      "Invalid configuration:\n  MAIL_URL is required in production: the job worker sends order confirmation mail (smtp://...)",
    );
  }
  return folderMailer(devMailDir());
}

/** The configured database's job store and order reader: the one place that picks the database. */
export function configuredJobDatabase() {
  return handle.dialect === "sqlite"
    ? { store: createSqliteJobStore(handle.sqlite), loadOrder: sqliteOrderLoader(handle.sqlite) }
    : { store: createPgJobStore(handle.pool), loadOrder: pgOrderLoader(handle.pool) };
}

/** A worker over the configured database with every handler of handlers.server.ts. */
export function createConfiguredWorker(options: Partial<WorkerOptions> = {}) {
  const { store, loadOrder } = configuredJobDatabase();
  const mailer = configuredMailer();
  const handlers = shopHandlers({
    loadOrder,
    mailer,
    appOrigin: config.appOrigin,
    mailFrom: config.mail.from,
  });
  const worker = createWorker({ store, handlers, ...options });
  return { worker, mailer };
}

/**
 * The start hook of `npm start` and `npm run dev`: a worker in this process
 * unless WORKER=off. Returns the function that stops it (SIGTERM: running
 * jobs get `graceMs` to finish, then are released).
 */
export function startJobs({ graceMs = 4_000 }: { graceMs?: number } = {}): () => Promise<void> {
  if (!config.worker) return async () => {};
  const { worker, mailer } = createConfiguredWorker();
  worker.start();
  logger.info({ worker: worker.owner }, `job worker started owner=${worker.owner} mail=${mailer.describe}`);
  return () => worker.stop({ graceMs });
}
