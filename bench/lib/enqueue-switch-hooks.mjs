// Module hooks for bench/jobs.ts's child (registered by it, before it imports the app):
// every import of app/lib/jobs/enqueue.server.ts gets bench/lib/enqueue-switch.ts instead,
// except the switch's own import of the real module. Nothing else is changed.
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (
    resolved.url.endsWith("/app/lib/jobs/enqueue.server.ts") &&
    !context.parentURL?.endsWith("/bench/lib/enqueue-switch.ts")
  ) {
    return { ...resolved, url: new URL("./enqueue-switch.ts", import.meta.url).href, shortCircuit: true };
  }
  return resolved;
}
