/**
 * A folder laid out like the released base Monet repositories (test/support/published-monet.ts: config.json, sharded
 * safetensors + index, tokenizer.model, tokenizer_config.json, special_tokens_map.json, no tokenizer.json) opens and
 * generates, through the library and through the CLI; `resect inspect` reports size, dtypes and memory before
 * opening; a model too large for the memory available is refused with the message and the options, not loaded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { generate } from '../../workers/models/monet/generate';
import { tokenizerForModel } from '../../workers/models/monet/session';
import { inspectMonet } from '../../workers/models/monet/inspect';
import { assertModelFits, estimateOpenMemory, ModelTooLargeError, OPEN_PEAK_OVER_FP32_WEIGHTS } from '../../workers/models/monet/memory';
import { FIXTURES } from '../support/tiny-monet';
import { writePublishedMonet } from '../support/published-monet';
import { buildBundles, runCli, tempDir } from '../backend/helpers';

let dir: string;
beforeAll(async () => {
  dir = await writePublishedMonet(path.join(tempDir('resect-published-'), 'monet-vd-tiny'));
});

describe('a released-layout folder (tokenizer.model, shards, no tokenizer.json)', () => {
  it('is laid out as published', async () => {
    expect(existsSync(path.join(dir, 'tokenizer.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'tokenizer.model'))).toBe(true);
    expect(existsSync(path.join(dir, 'model.safetensors.index.json'))).toBe(true);
    expect((await inspectMonet(dir)).files.length).toBeGreaterThan(1);
  });

  it('opens and generates the same tokens as the single-file fixture with the same weights', async () => {
    const model = await MonetModel.load(dir);
    const original = await MonetModel.load(path.join(FIXTURES, 'monet-vd-tiny'));
    try {
      const tok = await tokenizerForModel(dir, model.config);
      const prompt = tok.encode('the thing is');
      expect(prompt[0]).toBe(1); // BOS, as tokenizer_config.json asks
      expect(prompt.filter((id) => id === 1)).toHaveLength(1);
      const a = await generate(model, prompt, { maxTokens: 6, temperature: 0 });
      const b = await generate(original, prompt, { maxTokens: 6, temperature: 0 });
      expect(a.tokens.length).toBeGreaterThan(0);
      expect(a.tokens).toEqual(b.tokens);
      expect(typeof tok.decode(a.tokens, { skipSpecialTokens: true })).toBe('string');
    } finally {
      await model.dispose();
      await original.dispose();
    }
  });
});

describe('memory before opening', () => {
  it('estimates float32 weights times the measured ratio, and refuses a model that will not fit', async () => {
    const s = await inspectMonet(dir);
    const est = estimateOpenMemory(s.parameters, 1e12);
    expect(est.weightBytes).toBe(s.parameters * 4);
    expect(est.peakBytes).toBe(Math.ceil(s.parameters * 4 * OPEN_PEAK_OVER_FP32_WEIGHTS));
    expect(est.fits).toBe(true);
    await expect(assertModelFits(dir, { RESECT_AVAILABLE_MEMORY: String(est.peakBytes) })).resolves.toMatchObject({ fits: true });
    const refused = assertModelFits(dir, { RESECT_AVAILABLE_MEMORY: String(est.peakBytes - 1) });
    await expect(refused).rejects.toThrow(ModelTooLargeError);
    await expect(assertModelFits(dir, { RESECT_AVAILABLE_MEMORY: '1000' })).rejects.toThrow(/needs about .* of memory to open .* parameters stored as F32.*1000 B available\. Options: open a smaller model, or use a machine with more memory.*Quantized weights .* planned/);
    await expect(assertModelFits(dir, { RESECT_AVAILABLE_MEMORY: 'lots' })).rejects.toThrow(/RESECT_AVAILABLE_MEMORY must be a positive number of bytes/);
  });
});

describe('the CLI', () => {
  let cli: string;
  let cleanup: () => void;
  beforeAll(async () => {
    ({ cli, cleanup } = await buildBundles());
  }, 120_000);
  afterAll(() => cleanup());

  it('resect inspect reports parameters, dtypes, size, memory and the tokenizer, as text and JSON', async () => {
    const s = await inspectMonet(dir);
    const text = await runCli(cli, ['inspect', '--model', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`parameters   ${s.parameters.toLocaleString('en-US')}`);
    expect(text.stdout).toMatch(/stored dtype F32 \(\d+ tensors\)/);
    expect(text.stdout).toMatch(/opened as {4}F32: weights .*, peak about /);
    expect(text.stdout).toContain('tokenizer    tokenizer.model, 97 tokens, BOS added');
    const json = await runCli(cli, ['inspect', '--model', dir, '--json'], { RESECT_AVAILABLE_MEMORY: '1000' });
    expect(json.code, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout) as { parameters: number; bytesOnDisk: number; memory: { fits: boolean; availableBytes: number; message: string }; tokenizer: { file: string; vocabSize: number } };
    expect(r.parameters).toBe(s.parameters);
    expect(r.bytesOnDisk).toBe(s.bytesOnDisk);
    expect(r.memory).toMatchObject({ fits: false, availableBytes: 1000 });
    expect(r.memory.message).toMatch(/Options: open a smaller model/);
    expect(r.tokenizer).toMatchObject({ file: 'tokenizer.model', vocabSize: 97 });
  }, 60_000);

  it('resect generate runs on the released layout, and refuses a model too large for the memory available', async () => {
    const ok = await runCli(cli, ['generate', '--model', dir, '--prompt', 'the thing', '--max-tokens', '4']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/resect: \d+ tokens/);
    const big = await runCli(cli, ['generate', '--model', dir, '--prompt', 'the thing', '--max-tokens', '4'], { RESECT_AVAILABLE_MEMORY: '1000' });
    expect(big.code).not.toBe(0);
    expect(big.stderr).toMatch(/needs about .* to open.*Options: open a smaller model, or use a machine with more memory/);
    expect(big.stderr).not.toMatch(/heap out of memory|std::bad_alloc/);
  }, 60_000);
});
