import { createContext, useContext } from "react";

/**
 * Per-request values the server renders into the document: the CSP nonce for
 * Remix's scripts and a reference id shown on error pages. In the browser the
 * nonce is hidden by design, so both are empty after hydration.
 */
export type RequestInfo = { nonce: string; requestId: string };

const RequestInfoContext = createContext<RequestInfo>({ nonce: "", requestId: "" });

export const RequestInfoProvider = RequestInfoContext.Provider;

export function useRequestInfo() {
  return useContext(RequestInfoContext);
}
