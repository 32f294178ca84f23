/**
 * How an id or relative path from a client becomes a path under its folder, and nothing else: the one rule the
 * backend (main/) and the worker jobs (workers/jobs/) both apply. It lives here, below main/, so that workers need not
 * import the backend (dependencies point main → workers); main/workspace/paths.ts re-exports it.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from '../common/api';
import { isFolderId } from '../common/ids';

/** Whether `child` is `parent` or inside it (after resolution); for checks that a path stays in its folder. */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Longest relative path (characters) accepted from a client; each segment is at most 200. */
const MAX_RELATIVE = 1024;

function refuse(what: string, input: string, why: string): ApiError {
  const shown = input.length > 120 ? `${input.slice(0, 120)}…` : input;
  return new ApiError('invalid_params', `Not a valid ${what}: "${shown}" (${why}).`);
}

/** The deepest existing ancestor of `p`, resolved through symbolic links (null when even the root is gone). */
function realAncestor(p: string): string | null {
  for (let cur = p; ; cur = path.dirname(cur)) {
    try {
      return realpathSync(cur);
    } catch {
      if (path.dirname(cur) === cur) return null;
    }
  }
}

/**
 * THE rule for every id or relative path that comes from a client (API params, upload names, job params, CLI ids):
 * resolves it under `parent` and refuses anything that could name something else. `kind: 'id'` (default) takes one
 * folder id (common/ids.ts: no separators, never `.`, `..` or hidden); `kind: 'relative'` takes a relative path of
 * such segments (an upload's folder structure). Refused: empty names, NUL and control characters, absolute paths,
 * `.`/`..`/hidden segments, over-long names, and a result that is `parent` itself or outside it — also through a
 * symbolic link inside `parent` that points out of it. Throws ApiError `invalid_params` naming `what`.
 */
export function resolveUnder(parent: string, input: string, what: string, kind: 'id' | 'relative' = 'id'): string {
  if (typeof input !== 'string' || input === '') throw refuse(what, String(input), 'it is empty');
  if (kind === 'id') {
    if (!isFolderId(input)) throw refuse(what, input, 'use 1–80 letters, digits, "_", "-" or ".", not starting with "."');
  } else {
    if (input.length > MAX_RELATIVE) throw refuse(what, input, `it is longer than ${MAX_RELATIVE} characters`);
    if (/[\x00-\x1f\x7f]/.test(input)) throw refuse(what, input, 'it contains control characters');
    if (path.isAbsolute(input) || path.win32.isAbsolute(input) || /^[\\/]/.test(input)) throw refuse(what, input, 'it is an absolute path');
    const segments = input.split(/[\\/]/);
    for (const seg of segments) {
      if (seg === '' || seg.startsWith('.')) throw refuse(what, input, 'it has an empty, ".", ".." or hidden part');
      if (seg.length > 200) throw refuse(what, input, 'a part is longer than 200 characters');
    }
  }
  const root = path.resolve(parent);
  const out = path.resolve(root, input);
  if (out === root || !isInside(root, out)) throw refuse(what, input, 'it leaves its folder');
  // A link inside the folder must not lead out of it.
  const realRoot = realAncestor(root);
  const realOut = realAncestor(out);
  if (realRoot && realOut && !isInside(realRoot, realOut)) throw refuse(what, input, 'it leads out of its folder through a link');
  return out;
}
