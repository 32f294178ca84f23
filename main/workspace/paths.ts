/** Where workspaces live, and how a path typed by a user becomes a checked absolute path. */
import os from 'node:os';
import path from 'node:path';
import { ApiError } from '../../common/api';
export { isInside, resolveUnder } from '../../workers/paths';

export const APP_NAME = 'Resect';

/** The OS app-data folder for Resect (what Electron's `app.getPath('userData')` gives for this app). */
export function appDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = os.homedir();
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', APP_NAME);
  if (platform === 'win32') return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), APP_NAME);
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), APP_NAME);
}

/** The workspace used when none is given: `$RESECT_WORKSPACE`, else `<app data>/workspace`. */
export function defaultWorkspaceDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESECT_WORKSPACE) return resolveUserPath(env.RESECT_WORKSPACE);
  return path.join(appDataDir(env), 'workspace');
}

/**
 * Resolves a path given by a user (CLI flag, dialog, API call): expands a leading `~`, makes it absolute against
 * the working directory, normalises it. Rejects empty paths and NUL bytes.
 */
export function resolveUserPath(input: string, cwd: string = process.cwd()): string {
  if (typeof input !== 'string' || input.trim() === '') throw new ApiError('invalid_params', 'The path is empty.');
  if (input.includes('\0')) throw new ApiError('invalid_params', 'The path contains a NUL byte.');
  let p = input.trim();
  if (p === '~') p = os.homedir();
  else if (p.startsWith('~/') || p.startsWith('~\\')) p = path.join(os.homedir(), p.slice(2));
  return path.resolve(cwd, p);
}

