// SAE folders: the SAE Lens and sparsify fixtures (written by test/fixtures/sae/make_fixtures.py with each library's
// own forward as the expected output) load and encode the same; Resect's saves round-trip, and the SAE Lens part alone
// (what SAE Lens reads) gives the same codes and reconstruction on raw activations.
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSafetensors } from '../../workers/engine/safetensors';
import { SaeRunner } from '../../workers/sae/encode';
import { detectSaeFolder, loadSaeFolder, saveSaeLens } from '../../workers/sae/io';
import { RESECT_GBA_FILE, RESECT_SAE_FILE } from '../../workers/sae/io/saelens';
import type { Sae } from '../../workers/sae/types';
import { FIXTURES } from '../support/tiny-monet';

const DIR = path.join(FIXTURES, 'sae');
const tmp = mkdtempSync(path.join(tmpdir(), 'resect-sae-io-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function encode(sae: Sae, x: Float32Array) {
  const r = await SaeRunner.create(sae, { intraOpThreads: 1 });
  try {
    return await r.run(x, ['codes', 'recon', 'sq_err', 'l0']);
  } finally {
    await r.dispose();
  }
}

async function expected(folder: string) {
  const h = await openSafetensors(path.join(folder, 'expected.safetensors'));
  const out = { x: await h.readAsFloat32('x'), codes: await h.readAsFloat32('codes'), recon: await h.readAsFloat32('recon') };
  await h.close();
  return out;
}

describe('imported folders encode as their library does', () => {
  it.each([
    { folder: 'saelens-jumprelu', kind: 'jumprelu', hook: 'blocks.1.hook_resid_post', hookKind: 'resid_post', format: 'sae-lens' },
    { folder: 'saelens-topk', kind: 'topk', hook: 'blocks.0.hook_mlp_out', hookKind: 'mlp_out', format: 'sae-lens' },
    { folder: 'saelens-standard-v5', kind: 'relu', hook: 'blocks.8.hook_resid_pre', hookKind: 'external', format: 'sae-lens' },
    { folder: 'sparsify', kind: 'topk', hook: 'blocks.1.hook_resid_post', hookKind: 'resid_post', format: null },
  ])('$folder', async ({ folder, kind, hook, hookKind, format }) => {
    const dir = path.join(DIR, folder);
    expect(detectSaeFolder(dir)).toBe(format);
    const { sae, origin } = await loadSaeFolder(dir);
    expect(origin).toBe(folder === 'sparsify' ? 'sparsify' : 'sae-lens');
    expect(sae.config.activation.kind).toBe(kind);
    expect(sae.config.hook).toMatchObject({ name: hook, kind: hookKind });
    const ref = await expected(folder === 'sparsify' ? path.join(dir, 'layers.1') : dir);
    const out = await encode(sae, ref.x);
    expect(maxAbs(out.codes, ref.codes)).toBeLessThan(1e-5);
    expect(maxAbs(out.recon, ref.recon)).toBeLessThan(1e-5);
    // The codes are not trivially zero (the comparison means something).
    expect(out.l0.reduce((s, v) => s + v, 0)).toBeGreaterThan(0);
    expect(out.codes.some((v, i) => v === 0 && ref.codes[i] === 0)).toBe(true);
  });

  it('names what it cannot read', async () => {
    const bad = path.join(tmp, 'gated');
    cpSync(path.join(DIR, 'saelens-jumprelu'), bad, { recursive: true });
    const cfg = JSON.parse(readFileSync(path.join(bad, 'cfg.json'), 'utf8'));
    cfg.architecture = 'gated';
    (await import('node:fs')).writeFileSync(path.join(bad, 'cfg.json'), JSON.stringify(cfg));
    await expect(loadSaeFolder(bad)).rejects.toThrow(/architecture "gated" is not supported/);
    await expect(loadSaeFolder(tmp)).rejects.toThrow(/not an SAE folder/);
  });
});

/** A small GBA-shaped SAE with a centered dataset normalization. */
function gbaSae(): Sae {
  const dIn = 8;
  const dSae = 16;
  const r = (i: number) => Math.sin(i * 1.7 + 0.3);
  const W_enc = Float32Array.from({ length: dIn * dSae }, (_, i) => r(i) * 0.5);
  const W_dec = Float32Array.from({ length: dSae * dIn }, (_, i) => r(i + 999) * 0.4);
  return {
    config: {
      method: 'gba', activation: { kind: 'jumprelu' }, dIn, dSae,
      hook: { model: '/models/tiny', name: 'blocks.1.hook_mlp_out', layer: 1, kind: 'mlp_out' },
      normalization: { kind: 'dataset-scale', mean: Float32Array.from({ length: dIn }, (_, j) => j * 0.1 - 0.3), scale: 0.37 },
      excludeBos: true, hyper: { groups: 4, htf: 0.5, ltf: 0.001, T: 50 },
    },
    weights: {
      W_enc, W_dec, b_enc: new Float32Array(dSae),
      b_dec: Float32Array.from({ length: dIn }, (_, j) => r(j + 77) * 0.1),
      threshold: Float32Array.from({ length: dSae }, (_, m) => 0.05 * (m % 5)),
    },
    gba: {
      group: Int32Array.from({ length: dSae }, (_, m) => m % 4),
      targetFrequency: Float32Array.from([0.5, 0.1, 0.02, 0.001]),
      bias: Float32Array.from({ length: dSae }, (_, m) => -0.05 * (m % 5)),
      scale: Float32Array.from({ length: dSae }, (_, m) => 1 + m / 10),
    },
  };
}

const rawX = Float32Array.from({ length: 7 * 8 }, (_, i) => Math.cos(i * 0.91) * 3 + 0.2);

describe('saving in SAE Lens layout', () => {
  it.each([
    { name: 'gba (jumprelu, centered dataset scale)', sae: gbaSae() },
    { name: 'topk (per-token norm 1)', sae: { ...gbaSae(), gba: undefined, config: { ...gbaSae().config, method: 'topk' as const, activation: { kind: 'topk' as const, k: 3 }, normalization: { kind: 'per-token' as const, scale: 1 } } } },
    { name: 'relu-l1 (no normalization)', sae: { ...gbaSae(), gba: undefined, config: { ...gbaSae().config, method: 'relu-l1' as const, activation: { kind: 'relu' as const }, normalization: { kind: 'none' as const, scale: 1 } } } },
  ])('$name: round-trips, and SAE Lens alone computes the same on raw activations', async ({ sae }) => {
    const dir = path.join(tmp, sae.config.method);
    await saveSaeLens(sae, dir, { contextSize: 256, datasetPath: 'corpus.jsonl' });
    const cfg = JSON.parse(readFileSync(path.join(dir, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({ d_in: 8, d_sae: 16, apply_b_dec_to_input: true, architecture: { gba: 'jumprelu', topk: 'topk', 'relu-l1': 'standard' }[sae.config.method as 'gba'] });
    expect(cfg.metadata).toMatchObject({ hook_name: 'blocks.1.hook_mlp_out', context_size: 256, dataset_path: 'corpus.jsonl' });
    expect(Number(cfg.metadata.sae_lens_version.split('.')[0])).toBeGreaterThanOrEqual(6);

    const back = (await loadSaeFolder(dir)).sae;
    expect(back.config).toMatchObject({ ...sae.config, normalization: { kind: sae.config.normalization.kind } });
    expect(maxAbs(back.weights.W_enc, sae.weights.W_enc)).toBeLessThan(1e-6);
    expect(maxAbs(back.weights.b_dec, sae.weights.b_dec)).toBeLessThan(1e-6);
    if (sae.gba) {
      expect(back.gba!.group).toEqual(sae.gba.group);
      expect(back.gba!.bias).toEqual(sae.gba.bias);
      expect(back.gba!.targetFrequency).toEqual(sae.gba.targetFrequency);
    }
    const want = await encode(sae, rawX);
    const got = await encode(back, rawX);
    expect(maxAbs(got.codes, want.codes)).toBeLessThan(1e-5);

    // What SAE Lens reads: the folder without Resect's files.
    const lens = path.join(tmp, `${sae.config.method}-lens`);
    cpSync(dir, lens, { recursive: true });
    rmSync(path.join(lens, RESECT_SAE_FILE));
    rmSync(path.join(lens, RESECT_GBA_FILE), { force: true });
    const plain = await loadSaeFolder(lens);
    expect(plain.origin).toBe('sae-lens');
    const viaLens = await encode(plain.sae, rawX);
    expect(maxAbs(viaLens.codes, want.codes)).toBeLessThan(1e-5);
    expect(maxAbs(viaLens.recon, want.recon)).toBeLessThan(1e-5);
    expect(want.l0.reduce((s, v) => s + v, 0)).toBeGreaterThan(0);
  });

  it('a sparsify SAE saved in SAE Lens layout encodes as before', async () => {
    const { sae } = await loadSaeFolder(path.join(DIR, 'sparsify'));
    const dir = path.join(tmp, 'from-sparsify');
    await saveSaeLens(sae, dir);
    const ref = await expected(path.join(DIR, 'sparsify', 'layers.1'));
    const out = await encode((await loadSaeFolder(dir)).sae, ref.x);
    expect(maxAbs(out.codes, ref.codes)).toBeLessThan(1e-5);
  });
});
