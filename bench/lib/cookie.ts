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
