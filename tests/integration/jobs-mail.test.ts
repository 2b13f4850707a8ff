import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";

import { ORDER_PAID, orderPaidHandler, orderPaidJob, sqliteOrderLoader } from "~/lib/jobs/order-paid.server";
import { createSqliteJobStore, enqueue } from "~/lib/jobs/sqlite-store.server";
import { createWorker } from "~/lib/jobs/worker.server";
import { folderMailer, listStoredMail, smtpMailer } from "~/lib/mail.server";

import { eventually } from "../support/jobs";
import { BUILT_SERVER_ENV } from "../support/server";
import { header, part, startSmtp, type TestSmtp } from "../support/smtp";

const root = path.resolve(import.meta.dirname, "../..");
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A fresh migrated database file with one product and the given checkouts. */
function shopDatabase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "shop-mail-"));
  const file = path.join(dir, "app.db");
  copyFileSync(inject("baseDatabase"), file);
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  const productId = Number(
    sqlite
      .prepare(
        "INSERT INTO products (slug, name, stripe_price_id, mode, unit_amount, currency) VALUES ('mug', 'Speckled mug', 'price_mug', 'payment', 2800, 'usd')",
      )
      .run().lastInsertRowid,
  );
  sqlite.prepare("INSERT INTO shoppers (id) VALUES ('shopper-1')").run();
  const insertCheckout = sqlite.prepare(
    `INSERT INTO checkout_sessions (id, shopper_id, product_id, quantity, mode, status, payment_status, amount_total,
       currency, form_token, customer_email, flag)
     VALUES (@id, 'shopper-1', @productId, @quantity, 'payment', @status, @paymentStatus, @amountTotal, 'usd', @id, @email, @flag)`,
  );
  const addCheckout = (c: {
    id: string;
    quantity?: number;
    status?: string;
    paymentStatus?: string;
    email?: string | null;
    flag?: string | null;
  }) =>
    insertCheckout.run({
      productId,
      quantity: c.quantity ?? 1,
      status: c.status ?? "complete",
      paymentStatus: c.paymentStatus ?? "paid",
      amountTotal: 2800 * (c.quantity ?? 1),
      email: c.email === undefined ? "shopper@example.com" : c.email,
      flag: c.flag ?? null,
      id: c.id,
    });
  return { file, sqlite, addCheckout, store: createSqliteJobStore(sqlite) };
}

