/** Lets the current test call console.error with a line matching `pattern`. */
export function expectConsoleError(pattern: RegExp) {
  (globalThis as { __expectConsoleError?: (pattern: RegExp) => void }).__expectConsoleError?.(pattern);
}
