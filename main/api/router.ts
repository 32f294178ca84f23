/**
 * The one router both transports (WebSocket under `resect serve`, IPC under Electron) call.
 * It validates params with the method's schema (→ `invalid_params` with the issues), rejects unknown methods
 * (→ `unknown_method`), runs the handler, checks the result against its schema, and turns anything thrown into
 * an ApiError.
 */
import type { z } from 'zod';
import { ApiError, methods, type ApiErrorShape, type MethodName, type Result } from '../../common/api';
import type { Backend } from '../backend';

export type ParsedParams<M extends MethodName> = z.output<(typeof methods)[M]['params']>;
export type Handler<M extends MethodName> = (params: ParsedParams<M>, backend: Backend) => Promise<Result<M>> | Result<M>;
export type Handlers = { [M in MethodName]: Handler<M> };

export type Outcome = { ok: true; result: unknown } | { ok: false; error: ApiErrorShape };

export function isMethod(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof Error && e.stack) process.stderr.write(`internal error: ${e.stack}\n`);
  return new ApiError('internal', message || 'Internal error');
}

export class Router {
  constructor(
    private readonly handlers: Handlers,
    private readonly backend: Backend,
  ) {}

  /** Runs one request; throws ApiError. */
  async call(method: string, rawParams: unknown): Promise<unknown> {
    if (!isMethod(method)) throw new ApiError('unknown_method', `Unknown method: ${method}`);
    const spec = methods[method];
    const parsed = spec.params.safeParse(rawParams ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues;
      throw new ApiError(
        'invalid_params',
        `Invalid params for ${method}: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    const handler = this.handlers[method] as (p: unknown, b: Backend) => unknown;
    const result = await handler(parsed.data, this.backend);
    const checked = spec.result.safeParse(result);
    if (!checked.success) {
      throw new ApiError('internal', `The backend produced an invalid result for ${method}`, { issues: checked.error.issues });
    }
    return checked.data;
  }

  /** Runs one request and never throws: the shape transports send back. */
  async dispatch(method: string, rawParams: unknown): Promise<Outcome> {
    try {
      return { ok: true, result: await this.call(method, rawParams) };
    } catch (e) {
      return { ok: false, error: toApiError(e).toShape() };
    }
  }
}
