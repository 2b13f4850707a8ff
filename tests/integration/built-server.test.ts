import { spawnSync } from "node:child_process";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { serverQuery, testDialect } from "../support/db";
import { BUILT_SERVER_ENV, startBuiltServer, tempDatabase, type Proc } from "../support/server";

/** The `npm start` path, driven with plain HTTP as a browser without JavaScript would. */

const emu = emulatorControl();
let server: Proc & { databasePath: string };

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url });
});
afterAll(() => server?.stop());

function cookieOf(response: Response) {
  return response.headers.get("set-cookie")?.split(";")[0] ?? null;
}

function tokenOf(html: string) {
  return /name="token" value="([^"]+)"/.exec(html)?.[1];
}

describe("the built server", () => {
  it("answers /healthz with JSON while the database answers", async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", database: "ok", dialect: testDialect });
  });

  it("serves the catalog", async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("Ceramic Pour-Over Dripper");
    expect(html).toContain("Coffee Club Monthly");
    expect(html).toContain("Payments are simulated");
  });

  it("takes a shopper without JavaScript from the Buy form to Stripe's hosted page", async () => {
    const page = await fetch(`${server.url}/products/ceramic-pour-over`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<form method="post" action="\/products\/ceramic-pour-over"/);
    const token = tokenOf(html);
    expect(token).toBeTruthy();

    const setCookie = page.headers.get("set-cookie")!;
    // Production cookie: __Host- prefix, Secure, HttpOnly, SameSite=Lax, Path=/.
    expect(setCookie).toMatch(/^__Host-shopper=/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    expect(setCookie).not.toMatch(/Domain=/i);
    const cookie = cookieOf(page)!;

    const post = await fetch(`${server.url}/products/ceramic-pour-over`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: server.url },
      body: new URLSearchParams({ quantity: "2", token: token! }),
    });
    expect(post.status).toBe(303);
    const location = post.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^${emu.url}/c/pay/cs_test_`));

    const hosted = await fetch(location);
    expect(hosted.status).toBe(200);
    const hostedHtml = await hosted.text();
    expect(hostedHtml).toContain("Ceramic Pour-Over Dripper");
    expect(hostedHtml).toContain("$64.00");

    const [row] = await serverQuery(server, "SELECT quantity, status, amount_total, currency FROM checkout_sessions");
    expect(row).toEqual({ quantity: 2, status: "open", amount_total: 6400, currency: "usd" });
  });

  it("shows the page again with the message for a bad quantity, and stores nothing", async () => {
    const page = await fetch(`${server.url}/products/linen-apron`);
    const cookie = cookieOf(page)!;
    const token = tokenOf(await page.text())!;
    const post = await fetch(`${server.url}/products/linen-apron`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: server.url },
      body: new URLSearchParams({ quantity: "9", token }),
    });
    expect(post.status).toBe(400);
    const html = await post.text();
    expect(html).toContain("You can buy at most 3 of these at once.");
    expect(html).toContain("Linen Work Apron");
    const rows = await serverQuery(
      server,
      "SELECT id FROM checkout_sessions WHERE product_id = (SELECT id FROM products WHERE slug = 'linen-apron')",
    );
    expect(rows).toEqual([]);
  });

  it("answers an unknown product with a 404 page", async () => {
    const response = await fetch(`${server.url}/products/no-such-thing`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain("We could not find that product.");
  });
});

describe("start-up", () => {
  const root = path.resolve(import.meta.dirname, "../..");
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, [path.join(root, "server.js")], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        ...BUILT_SERVER_ENV,
        APP_ORIGIN: "http://127.0.0.1:1",
        DATABASE_PATH: tempDatabase(),
        ...env,
      },
      encoding: "utf8",
      timeout: 15_000,
    });

  it("stops with a message naming a malformed variable, and no stack trace", () => {
    const result = start({ STRIPE_SECRET_KEY: "pk_live_oops" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("STRIPE_SECRET_KEY must start with sk_test_ or sk_live_");
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).not.toContain("listening");
  });

  it("refuses to start in production without the secrets", () => {
    const result = start({ STRIPE_SECRET_KEY: "", SESSION_SECRET: "" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("STRIPE_SECRET_KEY is required in production");
    expect(result.stderr).toContain("SESSION_SECRET is required in production");
  });
});
