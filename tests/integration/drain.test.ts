import net from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { emulatorControl } from "../support/emulator";
import { parseAnswer, type RawAnswer } from "../support/raw-http";
import { startBuiltServer, type Proc } from "../support/server";

/**
 * SIGTERM during a deploy, seen from real keep-alive connections: a post
 * whose body is still arriving is answered (with `Connection: close`), an
 * idle connection is closed cleanly (FIN, not a reset), a new connection is
 * refused, and the process exits 0 once nothing is left.
 */

const emu = emulatorControl();
let server: Proc & { databasePath: string };
let exited: Promise<number | null>;

beforeAll(async () => {
  server = await startBuiltServer({ stripeApiBase: emu.url });
  exited = new Promise((resolve) => server.child.once("exit", (code) => resolve(code)));
});
afterAll(() => server?.stop("SIGKILL"));

/** A keep-alive connection that reads answers one at a time. */
function keepAlive(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  let buffer = Buffer.alloc(0);
  let ended = false;
  let error: string | null = null;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake();
  });
  socket.on("end", () => {
    ended = true;
    wake();
  });
  socket.on("close", () => {
    ended = true;
    wake();
  });
  socket.on("error", (e: NodeJS.ErrnoException) => {
    error = e.code ?? e.message;
    wake();
  });
  const until = (done: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 15_000);
      const check = () => {
        if (done() || ended || error) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });

  /** The next complete answer on the connection (Content-Length or chunked). */
  function complete(): number | null {
    const text = buffer.toString("latin1");
    const end = text.indexOf("\r\n\r\n");
    if (end === -1) return null;
    const head = text.slice(0, end).toLowerCase();
    const length = /\r\ncontent-length: *(\d+)/.exec(head)?.[1];
    if (length !== undefined) return text.length >= end + 4 + Number(length) ? end + 4 + Number(length) : null;
    if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      const last = text.indexOf("\r\n0\r\n\r\n", end);
      if (text.startsWith("0\r\n\r\n", end + 4)) return end + 4 + 5;
      return last === -1 ? null : last + 7;
    }
    return ended ? text.length : null;
  }

  return {
    socket,
    connected: new Promise<void>((resolve) => socket.once("connect", () => resolve())),
    write: (text: string) => socket.write(text),
    async next(): Promise<RawAnswer> {
      await until(() => complete() !== null, "an answer");
      const size = complete();
      if (size === null) return { ok: false, error: error ?? "closed before an answer", received: buffer.toString() };
      const answer = parseAnswer(buffer.subarray(0, size).toString("latin1"));
      buffer = buffer.subarray(size);
      return answer;
    },
    async closed() {
      await until(() => false, "the connection to close");
      return { error, ended };
    },
  };
}

describe("SIGTERM drains keep-alive connections", () => {
  it("answers the post in flight, closes the idle connection cleanly, refuses new ones, exits 0", async () => {
    const host = `127.0.0.1:${server.port}`;
    const page = await fetch(`${server.url}/products/ceramic-pour-over`);
    const token = /name="token" value="([^"]+)"/.exec(await page.text())![1]!;
    const cookie = page.headers.get("set-cookie")!.split(";")[0]!;

    // Two keep-alive connections, each with one answered request behind it.
    const busy = keepAlive(server.port);
    const idle = keepAlive(server.port);
    await Promise.all([busy.connected, idle.connected]);
    for (const conn of [busy, idle]) {
      conn.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const first = await conn.next();
      expect(first.ok && first.status).toBe(200);
      expect(first.ok && first.headers.connection).not.toBe("close");
    }

    // The shopper's Buy post has started: headers and half its body are in.
    const body = new URLSearchParams({ quantity: "1", token }).toString();
    const half = Math.floor(body.length / 2);
    busy.write(
      `POST /products/ceramic-pour-over HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
    );
    await new Promise((r) => setTimeout(r, 300));

    // The next connection is tried once the server says it is draining (the signal is handled).
    const drainingLine = server.nextLine(/shutdown: SIGTERM, draining/);
    server.child.kill("SIGTERM");
    await drainingLine;
    const idleClosed = await idle.closed();
    expect(idleClosed).toEqual({ error: null, ended: true });

    // A new connection while the post is still in flight is refused, or reset before any
    // request on it is read, or (the kernel took it before the listener closed) answered
    // with `Connection: close`: never kept open, never left without an answer.
    const late = keepAlive(server.port);
    const lateOutcome = await Promise.race([
      late.connected.then(async () => {
        late.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        const answer = await late.next();
        return answer.ok ? `answered ${answer.status} connection=${answer.headers.connection}` : "closed";
      }),
      late.closed().then(({ error }) => (error === "ECONNREFUSED" || error === "ECONNRESET" ? "refused" : "closed")),
    ]);
    expect(["refused", "closed", "answered 200 connection=close"]).toContain(lateOutcome);

    // The rest of the body arrives: the post is answered, and the connection closed after it.
    busy.write(body.slice(half));
    const answer = await busy.next();
    expect(answer.ok && answer.status).toBe(303);
    expect(answer.ok && answer.headers.location).toMatch(/\/c\/pay\/cs_test_/);
    expect(answer.ok && answer.headers.connection).toBe("close");
    expect(await busy.closed()).toEqual({ error: null, ended: true });
    expect(await emu.requestsTo("POST", "/v1/checkout/sessions")).toHaveLength(1);

    expect(await exited).toBe(0);
  });
});
