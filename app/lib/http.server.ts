/**
 * Keeps loaders and actions linear: throw a Response when a condition fails
 * (Epic Stack's invariantResponse).
 */
export function invariantResponse(
  condition: unknown,
  message: string,
  init: ResponseInit = { status: 400 },
): asserts condition {
  if (!condition) {
    throw new Response(message, {
      ...init,
      headers: { "Content-Type": "text/plain; charset=utf-8", ...init.headers },
    });
  }
}

/** 413 when the request says its body is larger than `limit` bytes. */
export function assertBodyWithin(request: Request, limit: number) {
  const length = Number(request.headers.get("Content-Length") ?? "0");
  invariantResponse(!(length > limit), `The request is too large (at most ${limit} bytes).`, { status: 413 });
}
