import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { root } from "../support/processes";
import { builtServerEnv } from "../support/server";

/**
 * Production's log lines go out a turn of the event loop at a time, in one
 * write to stdout (docs/decisions/187-log-lines-per-turn.md), and none is
 * lost: an error line goes out at once, and what is left goes out when the
 * process exits or crashes. tests/support/log-lines-child.ts counts the writes.
 */

function run(mode: string) {
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(root, "tests/support/log-lines-child.ts"), mode],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        ...builtServerEnv({
          url: "http://127.0.0.1:9",
          databasePath: path.join(root, ".cache/log-lines-child-unused.db"),
          stripeApiBase: "http://127.0.0.1:9",
        }),
      },
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  const lines = child.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string });
  return { status: child.status, lines, stderr: child.stderr };
}

describe("production's log lines", () => {
  it("are written once per turn of the event loop, all of them, in order", () => {
    const { status, lines, stderr } = run("turns");
    expect(status).toBe(0);
    expect(lines.map((line) => line.msg)).toEqual(["line one", "line two", "line three", "line four"]);
    // Nothing written while the turn runs; the three lines in one write after it; the fourth in one more.
    expect(stderr).toContain("after three lines writes=0");
    expect(stderr).toContain("a turn later writes=1");
    expect(stderr).toContain("at the end writes=2");
  });

  it("write an error line at once, with the lines logged before it", () => {
    const { status, lines, stderr } = run("error");
    expect(status).toBe(0);
    expect(stderr).toContain("right after the error line writes=1");
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [30, "before the error"],
      [50, "the error"],
    ]);
  });

  it("are not lost when the process exits in the middle of a turn", () => {
    const { status, lines } = run("exit");
    expect(status).toBe(0);
    expect(lines.map((line) => line.msg)).toEqual(["the last line before process.exit"]);
  });

  it("are not lost when the process crashes in the middle of a turn", () => {
    const { status, lines, stderr } = run("crash");
    expect(status).toBe(1);
    expect(stderr).toContain("crashed on purpose");
    expect(lines.map((line) => line.msg)).toEqual(["the last line before an uncaught exception"]);
  });
});
