import { ApiError, ErrorCode } from '../../../common/api';

export { ApiError };

/** Client-side failure reasons, carried in `ApiError.details.reason` (the wire codes are fixed by the contract). */
export type ClientFailure = 'timeout' | 'disconnected' | 'contract';

export function clientError(reason: ClientFailure, message: string, extra?: Record<string, unknown>): ApiError {
  return new ApiError('internal', message, { reason, ...extra });
}

export function isClientFailure(err: unknown, reason: ClientFailure): boolean {
  return err instanceof ApiError && (err.details as { reason?: unknown } | undefined)?.reason === reason;
}

function fromShape(raw: unknown): ApiError | null {
  if (!raw || typeof raw !== 'object') return null;
  const o = raw as { code?: unknown; message?: unknown; details?: unknown };
  const code = ErrorCode.safeParse(o.code);
  if (!code.success || typeof o.message !== 'string') return null;
  return new ApiError(code.data, o.message, o.details);
}

/**
 * Turns whatever a transport rejected with into an ApiError.
 * Handles `{code, message, details}` objects, ApiError instances, and Electron's
 * "Error invoking remote method 'x': Error: {json}" wrapping of errors thrown in the main process.
 */
export function toApiError(raw: unknown): ApiError {
  if (raw instanceof ApiError) return raw;
  const shaped = fromShape(raw);
  if (shaped) return shaped;
  const message = raw instanceof Error ? raw.message : typeof raw === 'string' ? raw : JSON.stringify(raw);
  const json = /\{.*\}$/s.exec(message ?? '');
  if (json) {
    try {
      const inner = fromShape(JSON.parse(json[0]));
      if (inner) return inner;
    } catch {
      /* not JSON: fall through */
    }
  }
  const stripped = (message ?? 'Unknown error').replace(/^Error invoking remote method '[^']*': (Error: )?/, '');
  return new ApiError('internal', stripped || 'Unknown error');
}

interface Issue {
  path?: (string | number)[];
  message?: string;
}

/** A one-paragraph, human-readable text for an error, including validation issues when present. */
export function describeError(err: unknown): string {
  const e = err instanceof ApiError ? err : toApiError(err);
  const issues = extractIssues(e.details);
  if (e.code === 'invalid_params' && issues.length) {
    const parts = issues.map((i) => (i.path && i.path.length ? `${i.path.join('.')}: ${i.message}` : `${i.message}`));
    const head = e.message && !/^invalid/i.test(e.message) ? `${e.message} — ` : '';
    return `${head}${parts.join('; ')}`;
  }
  return e.message;
}

function extractIssues(details: unknown): Issue[] {
  if (Array.isArray(details)) return details.filter((d): d is Issue => !!d && typeof d === 'object');
  if (details && typeof details === 'object' && Array.isArray((details as { issues?: unknown }).issues)) {
    return extractIssues((details as { issues: unknown }).issues);
  }
  return [];
}

export const errorTitles: Record<ErrorCode, string> = {
  invalid_params: 'Invalid input',
  unknown_method: 'Not supported by this backend',
  not_found: 'Not found',
  conflict: 'Conflict',
  unauthorized: 'Not authorised',
  workspace_unavailable: 'Workspace unavailable',
  job_failed: 'Job failed',
  internal: 'Something went wrong',
};
