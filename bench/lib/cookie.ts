import { createHmac, randomBytes } from "node:crypto";

import { createCookieSessionStorage } from "@remix-run/node";

import { SESSION_SECRET } from "../../tests/support/test-env";

/**
 * A shopper's cookie as the production app signs it (app/lib/session.server.ts):
 * `__Host-shopper`, signed with the newest SESSION_SECRET, holding
 * `{ shopperId, issuedAt }`. Returns the `name=value` to send as Cookie.
 */
export async function shopperCookie(shopperId: string, secret = SESSION_SECRET) {
  const storage = createCookieSessionStorage({
    cookie: {
      name: "__Host-shopper",
      httpOnly: true,
      sameSite: "lax",
      secure: true,
      path: "/",
      maxAge: 60 * 60 * 24 * 30,
      secrets: [secret],
    },
  });
  const session = await storage.getSession();
  session.set("shopperId", shopperId);
  session.set("issuedAt", Date.now());
  const header = await storage.commitSession(session);
  return header.split(";")[0]!;
}

/**
 * A Buy form token for this shopper as the product page issues it
 * (app/lib/buy-form.server.ts): a 9-byte nonce and 9 bytes of an HMAC over
 * it and the shopper id, keyed with the newest SESSION_SECRET.
 */
export function formToken(shopperId: string, secret = SESSION_SECRET) {
  const nonce = randomBytes(9).toString("base64url");
  const mac = createHmac("sha256", secret).update(`buy-form:${nonce}:${shopperId}`).digest().subarray(0, 9);
  return nonce + mac.toString("base64url");
}
