import net from "node:net";

/**
 * One HTTP/1.1 exchange over a plain socket, for requests that fetch would
 * normalize or refuse to send (a bad Host, an absolute-form target, TRACE,
 * `OPTIONS *`, a wrong Content-Length). The request should say
 * `Connection: close`; the answer is read until the server closes.
 */

export type RawAnswer =
  | { ok: true; status: number; head: string; headers: Record<string, string>; body: string }
  | { ok: false; error: string; received: string };

export function parseAnswer(received: string): RawAnswer {
  const end = received.indexOf("\r\n\r\n");
  const head = end === -1 ? received : received.slice(0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
  if (!status) return { ok: false, error: "no status line", received };
  const headers: Record<string, string> = {};
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end === -1 ? "" : received.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { ok: true, status: Number(status), head, headers, body };
}

function unchunk(body: string) {
  let out = "";
  let rest = body;
  for (;;) {
    const line = rest.indexOf("\r\n");
    if (line === -1) return out;
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!size) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

export function rawRequest(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    const received = () => Buffer.concat(chunks).toString("latin1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: `no answer within ${timeoutMs} ms`, received: received() });
    }, timeoutMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.code ?? error.message, received: received() });
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseAnswer(received()));
    });
  });
}

/** A request's text: a request line, headers (Connection: close added) and an optional body. */
export function requestText(
  line: string,
  headers: Record<string, string | undefined>,
  body = "",
  { contentLength = true }: { contentLength?: boolean } = {},
) {
  const lines = [line];
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) lines.push(`${name}: ${value}`);
  if (contentLength && body && !Object.keys(headers).some((h) => h.toLowerCase() === "content-length")) {
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  }
  lines.push("Connection: close");
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
