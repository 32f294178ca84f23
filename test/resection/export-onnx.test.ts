/**
 * ONNX export of an edited model (`resect export --onnx`): one self-contained graph, input_ids → logits, with the
 * mask built in, run by onnxruntime-node, against the in-app masked forward (layered model) on the tiny fixtures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import * as ort from 'onnxruntime-node';
import { MonetModel } from '../../workers/models/monet/model';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { MASKS_FILE } from '../../workers/analysis/resection/export';
import { ONNX_DATA_FILE, ONNX_FILE, removedPairs, writeOnnxExport } from '../../workers/analysis/resection/export-onnx';
import { OnnxLmModel } from '../../workers/models/onnx-export/model';
import { openSafetensors, writeSafetensors } from '../../workers/engine/safetensors';
import type { MaskJson } from '../../workers/analysis/resection/select';
import { maxAbsDiff } from '../monet/helpers';
import { resectionExportJob } from '../../workers/jobs/resection';
import { ExportParams } from '../../workers/analysis/resection/schema';
import type { JobContext } from '../../workers/jobs/types';

const ROOT = path.join(import.meta.dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-export-onnx-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const B = 2;
const T = 24;
const ids = BigInt64Array.from({ length: B * T }, (_, r) => BigInt((r * 31 + 5) % 97));

async function fixtureMask(name: string): Promise<MaskJson> {
  const pairs = JSON.parse(await readFile(path.join(FIXTURES, name, 'masks.json'), 'utf8')) as MaskJson;
  // Listed pairs, a routing-group mask, whole rows and columns (some overlapping the pairs) — every mask kind.
  return { ...pairs, groups: { '1': [9, 10] }, rows: { '0': [3], '2': [0, 7] }, columns: { '1': [2], '3': [5] } };
}

/** Logits of the in-app (layered) model with the mask, and of the exported ONNX file. */
async function both(name: string, mask: MaskJson, out: string, o: { externalDataAbove?: number } = {}) {
  const dir = path.join(FIXTURES, name);
  await mkdir(out, { recursive: true });
  const r = await writeOnnxExport(dir, mask, out, o);
  const model = await MonetModel.load(dir, { intraOpThreads: 1 });
  const inApp = await model.forward({ ids, batch: B, time: T, masks: parseMaskJson(model.config, mask) });
  const unmasked = await model.forward({ ids, batch: B, time: T });
  await model.dispose();
  const onnx = await OnnxLmModel.load(path.join(out, ONNX_FILE), { intraOpThreads: 1 });
  const exported = await onnx.forward(ids, B, T);
  await onnx.dispose();
  return { r, inApp: inApp.logits!, unmasked: unmasked.logits!, exported };
}

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('%s', (name) => {
  it('exported ONNX reproduces the in-app masked logits (pairs, groups, rows, columns)', async () => {
    const mask = await fixtureMask(name);
    const { r, inApp, unmasked, exported } = await both(name, mask, path.join(tmp, `${name}-masked`));
    expect(r.files).toEqual([ONNX_FILE]);
    expect(r.externalBytes).toBe(0);
    expect(exported.dims).toEqual([B, T, 97]);
    const d = maxAbsDiff(exported.logits, inApp);
    console.log(`${name}: max |Δ logits| exported ONNX vs in-app masked forward ${d.toExponential(2)} (${r.removed} composite experts removed)`);
    expect(d).toBeLessThan(1e-5);
    expect(maxAbsDiff(inApp, unmasked)).toBeGreaterThan(1e-3); // the mask does change the model
  });

  it('an empty mask exports the unedited model', async () => {
    const { inApp, unmasked, exported } = await both(name, {}, path.join(tmp, `${name}-empty`));
    expect(maxAbsDiff(inApp, unmasked)).toBe(0);
    expect(maxAbsDiff(exported.logits, unmasked)).toBeLessThan(1e-5);
  });
});

describe('the exported graph', () => {
  it('takes only input_ids and gives only logits; the mask is in initializers', async () => {
    const out = path.join(tmp, 'io');
    await mkdir(out);
    await writeOnnxExport(path.join(FIXTURES, 'monet-vd-tiny'), await fixtureMask('monet-vd-tiny'), out);
    const s = await ort.InferenceSession.create(path.join(out, ONNX_FILE));
    expect(s.inputNames).toEqual(['input_ids']);
    expect(s.outputNames).toEqual(['logits']);
    await s.release();
  });

  it('rows and columns become every composite expert they remove', () => {
    const config = { num_hidden_layers: 4, moe_experts: 4, moe_groups: 2 };
    const pairs = removedPairs(config, parseMaskJson(config, { layers: { 0: [5] }, rows: { 0: [1] }, columns: { 2: [3] } }));
    expect(pairs.get(0)).toEqual([4, 5, 6, 7]);
    expect(pairs.get(2)).toEqual([3, 7, 11, 15]);
    expect(pairs.has(1)).toBe(false);
  });

  it('writes the weights as external data (model.onnx.data) when they are large, and still matches', async () => {
    const mask = await fixtureMask('monet-vd-tiny');
    const out = path.join(tmp, 'external');
    const { r, inApp, exported } = await both('monet-vd-tiny', mask, out, { externalDataAbove: 0 });
    expect(r.files).toEqual([ONNX_FILE, ONNX_DATA_FILE]);
    expect((await stat(path.join(out, ONNX_DATA_FILE))).size).toBe(r.externalBytes);
    expect(r.modelBytes).toBeLessThan(r.externalBytes);
    expect(maxAbsDiff(exported.logits, inApp)).toBeLessThan(1e-5);
  });

  it('refuses a mask that does not fit the model', async () => {
    const out = path.join(tmp, 'bad');
    await mkdir(out);
    await expect(writeOnnxExport(path.join(FIXTURES, 'monet-vd-tiny'), { layers: { 9: [1] } }, out)).rejects.toThrow(/unknown layer 9/);
    expect(existsSync(path.join(out, ONNX_FILE))).toBe(false);
  });
});

