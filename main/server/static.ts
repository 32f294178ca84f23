/** Resolves request paths to files of the built renderer, safely (no escaping its folder), with SPA fallback. */
import { statSync } from 'node:fs';
import path from 'node:path';
import { isInside } from '../workspace/paths';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface StaticHit {
  file: string;
  type: string;
  /** True when this is index.html served for a client-side route. */
  fallback: boolean;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The file for a URL path under `root`, or null (404). Paths without an extension that match no file are
 * client-side routes and get index.html; a missing file with an extension is a 404.
 */
export function resolveStatic(root: string, urlPath: string): StaticHit | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const rel = decoded.replace(/^\/+/, '');
  const candidate = path.resolve(root, rel);
  if (!isInside(root, candidate)) return null;
  // No dotfiles (e.g. .vite metadata).
  if (rel.split(/[\\/]/).some((seg) => seg.startsWith('.'))) return null;
  if (rel !== '' && isFile(candidate)) return { file: candidate, type: contentType(candidate), fallback: false };
  if (rel === '' || path.extname(rel) === '') {
    const index = path.join(root, 'index.html');
    if (isFile(index)) return { file: index, type: TYPES['.html']!, fallback: rel !== '' };
  }
  return null;
}
