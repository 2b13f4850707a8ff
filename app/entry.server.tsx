import { PassThrough } from "node:stream";

import type { EntryContext, HandleErrorFunction } from "@remix-run/node";
import { createReadableStreamFromReadable } from "@remix-run/node";
import { isRouteErrorResponse, RemixServer } from "@remix-run/react";
import { renderToPipeableStream } from "react-dom/server";

// Configuration first: a bad value stops the server before it serves anything.
import { config } from "./lib/config.server";
import { RequestInfoProvider } from "./components/request-info";
import { logger } from "./lib/logger.server";
import { applyDocumentHeaders, newNonce, newRequestId } from "./lib/security.server";

export { config };
export { startJobs } from "./lib/jobs/start.server";
export { startReconcileSchedule } from "./lib/reconcile.server";
export { logger } from "./lib/logger.server";
export { recordHttpRequest } from "./lib/metrics.server";
export { createRequestGuard } from "./lib/request-guard.server";

// Single fetch: how long Remix waits for pending promises; rendering is abandoned a second later.
export const streamTimeout = 5_000;

const requestIds = new WeakMap<Request, string>();

/** The reference id of a request: set by server.js, made up here otherwise. */
export function requestIdOf(request: Request) {
  let id = requestIds.get(request);
  if (!id) {
    const header = request.headers.get("X-Request-Id");
    id = header && /^[a-f0-9]{16}$/.test(header) ? header : newRequestId();
    requestIds.set(request, id);
  }
  return id;
}

/**
 * Renders the whole document before answering (waits for onAllReady for
 * every request, browser or bot alike, so no isbot; no streaming of deferred
 * data), so that the status code is always the one the loaders chose.
 */
export default function handleRequest(
  request: Request,
  responseStatusCode: number,
  responseHeaders: Headers,
  remixContext: EntryContext,
) {
  const nonce = newNonce();
  const requestId = requestIdOf(request);
  return new Promise<Response>((resolve, reject) => {
    let status = responseStatusCode;
    const { pipe, abort } = renderToPipeableStream(
      <RequestInfoProvider value={{ nonce, requestId }}>
        <RemixServer context={remixContext} url={request.url} nonce={nonce} />
      </RequestInfoProvider>,
      {
        nonce,
        onAllReady() {
          const body = new PassThrough();
          responseHeaders.set("Content-Type", "text/html; charset=utf-8");
          applyDocumentHeaders(responseHeaders, nonce);
          resolve(
            new Response(createReadableStreamFromReadable(body), {
              headers: responseHeaders,
              status,
            }),
          );
          pipe(body);
        },
        onShellError(error: unknown) {
          reject(error);
        },
        onError() {
          status = 500;
        },
      },
    );
    setTimeout(abort, streamTimeout + 1_000);
  });
}

// Details go to the log with the reference id the error page shows; the
// response itself carries no stack, SQL, secret or header.
export const handleError: HandleErrorFunction = (error, { request }) => {
  if (request.signal.aborted) return;
  // Remix's own 404/405 for an unmatched URL is an answer, not an error.
  if (isRouteErrorResponse(error) && error.status < 500) return;
  logger.error(
    { requestId: requestIdOf(request), method: request.method, path: new URL(request.url).pathname },
    `error ref=${requestIdOf(request)} ${request.method} ${new URL(request.url).pathname}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
};
