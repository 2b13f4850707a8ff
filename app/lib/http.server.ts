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

const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data"];

/**
 * The body of a form post, or a 4xx: 413 over `limit`, 415 for a body that
 * is not a form (JSON, text/plain, none declared), 400 for one that does not
 * parse (`request.formData()` throws on a broken multipart body).
 */
export async function readForm(request: Request, limit: number): Promise<FormData> {
  assertBodyWithin(request, limit);
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  invariantResponse(FORM_TYPES.includes(type), "This address takes a form (application/x-www-form-urlencoded).", {
    status: 415,
  });
  try {
    return await request.formData();
  } catch (error: unknown) {
    // An aborted request is not the sender's bad form: let Remix see the abort.
    if (request.signal.aborted) throw error;
    throw new Response("The form could not be read.", {
      status: 400,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  }
}
