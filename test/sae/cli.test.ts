/** `resect sae capture | import-activations | import | eval | encode` and the capture front of `resect sae train`, bundled
 * from the current tree, on the tiny Monet fixture with the character tokenizer. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openSafetensors } from '../../workers/engine/safetensors';
import { saveSaeLens } from '../../workers/sae/io';
import { buildBundles } from '../backend/helpers';
import { FIXTURES, fixtureWithTokenizerSync } from '../support/tiny-monet';
import { exactSae } from './helpers';

const run = promisify(execFile);
let bundle: { cli: string; cleanup: () => void };
let tmp: string;
let ws: string;
let model: string;
let data: string;
const cli = async (args: string[]) => (await run(process.execPath, [bundle.cli, 'sae', ...args], { maxBuffer: 1 << 26, env: { ...process.env, RESECT_WORKSPACE: ws } })).stdout;
const json = async (args: string[]) => JSON.parse(await cli([...args, '--json']));

beforeAll(async () => {
  bundle = await buildBundles();
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-sae-cli-'));
  ws = path.join(tmp, 'ws');
  model = fixtureWithTokenizerSync('monet-vd-tiny');
  data = path.join(tmp, 'data.jsonl');
  const texts = ['The quick brown fox jumps over the lazy dog.', 'for (let i = 0; i < n; i++) sum += i;', 'Some prose, with commas.'];
  await writeFile(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `${texts[i % 3]} ${i}` })).join('\n'));
  await saveSaeLens(exactSae(32, { model, name: 'blocks.0.hook_mlp_out', layer: 0, kind: 'mlp_out' }, { kind: 'dataset-scale', scale: 2 }), path.join(ws, 'saes', 'exact'));
}, 180_000);
afterAll(async () => {
  bundle?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe('resect sae', () => {
  it('capture writes a cache once and reuses it; train --model captures through the same cache', async () => {
    const first = await json(['capture', '--model', model, '--hook', 'blocks.1.hook_resid_post', '--data', data]);
    expect(first).toMatchObject({ reused: false, hook: 'blocks.1.hook_resid_post', dIn: 32, samples: 12 });
    expect(first.tokens).toBeGreaterThan(300);
    const again = await json(['capture', '--model', model, '--hook', 'blocks.1.hook_resid_post', '--data', data]);
    expect(again).toMatchObject({ reused: true, cache: first.cache, tokens: first.tokens });
    const out = path.join(tmp, 'trained');
    const r = await run(process.execPath, [bundle.cli, 'sae', 'train', '--model', model, '--hook', 'blocks.1.hook_resid_post', '--data', data, '--out', out, '--latents', '64', '--steps', '3', '--batch', '64', '--json'], { env: { ...process.env, RESECT_WORKSPACE: ws } });
    expect(r.stderr).toContain(`reusing ${first.dir}`);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'finished', step: 3 });
    await expect(cli(['train', '--out', out, '--model', model])).rejects.toThrow(/needs --model, --hook and --data \(missing --hook, --data\)/);
  });

  it('import-activations, and import of a sparsify run folder', async () => {
    const a = await json(['import-activations', path.join(FIXTURES, 'sae', 'activations-f16.npy')]);
    expect(a).toMatchObject({ tokens: 40, dIn: 8 });
    expect(existsSync(path.join(a.dir, 'manifest.json'))).toBe(true);
    const s = await json(['import', path.join(FIXTURES, 'sae', 'sparsify')]);
    expect(s).toMatchObject({ id: 'sparsify', origin: 'sparsify', architecture: 'topk', latents: 16, dIn: 8, hook: 'blocks.1.hook_resid_post' });
    expect(existsSync(path.join(ws, 'saes', 'sparsify', 'sae_weights.safetensors'))).toBe(true);
    await expect(cli(['import', path.join(FIXTURES, 'sae', 'sparsify')])).rejects.toThrow(/holds an SAE already/);
    // The imported SAE evaluates on the imported activations (by cache folder).
    const e = await json(['eval', '--sae', 'sparsify', '--data', a.dir]);
    expect(e.metrics.tokens).toBe(40);
    expect(e.metrics.l0).toBeCloseTo(3, 5); // TopK k = 3 (relu of the top 3, all positive here or fewer)
  });

  it('eval on text: an exact SAE explains everything and recovers the loss; cross-seed against itself is 1', async () => {
    const e = await json(['eval', '--sae', 'exact', '--data', data, '--against', 'exact', '--alpha', '0.5']);
    expect(e.metrics.fve).toBeCloseTo(1, 5);
    expect(e.loss.lossRecovered).toBeCloseTo(1, 3);
    expect(e.crossSeed).toMatchObject({ fractionAbove: 1, latents: 32 });
    const text = await cli(['eval', '--sae', 'exact', '--data', data, '--activations-only']);
    expect(text).toMatch(/FVE 1\.0000/);
    expect(text).not.toMatch(/loss recovered/);
  });

  it('encode: per token its strongest latents, and the dense codes to a file', async () => {
    const out = path.join(tmp, 'codes.safetensors');
    const r = await json(['encode', '--sae', 'exact', '--text', 'hi there', '--top', '3', '--out', out]);
    const tokens = r.texts[0].tokens;
    expect(tokens.map((t: { token: string }) => t.token).join('')).toBe('<s>hi there');
    expect(tokens[0].latents).toEqual([]); // BOS left out, as the SAE was trained
    expect(tokens[1].latents).toHaveLength(3);
    const h = await openSafetensors(out);
    expect(h.tensors.get('codes')!.shape).toEqual([9, 64]);
    await h.close();
  });
});
