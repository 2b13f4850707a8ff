import { describe, expect, it } from "vitest";

import { isDatabaseUnavailable } from "~/lib/db-errors.server";

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("which database errors mean 'down, retry' (503) rather than a bug (500)", () => {
  it.each([
    ["terminated by the server", pgError("57P01", "terminating connection due to administrator command")],
    [
      "connections refused for the database",
      pgError("55000", 'database "shop" is not currently accepting connections'),
    ],
    ["the socket closed", new Error("Connection terminated unexpectedly")],
    ["a deadlock after the retries", pgError("40P01", "deadlock detected")],
  ])("%s: unavailable", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    // Drizzle wraps driver errors: the cause is what counts.
    expect(isDatabaseUnavailable(new Error("Failed query", { cause: error }))).toBe(true);
  });

  it.each([
    ["55000 for another reason", pgError("55000", 'currval of sequence "x" is not yet defined in this session')],
    ["a unique violation", pgError("23505", "duplicate key value violates unique constraint")],
    ["a plain bug", new TypeError("x is undefined")],
  ])("%s: a bug", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
