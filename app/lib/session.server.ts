import { randomBytes } from "node:crypto";
import { createCookie, createCookieSessionStorage } from "@remix-run/node";

import { config } from "./config.server";

/**
 * The shopper's identity: a random id in a signed, HttpOnly, SameSite=Lax
 * cookie. It carries nothing else (the database holds the rest), so it stays
 * small. SESSION_SECRET lists secrets newest first: the newest signs, all of
 * them verify, and a cookie verified only by an older one is re-signed.
 */

const MAX_AGE_SECONDS = 60 * 60 * 24 * 30;

const cookieOptions = {
  // __Host- makes the browser refuse the cookie unless Secure, Path=/ and no Domain.
  name: config.production ? "__Host-shopper" : "shopper",
  httpOnly: true,
  sameSite: "lax" as const,
  secure: config.production,
  path: "/",
  maxAge: MAX_AGE_SECONDS,
};

const storage = createCookieSessionStorage({
  cookie: { ...cookieOptions, secrets: config.sessionSecrets },
});

// Parses only what the newest secret signed: tells an older signature apart.
const newestOnly = createCookie(cookieOptions.name, {
  ...cookieOptions,
  secrets: config.sessionSecrets.slice(0, 1),
});

const SHOPPER_ID = /^[A-Za-z0-9_-]{22}$/;

export type ShopperSession = {
  shopperId: string | null;
  /** Set-Cookie value to send: a new shopper, or a cookie to re-sign. */
  setCookie: string | null;
};

function newShopperId() {
  return randomBytes(16).toString("base64url");
}

async function readSession(request: Request) {
  const header = request.headers.get("Cookie");
  const session = await storage.getSession(header);
  const shopperId = session.get("shopperId");
  const issuedAt = session.get("issuedAt");
  // A server-side age limit: an old cookie is no cookie, whatever its Max-Age said.
  const fresh = typeof issuedAt === "number" && Date.now() - issuedAt < MAX_AGE_SECONDS * 1000;
  const valid = typeof shopperId === "string" && SHOPPER_ID.test(shopperId) && fresh;
  return { session, shopperId: valid ? (shopperId as string) : null, header };
}

/** The shopper this request belongs to, if its cookie is valid; never creates one. */
export async function getShopper(request: Request): Promise<ShopperSession> {
  const { session, shopperId, header } = await readSession(request);
  if (!shopperId) return { shopperId: null, setCookie: null };
  const signedByNewest = (await newestOnly.parse(header)) != null;
  return {
    shopperId,
    setCookie: signedByNewest ? null : await storage.commitSession(session),
  };
}

/** The shopper for this request, creating one (and its cookie) if there is none. */
export async function ensureShopper(request: Request): Promise<{ shopperId: string; setCookie: string | null }> {
  const current = await getShopper(request);
  if (current.shopperId) return { shopperId: current.shopperId, setCookie: current.setCookie };
  const session = await storage.getSession();
  const shopperId = newShopperId();
  session.set("shopperId", shopperId);
  session.set("issuedAt", Date.now());
  return { shopperId, setCookie: await storage.commitSession(session) };
}

export const SHOPPER_COOKIE_NAME = cookieOptions.name;
