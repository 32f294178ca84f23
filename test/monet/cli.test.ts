/**
 * The CLI (bundled from the current tree, as `resect …` runs it) on the fixtures: forward parity, mask validation,
 * perplexity --json, generate. Parity is against expected.safetensors, written by the independent PyTorch reference in
 * ../shared/fixtures/generate.py (see test/monet/forward.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openSafetensors, writeSafetensors } from '../../workers/engine/safetensors';
import { FIXTURES, fixtureWithTokenizer, maxAbsDiff } from './helpers';
import { buildBundles } from '../backend/helpers';

const run = promisify(execFile);
const ROOT = path.join(import.meta.dirname, '..', '..');
/** The CLI bundled from the current source tree, every run, into a private folder (never a stale dist/cli.mjs). */
let bundle: { cli: string; cleanup: () => void };
const cli = (args: string[]) => run(process.execPath, [bundle.cli, ...args], { cwd: ROOT, maxBuffer: 1 << 26 });

let tmp: string;
beforeAll(async () => {
  bundle = await buildBundles();
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-cli-'));
}, 120_000);
afterAll(async () => {
  bundle?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('resect forward: %s', (name) => {
  it('writes logits and router gates matching expected.safetensors, with and without --mask', async () => {
    const dir = path.join(FIXTURES, name);
    const expected = await openSafetensors(path.join(dir, 'expected.safetensors'));
    const input = path.join(tmp, `${name}.in.safetensors`);
    const info = expected.tensors.get('input_ids')!;
    await writeSafetensors(input, [{ name: 'input_ids', dtype: 'I64', shape: info.shape, data: await expected.read('input_ids') }]);
    const out = path.join(tmp, `${name}.out.safetensors`);
    await cli(['forward', '--model', dir, '--input', input, '--out', out, '--device', 'cpu']);
    const got = await openSafetensors(out);
    const names = [...got.tensors.keys()];
    expect(names).toEqual(['logits', 'router.0.g1', 'router.0.g2', 'router.1.g1', 'router.1.g2']);
    for (const n of names) {
      expect(got.tensors.get(n)!.dtype).toBe('F32');
      expect(got.tensors.get(n)!.shape).toEqual(expected.tensors.get(n)!.shape);
      expect([n, maxAbsDiff(await got.readAsFloat32(n), await expected.readAsFloat32(n)) <= 1e-4]).toEqual([n, true]);
    }
    await got.close();
    const masked = path.join(tmp, `${name}.masked.safetensors`);
    await cli(['forward', '--model', dir, '--input', input, '--out', masked, '--mask', path.join(dir, 'masks.json')]);
    const m = await openSafetensors(masked);
    expect(maxAbsDiff(await m.readAsFloat32('logits'), await expected.readAsFloat32('logits_masked'))).toBeLessThanOrEqual(1e-4);
    await m.close();
    await expected.close();
  }, 60_000);
});

describe('resect forward: mask validation', () => {
  it.each([
    [{ layers: { 7: [1] } }, /unknown layer 7 \(the model has 4 layers, 0…3\)/],
    [{ layers: { 0: [64] } }, /layer 0: expert id 64 is out of range \(0…63\)/],
    [{ layers: { 0: [1.5] } }, /expert id 1.5 is out of range/],
    [{ layer: {} }, /unknown key "layer"/],
  ])('%j is refused with a clear error', async (mask, message) => {
    const dir = path.join(FIXTURES, 'monet-vd-tiny');
    const file = path.join(tmp, `mask-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify(mask));
    const input = path.join(tmp, 'ids.safetensors');
    await writeSafetensors(input, [{ name: 'input_ids', dtype: 'I64', shape: [1, 3], data: BigInt64Array.from([1n, 5n, 9n]) }]);
    const err = await cli(['forward', '--model', dir, '--input', input, '--out', path.join(tmp, 'x.safetensors'), '--mask', file]).then(() => null, (e: { stderr: string; code: number }) => e);
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(message);
  }, 30_000);
});

describe('resect perplexity / generate', () => {
  it('perplexity --json prints overall and per-domain figures; a mask changes them', async () => {
    const dir = await fixtureWithTokenizer('monet-vd-tiny');
    const data = path.join(tmp, 'data.jsonl');
    await writeFile(data, [
      { text: 'the quick brown fox jumps over the lazy dog', domain: 'prose' },
      { text: 'function f(x) { return x * 2; }', domain: 'code' },
      { text: 'a stitch in time saves nine', domain: 'prose' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { stdout } = await cli(['perplexity', '--model', dir, '--data', data, '--json']);
    const r = JSON.parse(stdout) as { overall: { tokens: number; nll: number; ppl: number }; domains: Record<string, { tokens: number; nll: number; ppl: number }> };
    expect(Object.keys(r)).toEqual(['overall', 'domains']);
    expect(Object.keys(r.domains)).toEqual(['prose', 'code']);
    // Tokens per sample = characters (BOS is not a target).
    expect(r.overall.tokens).toBe(43 + 31 + 27);
    expect(r.domains.prose!.tokens).toBe(43 + 27);
    expect(r.overall.ppl).toBeCloseTo(Math.exp(r.overall.nll), 6);
    expect(r.overall.nll).toBeGreaterThan(0);
    const { stdout: masked } = await cli(['perplexity', '--model', dir, '--data', data, '--json', '--mask', path.join(dir, 'masks.json')]);
    expect(JSON.parse(masked).overall.nll).not.toBeCloseTo(r.overall.nll, 6);
    const { stdout: gen } = await cli(['generate', '--model', dir, '--prompt', 'hello', '--max-tokens', '8']);
    expect(gen.endsWith('\n')).toBe(true);
    const { stdout: again } = await cli(['generate', '--model', dir, '--prompt', 'hello', '--max-tokens', '8']);
    expect(again).toBe(gen);
    await rm(path.dirname(dir), { recursive: true, force: true });
  }, 60_000);
});
