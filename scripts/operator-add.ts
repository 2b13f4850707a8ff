// `npm run operator:add -- --email E`: creates an operator of the console, or
// resets their password (which signs out their sessions). The password is read
// from standard input, never from argv (which other users of the machine and
// shell history can see): typed at a prompt, or piped (`printf %s "$PW" | ...`).
import { parseArgs } from "node:util";

const USAGE = `Usage: npm run operator:add -- --email <address>

Reads the password from standard input (at least 12 characters) and stores it as a scrypt hash.
An existing operator's password is reset, and every session of theirs is signed out.`;

function exit(code: number, message: string): never {
  (code === 0 ? process.stdout : process.stderr).write(`${message}\n`);
  process.exit(code);
}

let email: string | undefined;
try {
  const { values } = parseArgs({ options: { email: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) exit(0, USAGE);
  email = values.email;
} catch (error: unknown) {
  exit(2, `${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
}
if (!email) exit(2, `--email is required.\n\n${USAGE}`);

async function readPassword(): Promise<string> {
  const input = process.stdin;
  if (input.isTTY) {
    process.stderr.write("Password (not shown): ");
    input.setRawMode(true);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (input.isTTY) {
      // Enter ends a typed password; Ctrl-C aborts.
      if (buffer.includes(3)) exit(130, "");
      const end = buffer.findIndex((byte) => byte === 13 || byte === 10);
      if (end >= 0) {
        chunks.push(buffer.subarray(0, end));
        break;
      }
    }
    chunks.push(buffer);
  }
  if (input.isTTY) {
    input.setRawMode(false);
    input.pause();
    process.stderr.write("\n");
  }
  // A piped password may end with one newline (echo); that is not part of it.
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

const password = await readPassword();

let app: typeof import("~/lib/operators.server");
try {
  app = await import("~/lib/operators.server");
} catch (error: unknown) {
  if (error instanceof Error && error.name === "ConfigError") exit(2, error.message);
  throw error;
}
const { closeDatabase } = await import("~/lib/db.server");
try {
  const outcome = await app.upsertOperator(email, password);
  process.stdout.write(
    outcome === "created"
      ? `Operator ${app.normalizeEmail(email)} created.\n`
      : `Password of ${app.normalizeEmail(email)} reset; their sessions are signed out.\n`,
  );
} catch (error: unknown) {
  await closeDatabase();
  exit(2, error instanceof Error ? error.message : String(error));
}
await closeDatabase();
