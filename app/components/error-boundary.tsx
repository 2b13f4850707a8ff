import { isRouteErrorResponse, Link, useRouteError } from "@remix-run/react";

import { useRequestInfo } from "./request-info";

type StatusMessages = Partial<Record<number, string>>;

const DEFAULT_MESSAGES: StatusMessages = {
  400: "That request was not understood.",
  403: "That request was refused.",
  404: "We could not find that page.",
  405: "That method is not allowed here.",
  413: "That request was too large.",
  429: "Too many requests. Please wait a minute and try again.",
  502: "The payment service did not answer. You have not been charged. Please try again.",
};

/**
 * The one error page, used by root and routes. A route passes its own
 * status-to-message map; unexpected errors show a generic message only.
 */
export function GeneralErrorBoundary({ messages = {} }: { messages?: StatusMessages }) {
  const error = useRouteError();
  const { requestId } = useRequestInfo();
  const all = { ...DEFAULT_MESSAGES, ...messages };
  if (isRouteErrorResponse(error)) {
    // A message a route chose to throw; Remix's own (internal) ones are not for shoppers.
    const internal = (error as { internal?: boolean }).internal === true;
    const detail = !internal && typeof error.data === "string" && error.data.length < 300 ? error.data : null;
    return (
      <section className="error" aria-labelledby="error-title">
        <h1 id="error-title">{all[error.status] ?? "Something went wrong."}</h1>
        {detail && detail !== all[error.status] ? <p>{detail}</p> : null}
        <p>
          <Link to="/">Back to the shop</Link>
        </p>
      </section>
    );
  }
  return (
    <section className="error" aria-labelledby="error-title">
      <h1 id="error-title">Something went wrong on our side.</h1>
      <p>Nothing was charged. Please try again in a moment.</p>
      {requestId ? (
        <p>
          If it keeps happening, tell us this reference: <code>{requestId}</code>
        </p>
      ) : null}
      <p>
        <Link to="/">Back to the shop</Link>
      </p>
    </section>
  );
}
