/**
 * `resect serve`: the backend over HTTP + WebSocket, for a browser.
 *
 * Every HTTP request and WebSocket upgrade needs the per-launch token: `?token=`, `Authorization: Bearer`, or the
 * HttpOnly cookie set on the first authenticated request (so the page's own asset and WebSocket requests work
 * with the token only in the page URL). Without it: 401. No CORS headers are ever sent. Behind the token
 * (guards.ts): a Host that is not this machine's (DNS rebinding) gets 421, and an upload, a download or a WebSocket
 * from another origin 403. No client can take the process down: every socket, stream and message handler catches
 * what it throws, and a client that sends too much is cut off alone (at most MAX_IN_FLIGHT requests at a time per
 * socket, MAX_MESSAGE bytes per message).
 */
import http from 'node:http';
import { createReadStream, existsSync } from 'node:fs';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { ApiError, RequestMessage, type ServerMessage } from '../../common/api';
import type { Backend } from '../backend';
import { COMMON_HEADERS, contentSecurityPolicy } from './security';
import { resolveStatic } from './static';
import { handleTransfer } from './transfer';
import { allowedHostNames, hostAllowed, originAllowed } from './guards';

/** Largest WebSocket message accepted; a bigger one closes that socket (1009), nothing else. */
export const MAX_MESSAGE = 64 * 1024 * 1024;
/** Requests one socket may have running at once; more are answered `busy` at once. */
export const MAX_IN_FLIGHT = 64;

export interface ServeOptions {
  backend: Backend;
  host: string;
  port: number;
  /** Folder of the built renderer (dist/renderer). */
  rendererDir: string;
  /** Fixed token (tests); random per launch otherwise. */
  token?: string;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

type AuthVia = 'query' | 'header' | 'cookie' | null;

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { backend } = opts;
  const token = opts.token ?? newToken();
  let cookieName = 'resect_token';