describe("order confirmation mail over a real SMTP session", () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startSmtp();
  });
  afterAll(async () => {
    await smtp?.stop();
  });
  afterEach(() => {
    smtp.received.length = 0;
  });

  it("sends one mail per paid order, to the address Stripe collected, and none for a flagged or unpaid one", async () => {
    const shop = shopDatabase();
    shop.addCheckout({ id: "cs_test_paid", quantity: 2, email: "ada@example.com" });
    shop.addCheckout({ id: "cs_test_flagged", flag: "amount_mismatch", email: "flagged@example.com" });
    shop.addCheckout({ id: "cs_test_unpaid", status: "open", paymentStatus: "unpaid", email: "unpaid@example.com" });
    for (const id of ["cs_test_paid", "cs_test_paid", "cs_test_flagged", "cs_test_unpaid"]) {
      enqueue(shop.sqlite, orderPaidJob(id));
    }
    const worker = createWorker({
      store: shop.store,
      log: quiet,
      handlers: [
        orderPaidHandler({
          loadOrder: sqliteOrderLoader(shop.sqlite),
          mailer: smtpMailer(`smtp://127.0.0.1:${smtp.port}`),
          appOrigin: "https://shop.example.com",
          from: "Field & Kiln <orders@shop.example.com>",
          log: quiet,
        }),
      ],
    });
    expect(await worker.runOnce()).toBe(3);

    expect(await shop.store.counts()).toEqual({ pending: 0, running: 0, done: 3, dead: 0 });
    expect(smtp.received).toHaveLength(1);
    const [mail] = smtp.received;
    expect(mail?.to).toEqual(["ada@example.com"]);
    expect(mail?.from).toBe("orders@shop.example.com");
    const raw = mail?.raw ?? "";
    expect(header(raw, "To")).toBe("ada@example.com");
    expect(header(raw, "Subject")).toBe("Your Field & Kiln order is confirmed");
    expect(header(raw, "Message-ID")).toBe("<order.paid.cs_test_paid@shop.example.com>");
    const text = part(raw, "text/plain") ?? "";
    expect(text).toContain("2 × Speckled mug ($28.00 each)");
    expect(text).toContain("Total: $56.00");
    expect(text).toContain("Your orders: https://shop.example.com/orders");
    const html = part(raw, "text/html") ?? "";
    expect(html).toContain('<a href="https://shop.example.com/orders">Your orders</a>');
    expect(html).toContain("Total: $56.00");
  });

  it("retries while the mail server is down and delivers once, with the same Message-ID, when it is back", async () => {
    const shop = shopDatabase();
    shop.addCheckout({ id: "cs_test_retry", email: "grace@example.com" });
    enqueue(shop.sqlite, orderPaidJob("cs_test_retry"));
    let clock = Date.now() + 1_000;
    const worker = createWorker({
      store: shop.store,
      log: quiet,
      now: () => clock,
      random: () => 0,
      backoff: { baseMs: 10_000, maxMs: 60_000 },
      handlers: [
        orderPaidHandler({
          loadOrder: sqliteOrderLoader(shop.sqlite),
          mailer: smtpMailer(`smtp://127.0.0.1:${smtp.port}`),
          appOrigin: "https://shop.example.com",
          from: "orders@shop.example.com",
          log: quiet,
        }),
      ],
    });

    await smtp.stop();
    try {
      expect(await worker.runOnce()).toBe(1);
    } finally {
      await smtp.start();
    }
    const [waiting] = await shop.store.list({ limit: 5 });
    expect(waiting).toMatchObject({ state: "pending", attempts: 1, runAfter: clock + 5_000 });
    expect(waiting?.lastError).toMatch(/ECONNREFUSED|connect/i);
    expect(smtp.received).toHaveLength(0);

    clock += 5_000;
    expect(await worker.runOnce()).toBe(1);
    expect(await shop.store.get(waiting?.id ?? 0)).toMatchObject({ state: "done", attempts: 2 });
    expect(smtp.received).toHaveLength(1);
    expect(smtp.received[0]?.to).toEqual(["grace@example.com"]);
    expect(header(smtp.received[0]?.raw ?? "", "Message-ID")).toBe("<order.paid.cs_test_retry@shop.example.com>");
    expect(await worker.runOnce()).toBe(0);
  });

  it("npm run worker in production sends the mail through MAIL_URL and stops cleanly on SIGTERM", async () => {
    const shop = shopDatabase();
    shop.addCheckout({ id: "cs_test_worker_script", email: "linus@example.com" });
    enqueue(shop.sqlite, orderPaidJob("cs_test_worker_script"));
    const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts/worker.ts")], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...BUILT_SERVER_ENV,
        WORKER: "on",
        APP_ORIGIN: "https://shop.example.com",
        DATABASE_PATH: shop.file,
        MAIL_URL: `smtp://127.0.0.1:${smtp.port}`,
        MAIL_FROM: "Field & Kiln <orders@shop.example.com>",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await eventually(async () => smtp.received.length > 0 || child.exitCode !== null, "the mail", 60_000);
      expect(output.join("")).not.toContain("MAIL_URL is required");
      expect(smtp.received.map((m) => m.to)).toEqual([["linus@example.com"]]);
      await eventually(async () => (await shop.store.counts()).done === 1, "the job done");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(output.join("")).toContain("job worker stopped");
    expect(output.join("")).not.toContain("smtp://127.0.0.1");
  });

  it("npm run worker in production without MAIL_URL stops with a message naming MAIL_URL", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts/worker.ts")], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...BUILT_SERVER_ENV,
        WORKER: "on",
        APP_ORIGIN: "https://shop.example.com",
        DATABASE_PATH: shopDatabase().file,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain("MAIL_URL is required in production");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe("development mail: files in data/mail/ and the /dev/mail page", () => {
  it("writes each mail once per Message-ID and lists it on /dev/mail", async () => {
    const shop = shopDatabase();
    shop.addCheckout({ id: "cs_test_dev_mail", email: "newcomer@example.com" });
    const { devMailDir } = await import("~/lib/jobs/start.server");
    const handler = orderPaidHandler({
      loadOrder: sqliteOrderLoader(shop.sqlite),
      mailer: folderMailer(devMailDir()),
      appOrigin: "http://shop.test",
      from: "orders@shop.test",
      log: quiet,
    });
    const context = { key: "order.paid:cs_test_dev_mail", signal: new AbortController().signal };
    // At least once: a retry of the same job writes the same file again.
    await handler.run({ checkoutId: "cs_test_dev_mail" }, { ...context, attempt: 1 });
    await handler.run({ checkoutId: "cs_test_dev_mail" }, { ...context, attempt: 2 });
    expect(handler.kind).toBe(ORDER_PAID);
    expect(listStoredMail(devMailDir())).toHaveLength(1);

    const { loader } = await import("~/routes/dev.mail");
    const response = await loader();
    const { mails } = (await response.json()) as { mails: { to: string; subject: string; text: string }[] };
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ to: "newcomer@example.com", subject: "Your Field & Kiln order is confirmed" });
    expect(mails[0]?.text).toContain("Your orders: http://shop.test/orders");
  });

  it("answers 404 in production", async () => {
    vi.resetModules();
    vi.stubEnv("NODE_ENV", "production");
    vi.stubEnv("MAIL_URL", "smtp://127.0.0.1:25");
    vi.stubEnv("APP_ORIGIN", "https://shop.example.com");
    try {
      const { loader } = await import("~/routes/dev.mail");
      const thrown = await loader().catch((error: unknown) => error);
      expect(thrown).toBeInstanceOf(Response);
      expect((thrown as Response).status).toBe(404);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
