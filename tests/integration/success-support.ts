/**
 * Shared by the success-page and orders tests: checkouts made through the
 * real Buy action (so that rows and emulator sessions match), events read
 * back from the emulator, and cookies for shoppers.
 */
import { createCookieSessionStorage } from "@remix-run/node";
import { eq } from "drizzle-orm";
import type Stripe from "stripe";

import { processStripeEvent } from "~/lib/checkout.server";
import { db, schema } from "../support/db";
import { action as buyAction, loader as productLoader } from "~/routes/products.$slug";

import { emulatorControl } from "../support/emulator";
import { cookieFrom, formRequest, getRequest, settle } from "../support/http";

export const emu = emulatorControl();

/** A new shopper's cookie, as the product page hands it out. */
export async function newShopper(slug = "ceramic-pour-over") {
  const response = await settle(() =>
    productLoader({ request: getRequest(`/products/${slug}`), params: { slug }, context: {} }),
  );
  const cookie = cookieFrom(response);
  if (!cookie) throw new Error("the product page set no cookie");
  return cookie;
}

/** Opens the product page and submits its Buy form; returns the new checkout's id. */
export async function buy(slug: string, cookie: string, quantity?: number) {
  const page = await settle(() =>
    productLoader({ request: getRequest(`/products/${slug}`, { cookie }), params: { slug }, context: {} }),
  );
  const { token } = (await page.json()) as { token: string };
  const fields: Record<string, string> = { token };
  if (quantity !== undefined) fields.quantity = String(quantity);
  const response = await settle(() =>
    buyAction({ request: formRequest(`/products/${slug}`, fields, { cookie }), params: { slug }, context: {} }),
  );
  if (response.status !== 303) throw new Error(`Buy answered ${response.status}: ${await response.text()}`);
  const row = (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.formToken, token)))[0];
  if (!row) throw new Error("Buy stored no checkout");
  return row.id;
}

/** The event the emulator emitted for a session (what the webhook would deliver). */
export async function eventFor(sessionId: string, type: string): Promise<Stripe.Event> {
  const response = await fetch(`${emu.url}/v1/events?type=${encodeURIComponent(type)}&limit=100`, {
    headers: { Authorization: "Bearer sk_test_shop_tests_only" },
  });
  const list = (await response.json()) as { data: Stripe.Event[] };
  const event = list.data.find((e) => (e.data.object as { id?: string }).id === sessionId);
  if (!event) throw new Error(`no ${type} event for ${sessionId}`);
  return event;
}

/** Applies the session's event exactly as the webhook route would. */
export async function deliverWebhook(sessionId: string, type = "checkout.session.completed") {
  const event = await eventFor(sessionId, type);
  return await processStripeEvent(event, { payload: JSON.stringify(event), source: "webhook" });
}

/** Every GET of one Checkout Session the app made (the success page's "ask Stripe"). */
export const retrievals = async (sessionId?: string) =>
  (await emu.requestsTo("GET", "/v1/checkout/sessions/")).filter((r) => !sessionId || r.path.endsWith(`/${sessionId}`));

export async function checkoutRow(id: string) {
  return (await db.select().from(schema.checkoutSessions).where(eq(schema.checkoutSessions.id, id)))[0]!;
}

/** A cookie for the same shopper signed with `secrets` (e.g. only the previous one). */
export async function cookieSignedWith(cookie: string, secrets: string[]) {
  const read = createCookieSessionStorage({ cookie: { name: "shopper", secrets: [...secrets, ...allSecrets()] } });
  const session = await read.getSession(cookie);
  const write = createCookieSessionStorage({
    cookie: { name: "shopper", secrets, httpOnly: true, sameSite: "lax", path: "/" },
  });
  const copy = await write.getSession();
  copy.set("shopperId", session.get("shopperId"));
  copy.set("issuedAt", session.get("issuedAt"));
  return (await write.commitSession(copy)).split(";")[0]!;
}

/** The shopper id inside a cookie, read with the given secrets (null if they do not verify it). */
export async function shopperIn(cookie: string, secrets: string[]) {
  const storage = createCookieSessionStorage({ cookie: { name: "shopper", secrets } });
  const value = (await storage.getSession(cookie)).get("shopperId");
  return typeof value === "string" ? value : null;
}

function allSecrets() {
  return (process.env.SESSION_SECRET ?? "").split(",").filter(Boolean);
}

/** Flips one character of the cookie's value: the signature no longer matches. */
export function tamper(cookie: string) {
  const [name, value] = cookie.split("=") as [string, string];
  const decoded = decodeURIComponent(value);
  const i = Math.floor(decoded.length / 3);
  const flipped = decoded.slice(0, i) + (decoded[i] === "A" ? "B" : "A") + decoded.slice(i + 1);
  return `${name}=${encodeURIComponent(flipped)}`;
}

export async function resetData() {
  await db.delete(schema.stripeEvents);
  await db.delete(schema.refunds);
  await db.delete(schema.checkoutSessions);
  await db.delete(schema.shoppers);
}
