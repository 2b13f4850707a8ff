import type { HeadersFunction, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";

import { GeneralErrorBoundary } from "~/components/error-boundary";
import { config } from "~/lib/config.server";
import { invariantResponse } from "~/lib/http.server";
import { devMailDir } from "~/lib/jobs/start.server";
import { listStoredMail } from "~/lib/mail.server";

/**
 * GET /dev/mail: development only. Without MAIL_URL the shop writes each mail
 * to data/mail/ instead of sending it; this page lists them, newest first, so
 * that a newcomer who pays sees the confirmation. 404 in production.
 */

export const meta: MetaFunction = () => [{ title: "Mail (development): Field & Kiln" }];

export const headers: HeadersFunction = () => ({ "Cache-Control": "no-store" });

export async function loader() {
  invariantResponse(!config.production, "We could not find that page.", { status: 404 });
  const mails = listStoredMail(devMailDir()).map(({ messageId, to, from, subject, text, date }) => ({
    messageId,
    to,
    from,
    subject,
    text,
    date,
  }));
  return json(
    { mails, smtp: config.mail.url !== undefined, dir: devMailDir() },
    { headers: { "Cache-Control": "no-store" } },
  );
}

export default function DevMail() {
  const { mails, smtp, dir } = useLoaderData<typeof loader>();
  return (
    <section aria-labelledby="mail-title">
      <h1 id="mail-title">Mail the shop sent</h1>
      <p>
        {smtp
          ? "MAIL_URL is set: mail goes to that server, not here."
          : `Development without MAIL_URL: each mail is written to ${dir} and shown here instead of being sent.`}
      </p>
      {mails.length === 0 ? (
        <p>No mail yet. Pay for an order and the confirmation appears here once the job worker has run.</p>
      ) : (
        <ol className="mail-list">
          {mails.map((mail) => (
            <li key={mail.messageId}>
              <article>
                <h2>{mail.subject}</h2>
                <dl>
                  <dt>To</dt>
                  <dd>{mail.to}</dd>
                  <dt>From</dt>
                  <dd>{mail.from}</dd>
                  <dt>Date</dt>
                  <dd>
                    <time dateTime={mail.date}>{mail.date}</time>
                  </dd>
                  <dt>Message-ID</dt>
                  <dd>
                    <code>{mail.messageId}</code>
                  </dd>
                </dl>
                <pre>{mail.text}</pre>
              </article>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <GeneralErrorBoundary />;
}
