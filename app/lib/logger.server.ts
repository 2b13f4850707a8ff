import pino, { type Logger } from "pino";

import { config } from "./config.server";

/**
 * The one logger (pino). Production: one JSON object a line on stdout, for a
 * log shipper. Development and tests: one readable line, written through
 * console (error level through console.error, so that the test suite's rule
 * that an unexpected error fails a test keeps holding). No transport worker:
 * the readable line is a few lines here (docs/decisions/144-logs.md).
 * Log ids and event types only; `redactSecrets` (below) is the net under that rule.
 */

/**
 * The net under that rule: a key of one of these names, on a line's fields or
 * on a child logger's bindings, at the top or up to two objects down (so
 * `password`, `headers.cookie`, `req.headers["stripe-signature"]`), has its
 * value logged as "[redacted]", whatever its case. What pino's `redact`
 * option did with a list of paths, at a cost a line does not pay here: pino
 * 10's redactor parses every path and clones the object on every line, about
 * 7% of the webhook's CPU; this walks the few keys a line has and copies
 * nothing unless it finds one (docs/decisions/196-redaction-net-by-key-name.md).
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  "password",
  "payload",
  "cookie",
  "authorization",
  "secret",
  "token",
  "stripe-signature",
]);
const CENSOR = "[redacted]";
/** Keys this many objects deep are looked at; the deepest pino path was `req.headers.cookie`. */
const DEPTH = 3;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

function holdsSecret(value: Record<string, unknown>, depth: number): boolean {
  for (const key of Object.keys(value)) {
    if (SECRET_KEYS.has(key.toLowerCase())) return true;
    const inner = value[key];
    if (depth < DEPTH && isObject(inner) && holdsSecret(inner, depth + 1)) return true;
  }
  return false;
}

// A copy with the secrets censored; an Error keeps its prototype, message and stack.
function censored(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const copy: Record<string, unknown> = Array.isArray(value)
    ? [...value]
    : Object.create(Object.getPrototypeOf(value), Object.getOwnPropertyDescriptors(value));
  for (const key of Object.keys(value)) {
    const inner = value[key];
    let next: unknown;
    if (SECRET_KEYS.has(key.toLowerCase())) next = CENSOR;
    else if (depth < DEPTH && isObject(inner) && holdsSecret(inner, depth + 1)) next = censored(inner, depth + 1);
    else continue;
    Object.defineProperty(copy, key, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** A line's fields (or a child's bindings) as they may be logged: the same object when nothing is secret. */
export function redactSecrets<T extends Record<string, unknown>>(fields: T): T {
  // pino also hands the bindings formatter the logger's `base`, which is undefined here.
  return isObject(fields) && holdsSecret(fields, 1) ? (censored(fields, 1) as T) : fields;
}

/**
 * A pino logger with the shop's options and the net on every line's fields and
 * on every child's bindings, at any depth of children. (pino gives a child no
 * bindings formatter of its own: its `formatters.bindings` reaches the root's
 * `base` only. So `child` itself passes the bindings through the net; children
 * inherit it, as they inherit the rest of their parent.)
 */
export function shopLogger(destination: { write(line: string): unknown }): Logger {
  const root = pino({ level: "info", base: undefined, formatters: { log: redactSecrets } }, destination);
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger["child"];
  return root;
}

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
  if (!config.production) return shopLogger(readable);
  process.on("exit", flushLogLines);
  return shopLogger(json);
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