  const authenticate = (req: http.IncomingMessage, url: URL): AuthVia => {
    const q = url.searchParams.get('token');
    if (q && safeEqual(q, token)) return 'query';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && safeEqual(auth.slice(7).trim(), token)) return 'header';
    const c = parseCookies(req.headers.cookie)[cookieName];
    if (c && safeEqual(c, token)) return 'cookie';
    return null;
  };

  const requestUrl = (req: http.IncomingMessage) => new URL(req.url ?? '/', 'http://localhost');
  const allowedHosts = allowedHostNames(opts.host);

  const server = http.createServer((req, res) => {
    try {
      serveRequest(req, res);
    } catch (e) {
      // Never reached by a known path; if it is, this request fails and the server goes on.
      process.stderr.write(`request failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  });
  // A malformed request line or headers: answer 400 and drop that connection only.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => socket.destroy());
    else socket.destroy();
  });

  const serveRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
    // A client that resets mid-request must not raise an 'error' nobody listens to; whoever reads the body (an
    // upload's pipeline) sees the failure and answers, so these listeners only keep it from becoming uncaught.
    req.on('error', () => {});
    res.on('error', () => {});
    let url: URL;
    try {
      url = requestUrl(req);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!hostAllowed(req.headers.host, allowedHosts)) {
      res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('Misdirected request: this server answers only to its own address (see RESECT_ALLOWED_HOSTS for a proxy).\n');
      return;
    }
    const via = authenticate(req, url);
    if (!via) {
      res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'WWW-Authenticate': 'Bearer', 'Cache-Control': 'no-store' });
      res.end('Unauthorized. Open the address that `resect serve` printed: it carries the access token.\n');
      return;
    }
    if (via !== 'cookie') {
      res.setHeader('Set-Cookie', `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`);
    }
    if (url.pathname.startsWith('/api/') && !originAllowed(req)) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Requests from another origin are refused.\n');
      return;
    }
    if (handleTransfer(req, res, url, backend)) return; // PUT /api/upload, GET /api/download/<id>
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/api') {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8' }).end('The API is a WebSocket at /api.\n');
      return;
    }
    const csp = contentSecurityPolicy();
    if (!existsSync(path.join(opts.rendererDir, 'index.html'))) {
      res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp, 'Cache-Control': 'no-store' });
      res.end('<!doctype html><meta charset="utf-8"><title>Resect</title><p>The Resect UI is not built. Run <code>npm run build</code>, then start <code>resect serve</code> again.</p>\n');
      return;
    }
    const hit = resolveStatic(opts.rendererDir, url.pathname);
    if (!hit && url.pathname === '/favicon.ico') {
      res.writeHead(204).end(); // browsers ask for it on their own; no icon is not an error
      return;
    }
    if (!hit) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return;
    }
    const isHtml = hit.type.startsWith('text/html');
    res.writeHead(200, {
      'Content-Type': hit.type,
      'Cache-Control': isHtml ? 'no-store' : 'private, max-age=3600',
      ...(isHtml ? { 'Content-Security-Policy': csp } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(hit.file)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  wss.on('error', (e) => process.stderr.write(`WebSocket server error: ${e.message}\n`));

  const refuse = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  server.on('upgrade', (req, socket, head) => {
    // Until `ws` takes the socket over, a reset connection must not become an uncaught 'error'.
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = requestUrl(req);
    } catch {
      return refuse(socket, 400, 'Bad Request');
    }
    if (!hostAllowed(req.headers.host, allowedHosts)) return refuse(socket, 421, 'Misdirected Request');
    if (!authenticate(req, url)) return refuse(socket, 401, 'Unauthorized');
    if (url.pathname !== '/api') return refuse(socket, 404, 'Not Found');
    if (!originAllowed(req)) return refuse(socket, 403, 'Forbidden');
    try {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch (e) {
      process.stderr.write(`WebSocket upgrade failed: ${(e as Error).message}\n`);
      socket.destroy();
    }
  });

  const send = (ws: WebSocket, msg: ServerMessage) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch (e) {
      // A result JSON cannot carry (e.g. a BigInt): the client gets an error instead of the socket dying.
      if (msg.type !== 'response') return;
      text = JSON.stringify({ type: 'response', id: msg.id, ok: false, error: new ApiError('internal', `The result could not be sent: ${(e as Error).message}`).toShape() });
    }
    ws.send(text, (err) => {
      if (err) ws.terminate();
    });
  };

  /** A message → its request, or null after answering why it is not one. */
  const parseRequest = (ws: WebSocket, raw: WebSocket.RawData): RequestMessage | null => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString());
    } catch {
      send(ws, { type: 'response', id: -1, ok: false, error: new ApiError('invalid_params', 'The message is not JSON').toShape() });
      return null;
    }
    const req = RequestMessage.safeParse(parsed);
    if (!req.success) {
      const given = (parsed as { id?: unknown })?.id;
      const id = Number.isSafeInteger(given) ? (given as number) : -1;
      send(ws, { type: 'response', id, ok: false, error: new ApiError('invalid_params', 'Malformed request message', { issues: req.error.issues }).toShape() });
      return null;
    }
    return req.data;
  };

  const answer = async (ws: WebSocket, req: RequestMessage) => {
    const out = await backend.router.dispatch(req.method, req.params);
    send(ws, out.ok ? { type: 'response', id: req.id, ok: true, result: out.result } : { type: 'response', id: req.id, ok: false, error: out.error });
  };

  wss.on('connection', (ws: WebSocket & { alive?: boolean }) => {
    ws.alive = true;
    let inFlight = 0;
    // A bad frame (unmasked, oversize, invalid UTF-8, reserved bits) or a reset ends this socket, never the process.
    ws.on('error', () => ws.terminate());
    ws.on('pong', () => (ws.alive = true));
    ws.on('message', (raw) => {
      const req = parseRequest(ws, raw);
      if (!req) return;
      if (inFlight >= MAX_IN_FLIGHT) {
        const error = new ApiError('conflict', `More than ${MAX_IN_FLIGHT} requests at once on one connection: wait for answers, then ask again.`);
        send(ws, { type: 'response', id: req.id, ok: false, error: error.toShape() });
        return;
      }
      inFlight++;
      answer(ws, req)
        .catch((e: unknown) => process.stderr.write(`WebSocket message failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`))
        .finally(() => inFlight--);
    });
  });

  const unsubscribe = backend.subscribe((event, data) => {
    if (wss.clients.size === 0) return;
    const frame = JSON.stringify({ type: 'event', event, data } satisfies ServerMessage);
    for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients as Set<WebSocket & { alive?: boolean }>) {
      if (ws.alive === false) {
        ws.terminate();
        continue;
      }
      ws.alive = false;
      ws.ping();
    }
  }, 30_000);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // Cookies ignore ports: name the cookie by port so two servers on one host do not overwrite each other's.
  cookieName = `resect_token_${port}`;
  const url = `http://${hostForUrl(opts.host)}:${port}/?token=${token}`;

  return {
    url,
    host: opts.host,
    port,
    token,
    close: async () => {
      clearInterval(heartbeat);
      unsubscribe();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
