import { logger } from "./logger.server";

/**
 * What a database error means for the request that met it, on either
 * database: `unavailable` (worth a retry as is: locked, busy, read-only,
 * full, the server down or restarting) answers 503 with Retry-After;
 * anything else is a bug and answers 500.
 */

// SQLite: the database cannot write now (locked, read-only, full, I/O).
const SQLITE_UNAVAILABLE = [
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_READONLY",
  "SQLITE_FULL",
  "SQLITE_IOERR",
  "SQLITE_CANTOPEN",
];

// PostgreSQL SQLSTATE classes and codes: connection exceptions (08), insufficient
// resources (53), operator intervention (57: shutdown, crash, cannot connect now),
// serialization failure and deadlock (40001, 40P01) once retries ran out, read-only (25006).
const PG_UNAVAILABLE = /^(08|53|57|58)|^(40001|40P01|25006)$/;

// node-postgres and the socket: the server went away or never answered.
const NETWORK = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/;
const POOL_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection (is )?closed|is not currently accepting connections/i;

/** The driver's error code, also when Drizzle wrapped the error (its message holds the query's params). */
export function databaseErrorCode(error: unknown): string | null {
  for (let e = error, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function messages(error: unknown) {
  const out: string[] = [];
  for (let e = error, depth = 0; e && depth < 6; depth++) {
    if (e instanceof Error) out.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** A short, safe name for logs: the code family (SQLITE_BUSY, 40001, ECONNREFUSED), never a message. */
export function describeDatabaseError(error: unknown): string {
  const code = databaseErrorCode(error);
  if (code?.startsWith("SQLITE_")) {
    return SQLITE_UNAVAILABLE.find((family) => code === family || code.startsWith(`${family}_`)) ?? code;
  }
  if (code) return code;
  if (messages(error).some((m) => POOL_MESSAGES.test(m))) return "connection_lost";
  return error instanceof Error ? error.name : typeof error;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = databaseErrorCode(error);
  if (code?.startsWith("SQLITE_")) {
    // Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_READONLY_DBMOVED...) share their family's meaning.
    return SQLITE_UNAVAILABLE.some((family) => code === family || code.startsWith(`${family}_`));
  }
  if (code && (PG_UNAVAILABLE.test(code) || NETWORK.test(code))) return true;
  // 55000 is also a bug's code; only its "not accepting connections" (ALLOW_CONNECTIONS false,
  // a database being dropped or restored) is the database going away, found by its message.

  return messages(error).some((m) => POOL_MESSAGES.test(m));
}

const RETRYABLE = new Set(["40001", "40P01"]);
export const SERIALIZATION_ATTEMPTS = 5;

/** A unique violation (23505) of the named constraint, also when Drizzle wrapped the error. */
export function isUniqueViolationOf(error: unknown, constraint: string): boolean {
  if (databaseErrorCode(error) !== "23505") return false;
  for (let e = error, depth = 0; e && depth < 6; depth++) {
    if ((e as { constraint?: unknown }).constraint === constraint) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs a PostgreSQL transaction again after a serialization failure or a
 * deadlock (the database rolled it back whole), or an error `alsoRetry` names
 * (a race the transaction settles when it runs again), a bounded number of
 * times with a short random pause; the last failure is thrown (and answers 503).
 */
export async function retryingSerialization<T>(
  run: () => Promise<T>,
  attempts = SERIALIZATION_ATTEMPTS,
  alsoRetry: (error: unknown) => boolean = () => false,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error: unknown) {
      const code = databaseErrorCode(error);
      if (attempt >= attempts || !code || !(RETRYABLE.has(code) || alsoRetry(error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/** How many seconds a client should wait before trying again after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * For loaders and actions: a database that cannot answer becomes a 503 page
 * with Retry-After (the root error boundary shows it) instead of a 500.
 */
export async function orUnavailable<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error: unknown) {
    if (!(error instanceof Response) && isDatabaseUnavailable(error)) {
      logger.error(`database unavailable: ${describeDatabaseError(error)}`);
      throw new Response("The shop cannot reach its database right now. Please try again in a moment.", {
        status: 503,
        headers: { "Retry-After": String(RETRY_AFTER_SECONDS), "Cache-Control": "no-store" },
      });
    }
    throw error;
  }
}
