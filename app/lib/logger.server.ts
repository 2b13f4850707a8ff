import pino, { type Logger } from "pino";

import { config } from "./config.server";

/**
 * The one logger (pino). Production: one JSON object a line on stdout, for a
 * log shipper. Development and tests: one readable line, written through
 * console (error level through console.error, so that the test suite's rule
 * that an unexpected error fails a test keeps holding). No transport worker:
 * the readable line is a few lines here (docs/decisions/144-logs.md).
 * Log ids and event types only; `redact` is the net under that rule.
 */

export const REDACT_PATHS = [
  "password",
  "*.password",
  "payload",
  "*.payload",
  "cookie",
  "*.cookie",
  "authorization",
  "*.authorization",
  'headers["stripe-signature"]',
  'headers["cookie"]',
  'headers["authorization"]',
  'req.headers["stripe-signature"]',
  'req.headers["cookie"]',
  'req.headers["authorization"]',
  "secret",
  "*.secret",
  "token",
  "*.token",
];

/**
 * `webhook received id=... type=... requestId=...`: the line development and
 * tests print. The message (which names its ids) and the request id only; the
 * console method says the level, and production's JSON has every field.
 */
export function readableLine(json: string): { level: number; text: string } {
  const entry = JSON.parse(json) as Record<string, unknown>;
  const level = Number(entry.level);
  const parts = [entry.msg, entry.requestId === undefined ? undefined : `requestId=${String(entry.requestId)}`];
  return { level, text: parts.filter((part) => part !== undefined && part !== "").join(" ") };
}

const readable = {
  write(json: string) {
    const { level, text } = readableLine(json);
    if (level >= 50) console.error(text);
    else if (level >= 40) console.warn(text);
    else console.info(text);
  },
};

// Production's JSON goes to stdout, written synchronously (out before a crash or
// SIGTERM exit), a turn of the event loop's lines at a time (below); the
// command-line scripts move it to stderr, beside their progress, so that their
// report alone is on stdout.
// pino's own destination (sonic-boom) waits out a full pipe (EAGAIN) instead of failing.
let jsonOut: { write(line: string): unknown } | undefined;
const out = () => (jsonOut ??= pino.destination({ dest: 1, sync: true }));

// The lines of one turn of the event loop go out together, in one write, right
// after it (setImmediate), not one write(2) each: a webhook logs three, and
// each write wakes whatever reads stdout (docs/decisions/187-log-lines-per-turn.md).
// An error line goes out at once, with the lines before it; so do the lines
// left when the process exits (a crash, process.exit, SIGTERM's drain).
let pending = "";
let scheduled = false;
export function flushLogLines() {
  scheduled = false;
  if (pending === "") return;
  const text = pending;
  pending = "";
  out().write(text);
}
const ERROR_LEVEL = 50;
// pino's JSON line starts with its level (`base` is off): {"level":50,"time":...
const levelOf = (line: string) => Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? ERROR_LEVEL);
const json = {
  write(line: string) {
    pending += line;
    if (levelOf(line) >= ERROR_LEVEL) flushLogLines();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flushLogLines);
    }
  },
};

/** For command-line scripts: production's JSON lines to stderr instead of stdout. */
export function logToStderr() {
  jsonOut = pino.destination({ dest: 2, sync: true });
}

function createLogger(): Logger {
  const options = {
    level: "info",
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (!config.production) return pino(options, readable);
  process.on("exit", flushLogLines);
  return pino(options, json);
}

const globalForLogger = globalThis as unknown as { __shopLogger?: Logger };
export const logger: Logger = (globalForLogger.__shopLogger ??= createLogger());

/**
 * The request's own logger: every line carries the X-Request-Id server.js gave it,
 * and `bindings`. One child of the logger (a child of a child costs as much again).
 */
export function logFor(request: Request, bindings: Record<string, unknown> = {}): Logger {
  const id = request.headers.get("X-Request-Id");
  return logger.child(id && /^[a-f0-9]{16}$/.test(id) ? { requestId: id, ...bindings } : bindings);
}
