/**
 * File transfers of `resect serve` (a browser cannot hand the backend a path):
 *
 * - `PUT /api/upload?name=<relative path>&batch=<id>` streams the body to `<workspace>/tmp/uploads/<batch>/<name>`
 *   (a new batch when `batch` is absent; files of one dropped folder share a batch so their folder names are kept).
 *   Answers `{ id, path, root, bytes }`: `path` (or `root/<top folder>`) is an import source.
 * - `GET /api/download/<id>` sends the one file of `<workspace>/tmp/downloads/<id>/` (a browser export).
 *
 * The caller has already checked the token (the same check as every other request). Names are reduced to safe
 * path segments; a body over the limit (`RESECT_UPLOAD_LIMIT` bytes, default 16 GiB) is refused and removed.
 */
import type http from 'node:http';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ApiError } from '../../common/api';
import type { Backend } from '../backend';
import { newTransferId, sweepTransfers, TRANSFER_ID, transferFolder } from '../workspace/transfers';
import { resolveUnder } from '../workspace/paths';

const DEFAULT_LIMIT = 16 * 1024 ** 3;

function uploadLimit(): number {
  const n = Number(process.env.RESECT_UPLOAD_LIMIT);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_LIMIT;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function fail(res: http.ServerResponse, status: number, message: string): void {
  json(res, status, { error: message });
}

/** A relative path from a client → safe segments (no `..`, no hidden or empty names, no separators or controls). */
export function safeRelativePath(name: string): string | null {
  const segs = name
    .split(/[\\/]+/)
    .map((s) => s.replace(/[\x00-\x1f\x7f<>:"|?*]/g, '_').trim())
    .filter((s) => s !== '' && s !== '.');
  if (segs.length === 0 || segs.length > 32 || segs.some((s) => s === '..' || s.startsWith('.') || s.length > 200)) return null;
  return segs.join(path.sep);
}

/** Handles /api/upload and /api/download/<id>; returns false for any other path. */
export function handleTransfer(req: http.IncomingMessage, res: http.ServerResponse, url: URL, backend: Backend): boolean {
  if (url.pathname === '/api/upload') {
    // Nothing a client sends may escape as an unhandled rejection (it would end the process and every job).
    void upload(req, res, url, backend).catch((e: unknown) => answerError(res, e));
    return true;
  }
  const m = /^\/api\/download\/([^/]+)$/.exec(url.pathname);
  if (m) {
    try {
      download(req, res, m[1]!, backend);
    } catch (e) {
      answerError(res, e);
    }
    return true;
  }
  return false;
}

/** The answer to a request whose handler threw: the ApiError's message, or a 500 that names the cause. */
function answerError(res: http.ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('Connection', 'close');
  if (e instanceof ApiError) return fail(res, e.code === 'not_found' ? 404 : 400, e.message);
  process.stderr.write(`transfer failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  fail(res, 500, `The transfer failed: ${e instanceof Error ? e.message : String(e)}`);
}

async function upload(req: http.IncomingMessage, res: http.ServerResponse, url: URL, backend: Backend): Promise<void> {
  if (req.method !== 'PUT' && req.method !== 'POST') {
    res.writeHead(405, { Allow: 'PUT, POST' }).end();
    return;
  }
  const origin = req.headers.origin;
  if (origin && origin !== `http://${req.headers.host}`) return fail(res, 403, 'Uploads from another origin are refused.');
  const ws = backend.workspace;
  if (!ws) return fail(res, 503, 'No workspace is open.');
  const rel = safeRelativePath(url.searchParams.get('name') ?? '');
  if (!rel) return fail(res, 400, 'Give the file name as ?name= (a relative path without hidden or ".." parts).');
  const batchParam = url.searchParams.get('batch');
  if (batchParam !== null && !TRANSFER_ID.test(batchParam)) return fail(res, 400, 'Not an upload batch id.');
  const limit = uploadLimit();
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.setHeader('Connection', 'close');
    return fail(res, 413, `The file is larger than the upload limit (${limit} bytes).`);
  }
  // Each drop is its own batch (no `batch`): earlier batches stay until they are imported or discarded.
  if (batchParam === null) sweepTransfers(ws, 'uploads', backend.requireScheduler().list());
  const id = batchParam ?? newTransferId();
  const batchDir = transferFolder(ws, 'uploads', id);
  const dest = resolveUnder(batchDir, rel, 'upload name', 'relative');
  if (existsSync(dest)) return fail(res, 409, `${rel} was already uploaded in this batch.`);
  // `a` uploaded as a file, then `a/b`: a part of the path is a file, so the folder cannot be made.
  const clash = fileOnTheWay(batchDir, dest);
  if (clash) return fail(res, 409, `${rel} cannot be stored: ${path.relative(batchDir, clash)} was uploaded as a file in this batch.`);
  try {
    mkdirSync(path.dirname(dest), { recursive: true });
  } catch (e) {
    return fail(res, 409, `${rel} cannot be stored in this batch: ${(e as Error).message}`);
  }
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > limit) cb(Object.assign(new Error(`The file is larger than the upload limit (${limit} bytes).`), { status: 413 }));
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(req, counter, createWriteStream(dest, { flags: 'wx' }));
  } catch (e) {
    rmSync(dest, { force: true });
    if (!res.headersSent) {
      res.setHeader('Connection', 'close');
      fail(res, (e as { status?: number }).status ?? 400, `The upload failed: ${(e as Error).message}`);
    }
    return;
  }
  json(res, 200, { id, path: dest, root: batchDir, bytes });
}

/** The first existing part of `dest`'s folders (below `root`) that is not a folder, or null. */
function fileOnTheWay(root: string, dest: string): string | null {
  const parts = path.relative(root, path.dirname(dest)).split(path.sep).filter(Boolean);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    try {
      if (!statSync(cur).isDirectory()) return cur;
    } catch {
      return null; // missing from here on: mkdir makes it
    }
  }
  return null;
}

function download(req: http.IncomingMessage, res: http.ServerResponse, id: string, backend: Backend): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const ws = backend.workspace;
  if (!ws) return fail(res, 503, 'No workspace is open.');
  if (!TRANSFER_ID.test(id)) return fail(res, 404, 'No such download.');
  const dir = transferFolder(ws, 'downloads', id);
  let file: string | undefined;
  try {
    file = readdirSync(dir).find((n) => !n.includes('.partial-'));
  } catch {
    /* missing */
  }
  if (!file) return fail(res, 404, 'No such download (it is not finished, or it expired).');
  const full = path.join(dir, file);
  const size = statSync(full).size;
  res.writeHead(200, {
    'Content-Type': file.endsWith('.parquet') ? 'application/vnd.apache.parquet' : 'application/x-ndjson; charset=utf-8',
    'Content-Length': String(size),
    'Content-Disposition': `attachment; filename="${file.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file)}`,
    'Cache-Control': 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(full)
    .on('error', () => res.destroy())
    .pipe(res);
}
