import { randomBytes, scrypt as scryptCallback, type ScryptOptions, timingSafeEqual } from "node:crypto";
import { createCookie, redirect } from "@remix-run/node";
import { and, eq, gt, sql } from "drizzle-orm";

import type { Operator } from "../../db/schema/types";
import { config } from "./config.server";
import { db, schema } from "./db.server";
import { databaseLimiter } from "./limiter.server";

/**
 * Operators of the console: passwords as scrypt hashes, sessions as rows of
 * their own behind a signed cookie (docs/decisions/140-operator-sessions.md).
 */

const { operators, operatorSessions } = schema;

// OWASP's minimum for scrypt is N=2^17, r=8, p=1; N=2^15 keeps a sign-in near
// 100 ms on a small machine. Parameters travel in the stored string, so they can rise later.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 };

function scrypt(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize("NFKC"), salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

const maxmem = (N: number, r: number) => 256 * N * r;

/** `scrypt$N$r$p$salt$hash` (base64url), all that is needed to check a password later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keyLength } = SCRYPT;
  const key = await scrypt(password, salt, keyLength, { N, r, p, maxmem: maxmem(N, r) });
  return ["scrypt", N, r, p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const options = { N: Number(n), r: Number(r), p: Number(p) };
  const key = await scrypt(password, Buffer.from(salt, "base64url"), expected.length, {
    ...options,
    maxmem: maxmem(options.N, options.r),
  });
  return timingSafeEqual(key, expected);
}

export const MIN_PASSWORD_LENGTH = 12;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normalizeEmail(email: string) {
  return email.trim().toLowerCase();
}

/** Creates an operator or resets their password; a reset signs out every session of theirs. */
export async function upsertOperator(emailInput: string, password: string): Promise<"created" | "reset"> {
  const email = normalizeEmail(emailInput);
  if (!EMAIL.test(email)) throw new Error("The email address is not valid.");
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new Error(`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  const passwordHash = await hashPassword(password);
  const [existing] = await db.select().from(operators).where(eq(operators.email, email)).limit(1);
  if (!existing) {
    await db.insert(operators).values({ email, passwordHash });
    return "created";
  }
  await db.update(operators).set({ passwordHash, updatedAt: Date.now() }).where(eq(operators.id, existing.id));
  await db.delete(operatorSessions).where(eq(operatorSessions.operatorId, existing.id));
  return "reset";
}

// ---- sessions ----

/** Hours, not days: an operator signs in again each working day. */
export const OPERATOR_SESSION_MS = 8 * 3600 * 1000;

export const OPERATOR_COOKIE_NAME = config.production ? "__Host-operator" : "operator";

// Its own cookie, signed with SESSION_SECRET like the shopper's, but Strict:
// no cross-site navigation carries it at all.
const operatorCookie = createCookie(OPERATOR_COOKIE_NAME, {
  httpOnly: true,
  sameSite: "strict",
  secure: config.production,
  path: "/",
  maxAge: OPERATOR_SESSION_MS / 1000,
  secrets: config.sessionSecrets,
});

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export type SignedInOperator = { id: number; email: string; sessionId: string };

async function sessionIdOf(request: Request): Promise<string | null> {
  const value: unknown = await operatorCookie.parse(request.headers.get("Cookie"));
  return typeof value === "string" && SESSION_ID.test(value) ? value : null;
}

/** The operator of this request's cookie, if its session exists and has not run out. */
export async function getOperator(request: Request): Promise<SignedInOperator | null> {
  const sessionId = await sessionIdOf(request);
  if (!sessionId) return null;
  const [row] = await db
    .select({ id: operators.id, email: operators.email })
    .from(operatorSessions)
    .innerJoin(operators, eq(operators.id, operatorSessions.operatorId))
    .where(and(eq(operatorSessions.id, sessionId), gt(operatorSessions.expiresAt, Date.now())))
    .limit(1);
  return row ? { ...row, sessionId } : null;
}

/** The signed-in operator, or a redirect to the sign-in page (every /admin loader and action). */
export async function requireOperator(request: Request): Promise<SignedInOperator> {
  const operator = await getOperator(request);
  if (!operator) {
    throw redirect("/admin/login", { status: 303, headers: { "Cache-Control": "no-store" } });
  }
  return operator;
}

/** A new session (a new id at every sign-in) and its Set-Cookie value. */
export async function startSession(operator: Pick<Operator, "id">): Promise<string> {
  const id = randomBytes(32).toString("base64url");
  const now = Date.now();
  await db.insert(operatorSessions).values({ id, operatorId: operator.id, expiresAt: now + OPERATOR_SESSION_MS });
  // Rows of sessions long over are dropped now and then.
  await db.delete(operatorSessions).where(sql`${operatorSessions.expiresAt} < ${now - OPERATOR_SESSION_MS}`);
  return operatorCookie.serialize(id);
}

/** Ends this request's session (if any); the Set-Cookie value that clears the cookie. */
export async function endSession(request: Request): Promise<string> {
  const sessionId = await sessionIdOf(request);
  if (sessionId) await db.delete(operatorSessions).where(eq(operatorSessions.id, sessionId));
  return operatorCookie.serialize("", { maxAge: 0, expires: new Date(0) });
}

// ---- sign-in ----

/** Attempts per client address and per account, counted in the database across instances. */
export const SIGN_IN_LIMITS = { perAddress: 20, perAccount: 5, windowMs: 15 * 60_000 };
export const signInByAddress = databaseLimiter({
  name: "admin_sign_in_address",
  points: SIGN_IN_LIMITS.perAddress,
  windowMs: SIGN_IN_LIMITS.windowMs,
});
export const signInByAccount = databaseLimiter({
  name: "admin_sign_in_account",
  points: SIGN_IN_LIMITS.perAccount,
  windowMs: SIGN_IN_LIMITS.windowMs,
});

export type SignInResult =
  | { ok: true; setCookie: string }
  | { ok: false; status: 400; message: string }
  | { ok: false; status: 429; message: string; retryAfter: number };

export const SIGN_IN_FAILED = "That email and password do not match an operator.";

// Checked when no operator has the address, so that a miss takes as long as a wrong password.
let decoyHash: Promise<string> | undefined;

export async function signIn(emailInput: string, password: string, address: string): Promise<SignInResult> {
  const email = normalizeEmail(emailInput).slice(0, 320);
  // Every attempt counts, before the password is checked: parallel guesses cannot slip through.
  const [byAddress, byAccount] = await Promise.all([signInByAddress.consume(address), signInByAccount.consume(email)]);
  const over = [
    byAddress.used > SIGN_IN_LIMITS.perAddress ? byAddress.blockedFor : null,
    byAccount.used > SIGN_IN_LIMITS.perAccount ? byAccount.blockedFor : null,
  ].filter((wait): wait is number => wait !== null);
  if (over.length > 0) {
    const retryAfter = Math.max(...over);
    return {
      ok: false,
      status: 429,
      message: `Too many sign-in attempts. Try again in ${Math.ceil(retryAfter / 60)} minute(s).`,
      retryAfter,
    };
  }
  const [operator] = await db.select().from(operators).where(eq(operators.email, email)).limit(1);
  const matches = await verifyPassword(
    password,
    operator?.passwordHash ?? (await (decoyHash ??= hashPassword("decoy"))),
  );
  if (!operator || !matches) return { ok: false, status: 400, message: SIGN_IN_FAILED };
  await signInByAccount.reset(email);
  return { ok: true, setCookie: await startSession(operator) };
}