describe('resection.export job with onnx (the Resection view\'s "ONNX model" option)', () => {
  it('writes the masked folder and model.onnx, which matches the in-app masked forward', async () => {
    const model = path.join(FIXTURES, 'monet-vd-tiny');
    const mask = await fixtureMask('monet-vd-tiny');
    const out = path.join(tmp, 'job-out');
    const lines: string[] = [];
    const ctx = { workspace: tmp, log: (l: string) => lines.push(l), progress: () => {}, signal: new AbortController().signal, jobId: 'j1', settings: {} } as unknown as JobContext;
    const params = ExportParams.parse({ model, mask, out, onnx: true, copy: true });
    const r = (await resectionExportJob.run(params, ctx)) as { files: string[] };
    expect(r.files).toContain(MASKS_FILE);
    expect(r.files).toContain(ONNX_FILE);
    expect(ExportParams.parse({ model, mask, out }).onnx).toBe(false);
    const m = await MonetModel.load(model, { intraOpThreads: 1 });
    const inApp = await m.forward({ ids, batch: B, time: T, masks: parseMaskJson(m.config, mask) });
    await m.dispose();
    const onnx = await OnnxLmModel.load(path.join(out, ONNX_FILE), { intraOpThreads: 1 });
    expect(maxAbsDiff((await onnx.forward(ids, B, T)).logits, inApp.logits!)).toBeLessThan(1e-5);
    await onnx.dispose();
  });
});

describe('CLI: resect export --onnx, resect forward --model OUT/model.onnx', () => {
  const OUT = path.join(ROOT, 'dist', `test-export-onnx-${process.pid}`);
  const run = promisify(execFile);
  const cli = (args: string[]) => run(process.execPath, [path.join(OUT, 'cli.mjs'), ...args], { cwd: ROOT, maxBuffer: 1 << 26 });
  beforeAll(async () => {
    await build({
      entryPoints: [path.join(ROOT, 'main', 'cli.ts')], outfile: path.join(OUT, 'cli.mjs'), bundle: true, platform: 'node', target: 'node20',
      format: 'esm', packages: 'external', logLevel: 'warning', alias: { '@common': path.join(ROOT, 'common') },
      banner: { js: "import { createRequire as __resectCreateRequire } from 'node:module'; const require = __resectCreateRequire(import.meta.url);" },
    });
  }, 120_000);
  afterAll(async () => {
    await rm(OUT, { recursive: true, force: true });
  });

  it('exports the folder plus model.onnx, and forward on the .onnx equals forward on the folder with the mask', async () => {
    const model = path.join(FIXTURES, 'monet-vd-tiny');
    const maskFile = path.join(tmp, 'cli-mask.json');
    await writeFile(maskFile, JSON.stringify(await fixtureMask('monet-vd-tiny')));
    const out = path.join(tmp, 'cli-out');
    const e = await cli(['export', '--model', model, '--mask', maskFile, '--out', out, '--onnx', '--copy']);
    expect(e.stdout).toMatch(/wrote model\.onnx/);
    expect(existsSync(path.join(out, MASKS_FILE))).toBe(true);
    expect(existsSync(path.join(out, ONNX_FILE))).toBe(true);

    const input = path.join(tmp, 'cli-input.safetensors');
    await writeSafetensors(input, [{ name: 'input_ids', dtype: 'I64', shape: [B, T], data: ids }]);
    await cli(['forward', '--model', path.join(out, ONNX_FILE), '--input', input, '--out', path.join(tmp, 'a.safetensors'), '--threads', '1']);
    await cli(['forward', '--model', model, '--mask', maskFile, '--input', input, '--out', path.join(tmp, 'b.safetensors'), '--threads', '1']);
    const read = async (f: string) => {
      const h = await openSafetensors(f);
      try { return await h.readAsFloat32('logits'); } finally { await h.close(); }
    };
    expect(maxAbsDiff(await read(path.join(tmp, 'a.safetensors')), await read(path.join(tmp, 'b.safetensors')))).toBeLessThan(1e-5);
    await expect(cli(['forward', '--model', path.join(out, ONNX_FILE), '--mask', maskFile, '--input', input, '--out', path.join(tmp, 'c.safetensors')])).rejects.toThrow(/built in/);
  });
});
