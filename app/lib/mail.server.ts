import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import nodemailer from "nodemailer";

/**
 * Outgoing mail. With MAIL_URL, over SMTP. Without it (development only:
 * production refuses to start), each message is written to a folder as its
 * raw RFC 5322 text beside a small JSON summary, and /dev/mail lists them.
 */

export type Mail = {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
};

export type Mailer = { send(mail: Mail): Promise<void>; describe: string };

export type StoredMail = Omit<Mail, "html"> & { file: string; date: string; html: string };

export function smtpMailer(url: string): Mailer {
  const transport = nodemailer.createTransport(url, {
    // Fail an attempt within the job's timeout; the job retries later.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    describe: `SMTP ${new URL(url).host}`,
    async send(mail) {
      await transport.sendMail(mail);
    },
  };
}

/** One file per Message-ID: a retried mail overwrites itself instead of appearing twice. */
export function folderMailer(dir: string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    describe: `files in ${dir}`,
    async send(mail) {
      const info = await transport.sendMail(mail);
      mkdirSync(dir, { recursive: true });
      const base = mail.messageId.replace(/[^A-Za-z0-9._-]/g, "_");
      writeFileSync(path.join(dir, `${base}.eml`), info.message as Buffer);
      const summary = { ...mail, date: new Date().toISOString(), file: `${base}.eml` };
      writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify(summary, null, 2)}\n`);
    },
  };
}

/** The mails a folderMailer wrote, newest first. */
export function listStoredMail(dir: string): StoredMail[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".json"));
  } catch {
    return [];
  }
  return names
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), "utf8")) as StoredMail)
    .sort((a, b) => b.date.localeCompare(a.date));
}

/** An RFC 5322 msg-id carrying the job key, so a retried mail is recognisably the same one. */
export function messageIdFor(key: string, domain: string) {
  return `<${key.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, ".")}@${domain}>`;
}
