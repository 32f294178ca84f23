/**
 * Issue 15: a schema-driven fuzz of the whole API surface. For every method, params are generated from its own zod
 * schema — random and boundary values (empty, `.`/`..`, long and odd strings, 0, -1, 2^31, 2^53, huge arrays),
 * missing and extra keys, and values of the wrong type — and sent through the router of an in-process backend whose
 * workspace sits in a sandbox beside a sentinel folder. Every call must come back as a result or a typed error, never
 * an `internal` one (an exception nobody expected), nothing outside the workspace may disappear, and the backend
 * must still answer at the end.
 *
 * CI runs a fixed seed for a bounded number of calls (FUZZ_ITERATIONS, default 1500); `npm run fuzz` runs a longer
 * one with a random seed (it prints the seed to replay: FUZZ_SEED=… npm run fuzz). Findings: docs/security.md.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { methods } from '../../common/api';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { mulberry32 } from '../../workers/engine/random';

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 1500);
/** Methods that may legitimately leave the workspace (switching to one the fuzzer names); they are sent only ids. */
const SWITCHES = new Set(['workspace.open']);

const noWorkers: WorkerLauncher = {
  launch() {
    throw new Error('no workers in the fuzz test');
  },
};

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
  values?: unknown[];
  valueType?: z.ZodType;
  in?: z.ZodType;
  items?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
};
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

class Gen {
  constructor(private readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  string(): string {
    return this.pick([
      '', 'a', 'a1', 'default', '.', '..', '../x', '../../outside', 'a/../..', '.hidden', 'x'.repeat(300), 'x'.repeat(70_000),
      '%2e%2e', '..\\..', '/nonexistent/x', 'mask.json', 'model', ' ', '\u0000', '\ud800', 'é🙂', '<script>', "'; DROP TABLE ds_samples; --",
      'NEAR(a b)', '"unbalanced', '*', 'AND OR NOT', '__proto__', 'constructor', String(this.int(100)),
    ]);
  }
  number(int: boolean): number {
    const n = this.pick([0, 1, -1, 2, 3, 7, 100, 2 ** 31, -(2 ** 31), 2 ** 53, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 5e-324]);
    return int || this.chance(0.5) ? n : n + 0.5;
  }
  /** Any JSON value (for unknown/any and wrong types). */
  json(depth = 0): unknown {
    const k = this.int(depth > 2 ? 4 : 7);
    if (k === 0) return null;
    if (k === 1) return this.chance(0.5);
    if (k === 2) return this.number(false);
    if (k === 3) return this.string();
    if (k === 4) return Array.from({ length: this.int(4) }, () => this.json(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = this.int(4); i > 0; i--) o[this.pick(['a', 'id', 'path', '__proto__', 'constructor', 'kind', 'params'])] = this.json(depth + 1);
    return o;
  }

  /** A value for `schema`: usually of its shape, sometimes a boundary, sometimes of the wrong type. */
  value(schema: z.ZodType, depth = 0): unknown {
    if (this.chance(0.04) || depth > 6) return this.json(depth);
    const d = defOf(schema);
    switch (d.type) {
      case 'object': {
        const o: Record<string, unknown> = {};
        for (const [k, s] of Object.entries(d.shape ?? {})) if (!this.chance(0.08)) o[k] = this.value(s, depth + 1);
        if (this.chance(0.05)) o[this.pick(['extra', '__proto__', 'constructor'])] = this.json(depth + 1);
        return o;
      }
      case 'string':
        return this.string();
      case 'number':
        return this.number(false);
      case 'int':
        return this.number(true);
      case 'boolean':
        return this.chance(0.5);
      case 'enum':
        return this.chance(0.9) ? this.pick(Object.values(d.entries ?? {})) : 'not-an-option';
      case 'literal':
        return this.chance(0.95) ? d.values?.[0] : this.json(depth);
      case 'array': {
        const n = this.chance(0.03) ? 20_000 : this.int(4);
        return Array.from({ length: n }, () => this.value(d.element!, depth + 1));
      }
      case 'record': {
        const o: Record<string, unknown> = {};
        for (let i = this.int(3); i > 0; i--) o[this.pick(['0', '1', 'a', '__proto__', String(this.int(1000))])] = this.value(d.valueType!, depth + 1);
        return o;
      }
      case 'tuple':
        return (d.items ?? []).map((s) => this.value(s, depth + 1));
      case 'union':
        return this.value(this.pick(d.options!), depth + 1);
      case 'intersection':
        return { ...(this.value(d.left!, depth + 1) as object), ...(this.value(d.right!, depth + 1) as object) };
      case 'optional':
      case 'default':
      case 'prefault':
        return this.chance(0.3) ? undefined : this.value(d.innerType!, depth + 1);
      case 'nullable':
        return this.chance(0.2) ? null : this.value(d.innerType!, depth + 1);
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        return this.value(d.innerType!, depth + 1);
      case 'pipe':
        return this.value(d.in!, depth + 1);
      case 'lazy':
        return this.value(d.getter!(), depth + 1);
      case 'null':
        return null;
      default:
        return this.json(depth); // unknown, any, custom, transform
    }
  }
}

describe('API fuzz (schema-driven, fixed seed)', () => {
  let sandbox: string;
  let ws: string;
  let backend: Backend;
  const oldCwd = process.cwd();

  beforeAll(() => {
    sandbox = mkdtempSync(path.join(tmpdir(), 'resect-fuzz-'));
    ws = path.join(sandbox, 'ws');
    mkdirSync(path.join(sandbox, 'outside'));
    writeFileSync(path.join(sandbox, 'outside', 'sentinel.txt'), 'keep me');
    mkdirSync(path.join(sandbox, 'cwd'));
    backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: noWorkers });
    process.chdir(path.join(sandbox, 'cwd')); // relative paths the fuzzer sends land in the sandbox
  });
  afterAll(async () => {
    process.chdir(oldCwd);
    await backend.close();
  });

  it(`survives ${ITERATIONS} random calls (seed ${SEED}) with typed errors only`, async () => {
    const g = new Gen(mulberry32(SEED));
    const names = Object.keys(methods) as (keyof typeof methods)[];
    const internal: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const method = g.chance(0.02) ? `no.such.${g.int(10)}` : g.pick(names);
      const schema = (methods as Record<string, { params: z.ZodType }>)[method]?.params;
      let params = schema ? g.value(schema) : g.json();
      if (SWITCHES.has(method)) params = { path: g.pick(['a1', 'ws2', '.', 'x'.repeat(300)]) };
      const out = await backend.router.dispatch(method, params);
      seen.set(out.ok ? 'ok' : out.error.code, (seen.get(out.ok ? 'ok' : out.error.code) ?? 0) + 1);
      if (!out.ok && out.error.code === 'internal') internal.push(`${method} ${JSON.stringify(params).slice(0, 300)} → ${out.error.message}`);
      if (backend.workspaceInfo().path !== ws) await backend.router.dispatch('workspace.open', { path: ws });
    }
    if (process.env.FUZZ_VERBOSE) process.stdout.write(`fuzz seed ${SEED}: ${JSON.stringify(Object.fromEntries(seen))}\n`);
    expect(internal).toEqual([]);
    expect(existsSync(path.join(sandbox, 'outside', 'sentinel.txt'))).toBe(true);
    expect(existsSync(path.join(ws, 'resect.db'))).toBe(true);
    expect(await backend.router.dispatch('app.info', {})).toMatchObject({ ok: true });
    expect((seen.get('ok') ?? 0) + (seen.get('invalid_params') ?? 0)).toBeGreaterThan(ITERATIONS / 4);
  });
});
