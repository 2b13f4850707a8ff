// `npm run worker`: the job worker alone (app/lib/jobs/), for a process that
// serves no requests. SIGTERM or SIGINT: running jobs get --grace-ms
// (default 10000) to finish, then are released for another worker.
import process from "node:process";
import { parseArgs } from "node:util";

let graceMs = 10_000;
try {
  const { values } = parseArgs({ options: { "grace-ms": { type: "string" } }, strict: true });
  if (values["grace-ms"] !== undefined) {
    graceMs = Number(values["grace-ms"]);
    if (!Number.isInteger(graceMs) || graceMs < 0) throw new Error("--grace-ms must be a whole number of milliseconds");
  }
} catch (error: unknown) {
  process.stderr.write(
    `${error instanceof Error ? error.message : String(error)}\nUsage: npm run worker -- [--grace-ms 10000]\n`,
  );
  process.exit(2);
}

let start: typeof import("~/lib/jobs/start.server");
try {
  start = await import("~/lib/jobs/start.server");
} catch (error: unknown) {
  if (error instanceof Error && error.name === "ConfigError") {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

let created: ReturnType<typeof start.createConfiguredWorker>;
try {
  created = start.createConfiguredWorker();
} catch (error: unknown) {
  if (error instanceof Error && error.name === "ConfigError") {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
const { logger } = await import("~/lib/logger.server");
const { worker, mailer } = created;
worker.start();
logger.info({ worker: worker.owner }, `job worker started owner=${worker.owner} mail=${mailer.describe}`);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void worker.stop({ graceMs }).finally(() => {
      logger.info("job worker stopped");
      process.exit(0);
    });
  });
}
