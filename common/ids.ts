/**
 * Ids that name a file or folder inside a workspace folder (atlas ids, upload batches, job ids): one pattern for
 * every schema, so a client can never name `.`, `..`, a hidden file or a path with separators. No Node imports:
 * the renderer validates with the same schema. The backend still resolves every id with `resolveUnder`
 * (main/workspace/paths.ts), which checks that the result stays inside its parent.
 */
import { z } from 'zod';

/** Letters, digits, `_`, `-` and `.`, 1–80 characters, not starting with `.` (so never `.`, `..` or hidden). */
export const FOLDER_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$/;

export const FolderId = z.string().regex(FOLDER_ID, 'an id is 1–80 letters, digits, "_", "-" or "." and does not start with "."');

/** Whether `s` is a safe folder id (the same rule as the schema). */
export function isFolderId(s: string): boolean {
  return FOLDER_ID.test(s);
}
