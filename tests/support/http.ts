/** Small helpers for calling loaders and actions with real Requests. */

export const ORIGIN = "http://shop.test";

export function formRequest(
  path: string,
  fields: Record<string, string>,
  { cookie, headers = {} }: { cookie?: string | null; headers?: Record<string, string> } = {},
) {
  return new Request(`${ORIGIN}${path}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      ...(cookie ? { Cookie: cookie } : {}),
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

export function getRequest(
  path: string,
  { cookie, headers = {} }: { cookie?: string | null; headers?: Record<string, string> } = {},
) {
  return new Request(`${ORIGIN}${path}`, { headers: { ...(cookie ? { Cookie: cookie } : {}), ...headers } });
}

/** The name=value part of a Set-Cookie header, to send back as Cookie. */
export function cookieFrom(response: Response) {
  const header = response.headers.get("Set-Cookie");
  return header ? header.split(";")[0]! : null;
}

/** Runs a loader or action that may throw a Response, and returns the Response either way. */
export async function settle(run: () => Promise<unknown>): Promise<Response> {
  try {
    const result = await run();
    if (result instanceof Response) return result;
    throw new Error(`expected a Response, got ${typeof result}`);
  } catch (error: unknown) {
    if (error instanceof Response) return error;
    throw error;
  }
}
