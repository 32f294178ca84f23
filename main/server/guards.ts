/**
 * The served backend's second line of defence behind the token, and what keeps it alive whatever a client sends.
 *
 * - Host check (DNS rebinding): a page on `evil.example` whose name is re-pointed at 127.0.0.1 reaches the server
 *   with `Host: evil.example`. Like Jupyter's `local_hostnames`/`allow_remote_access`, a request is served only
 *   when its Host is an IP literal, `localhost` (or `*.localhost`), the name the server was bound to, or a name in
 *   `RESECT_ALLOWED_HOSTS` (comma-separated; for a reverse proxy). Ports are not compared: SSH tunnels remap them.
 * - Origin check: a request that carries an Origin (a browser's cross-site fetch, form post or WebSocket) must come
 *   from the page's own origin, i.e. `http://<Host>`.
 * - Process guards: an error no handler caught is logged and the process keeps serving (the jobs run in other
 *   processes and must not die with a client's bad request).
 */
import { isIP } from 'node:net';
import type http from 'node:http';

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`), lower-cased; null when malformed. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return v6[1]!;
  const m = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]!.replace(/\.$/, '') : null;
}

/** Names a Host header may carry besides IP literals and localhost: the bound name and RESECT_ALLOWED_HOSTS. */
export function allowedHostNames(bound: string, env: NodeJS.ProcessEnv = process.env): Set<string> {
  const names = new Set<string>();
  if (!isIP(bound) && bound) names.add(bound.toLowerCase());
  for (const n of (env.RESECT_ALLOWED_HOSTS ?? '').split(',')) if (n.trim()) names.add(n.trim().toLowerCase());
  return names;
}

export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  const name = hostName(header);
  if (name === null) return false;
  if (isIP(name)) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.has(name);
}

/** No Origin (not a browser's cross-site request), or exactly the page's own origin. */
export function originAllowed(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === `http://${req.headers.host ?? ''}`;
}

let guarded = false;

/**
 * Process-level handlers for errors nothing else caught: log them and keep serving. Installed once by
 * `resect serve` and by the Electron main process; a second call does nothing.
 */
export function keepServingOnErrors(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (guarded) return;
  guarded = true;
  process.on('uncaughtException', (e) => log(`Resect kept serving after an uncaught error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  process.on('unhandledRejection', (e) => log(`Resect kept serving after an unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
}
