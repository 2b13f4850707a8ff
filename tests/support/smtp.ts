import { SMTPServer } from "smtp-server";

/**
 * A real SMTP server on loopback for the mail tests (the smtp-server
 * package): no TLS, no auth, every message kept with its envelope.
 */

export type ReceivedMail = { from: string; to: string[]; raw: string };

export type TestSmtp = {
  port: number;
  received: ReceivedMail[];
  /** Starts listening on `port` again after stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
};

export async function startSmtp(port = 0): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  let server: SMTPServer | undefined;
  let current = port;
  const create = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString("utf8"),
          });
          callback();
        });
      },
    });
  const smtp: TestSmtp = {
    get port() {
      return current;
    },
    received,
    start: () =>
      new Promise((resolve, reject) => {
        server = create();
        server.on("error", reject);
        server.listen(current, "127.0.0.1", () => {
          const address = server?.server.address();
          if (address && typeof address === "object") current = address.port;
          resolve();
        });
      }),
    stop: () =>
      new Promise((resolve) => {
        if (!server) return resolve();
        const closing = server;
        server = undefined;
        closing.close(() => resolve());
      }),
  };
  await smtp.start();
  return smtp;
}

/** A header's value from raw message text (unfolded). */
export function header(raw: string, name: string) {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? "";
  const match = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, "im").exec(head);
  return match?.[1]?.replace(/\r?\n[ \t]+/g, " ").trim();
}

/** The decoded body of the part with this content type (quoted-printable or base64 or plain). */
export function part(raw: string, contentType: string) {
  const at = raw.search(new RegExp(`^Content-Type: ${contentType.replace("/", "\\/")}`, "im"));
  if (at < 0) return undefined;
  const rest = raw.slice(at);
  const [headers = "", ...bodyParts] = rest.split(/\r?\n\r?\n/);
  const body = bodyParts.join("\n\n").split(/\r?\n--/)[0] ?? "";
  const encoding = /Content-Transfer-Encoding:\s*(\S+)/i.exec(headers)?.[1]?.toLowerCase();
  if (encoding === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding === "quoted-printable") {
    const bytes = body.replace(/=\r?\n/g, "").replace(/\r\n/g, "\n");
    const out: number[] = [];
    for (let i = 0; i < bytes.length; i += 1) {
      if (bytes[i] === "=" && /^[0-9A-F]{2}$/i.test(bytes.slice(i + 1, i + 3))) {
        out.push(Number.parseInt(bytes.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        out.push(...Buffer.from(bytes[i] ?? "", "utf8"));
      }
    }
    return Buffer.from(out).toString("utf8");
  }
  return body.replace(/\r\n/g, "\n");
}
