import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";

import { openDatabase } from "~/lib/db.server";

describe("database", () => {
  it("migrates and seeds a fresh file with the catalog", () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "db-")), "fresh.db");
    const { sqlite } = openDatabase(file);
    const products = sqlite
      .prepare("SELECT slug, mode, unit_amount, currency, max_quantity FROM products ORDER BY id")
      .all();
    expect(products.length).toBeGreaterThanOrEqual(3);
    expect(products.filter((p) => (p as { mode: string }).mode === "payment").length).toBeGreaterThanOrEqual(2);
    expect(products.filter((p) => (p as { mode: string }).mode === "subscription").length).toBeGreaterThanOrEqual(1);
    sqlite.close();
  });

  it("sets the connection's pragmas on every open, not just the first", () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "db-")), "reopen.db");
    openDatabase(file, { busyTimeoutMs: 1234 }).sqlite.close();

    // A plain connection gets the driver's defaults: only WAL persists in the file.
    const plain = new Database(file);
    expect(plain.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(plain.pragma("busy_timeout", { simple: true })).not.toBe(1234);
    plain.close();

    const { sqlite } = openDatabase(file, { busyTimeoutMs: 1234 });
    expect(sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(sqlite.pragma("synchronous", { simple: true })).toBe(2); // FULL
    expect(sqlite.pragma("busy_timeout", { simple: true })).toBe(1234);
    expect(sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    // Reopening does not seed twice.
    expect((sqlite.prepare("SELECT count(*) AS n FROM products").get() as { n: number }).n).toBe(6);
    sqlite.close();
  });

  it("refuses a checkout that points at no shopper (foreign keys are on)", () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "db-")), "fk.db");
    const { sqlite } = openDatabase(file);
    expect(() =>
      sqlite
        .prepare(
          "INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, form_token) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run("cs_test_x", "nobody", 1, 1, "payment", "tok"),
    ).toThrow(/FOREIGN KEY/);
    sqlite.close();
  });
});
