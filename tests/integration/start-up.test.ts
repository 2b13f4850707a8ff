import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { freePort } from "../support/server";
import { SESSION_SECRET, WEBHOOK_SECRET } from "../support/test-env";

/**
 * What `npm start` (server.js on the build) says at start-up: that a .env file
 * is not read in production, and the address it really listens on (HOST).
 */

const root = path.resolve(import.meta.dirname, "../..");
let dir: string;

beforeAll(() => {
  // A copy of the server and its build, so that a .env can sit beside it.
  dir = mkdtempSync(path.join(os.tmpdir(), "shop-start-"));
  cpSync(path.join(root, "build"), path.join(dir, "build"), { recursive: true });
  cpSync(path.join(root, "server.js"), path.join(dir, "server.js"));
  cpSync(path.join(root, "package.json"), path.join(dir, "package.json"));
  cpSync(path.join(root, "db"), path.join(dir, "db"), { recursive: true });
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs server.js until it prints a line matching `until` (then stops it) or exits by itself (`until` null). */
function start(env: Record<string, string>, until: RegExp | null) {
  return new Promise<{ output: string; code: number | null }>((resolve, reject) => {
    const child = spawn(process.execPath, ["server.js"], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "production", WORKER: "off", ...env },
    });
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server.js said nothing matching ${until}:\n${output}`));
    }, 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (until?.test(output)) child.kill("SIGTERM");
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ output, code });
    });
  });
}

const complete = () => ({
  STRIPE_SECRET_KEY: "sk_test_start_up",
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  SESSION_SECRET,
  STRIPE_API_BASE: "http://127.0.0.1:9",
  APP_ORIGIN: "http://localhost:3000",
  DATABASE_PATH: path.join(dir, "app.db"),
});

describe("npm start", { timeout: 60_000 }, () => {
  it("with a .env file and a missing variable, says that .env is not read in production and how to pass it", async () => {
    writeFileSync(path.join(dir, ".env"), "STRIPE_SECRET_KEY=sk_test_from_env_file\n");
    try {
      const { output, code } = await start({}, null);
      expect(code).toBe(1);
      expect(output).toContain("STRIPE_SECRET_KEY is required in production");
      expect(output).toContain("A .env file is here, but it is not read in production");
      expect(output).toContain("node --env-file=.env ./server.js");
    } finally {
      rmSync(path.join(dir, ".env"));
    }
    const without = await start({}, null);
    expect(without.code).toBe(1);
    expect(without.output).not.toContain(".env");
  });

  it("logs the address it really bound: HOST when set, all interfaces when not", async () => {
    const port = await freePort();
    const local = await start({ ...complete(), PORT: String(port), HOST: "127.0.0.1" }, /listening/);
    expect(local.output).toContain(`shop listening on http://127.0.0.1:${port}`);

    const everywhere = await start({ ...complete(), PORT: String(port) }, /listening/);
    expect(everywhere.output).toMatch(
      new RegExp(`shop listening on all interfaces \\((\\[::\\]|0\\.0\\.0\\.0)\\), port ${port}`),
    );

    const bad = await start({ ...complete(), HOST: "not a host!" }, /HOST/);
    expect(bad.output).toContain("HOST must be an address or a host name");
  });
});
