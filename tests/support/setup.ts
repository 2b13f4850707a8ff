import { copyFileSync, mkdtempSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { format } from "node:util";

import { afterEach, beforeEach, inject, vi } from "vitest";

import { TEST_ENV } from "./test-env";

/**
 * Runs before each test file is imported: a fresh copy of the migrated base
 * database, a known configuration, no request off this machine, and no
 * console.error that a test did not ask for.
 */

const dir = mkdtempSync(path.join(inject("tmpRoot"), "file-"));
const databasePath = path.join(dir, "app.db");
copyFileSync(inject("baseDatabase"), databasePath);
Object.assign(process.env, TEST_ENV, { DATABASE_PATH: databasePath });

// An unexpected outbound connection is an error, not a warning.
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;
const connect = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0] as { host?: string; path?: string } | number | string | unknown[];
  const options = Array.isArray(first) ? (first[0] as { host?: string; path?: string }) : first;
  const host =
    typeof options === "object" && options !== null
      ? options.path
        ? "localhost"
        : (options.host ?? "localhost")
      : typeof args[1] === "string"
        ? args[1]
        : "localhost";
  if (!LOOPBACK.test(host)) {
    throw new Error(`Test tried to connect to ${host}: no request may leave this machine`);
  }
  return connect.apply(this, args);
} as typeof net.Socket.prototype.connect;

// console.error fails the test unless the test expects it (expectConsoleError).
const unexpected: string[] = [];
const expected: RegExp[] = [];
(globalThis as { __expectConsoleError?: (pattern: RegExp) => void }).__expectConsoleError = (pattern) => {
  expected.push(pattern);
};

beforeEach(() => {
  unexpected.length = 0;
  expected.length = 0;
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    const line = format(...args);
    if (!expected.some((pattern) => pattern.test(line))) unexpected.push(line);
  });
});

afterEach(() => {
  if (unexpected.length > 0) {
    const lines = unexpected.splice(0);
    throw new Error(`console.error was called unexpectedly:\n${lines.join("\n")}`);
  }
});
