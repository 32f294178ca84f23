/** Security headers shared by the served UI and the Electron window. */

/**
 * Content Security Policy of every page Resect shows. No inline or remote script, no eval, no plugins, no framing;
 * network only to the page's own origin (its WebSocket included). Inline *styles* are allowed: Vue components and
 * plotting code set them, and they cannot run code.
 */
export function contentSecurityPolicy(opts: { connect?: string[] } = {}): string {
  const connect = ["'self'", ...(opts.connect ?? [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src ${connect}`,
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Headers for every response of the served UI (the CSP is added to pages). */
export const COMMON_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  // The token travels in the page URL: never leak it through Referer.
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
