/**
 * How many events each commit of the state machine recorded (a batch's, or a
 * lone event's: 1), for whoever listens (the metrics module; a test). A module
 * of its own so that the stores need not import the metrics, which import the
 * stores.
 */
type Listener = (events: number) => void;
const listeners = new Set<Listener>();

export function onGroupCommit(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function groupCommitted(events: number) {
  for (const listener of listeners) listener(events);
}
