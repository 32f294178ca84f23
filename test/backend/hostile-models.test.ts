/**
 * Issue 15, bounds before work: a config.json whose values would make Resect allocate or loop in proportion to them
 * (`num_hidden_layers: 1000000`, `hidden_size: 1e9`, an embedding larger than a tensor can hold) or that claims more
 * layers than the weights hold fails at once, with the value named — through `models.add`'s inspection, the path a
 * client reaches. Also `moe_groups` beyond the layer count, which used to be accepted silently.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectFolder } from '../../main/models/registry';
import { openWeights } from '../../workers/engine/safetensors';
import { parseMonetConfig } from '../../workers/models/monet/config';

const FIXTURE = path.resolve(__dirname, '..', 'fixtures', 'monet-vd-tiny');
const base = JSON.parse(readFileSync(path.join(FIXTURE, 'config.json'), 'utf8')) as Record<string, unknown>;

/** The tiny fixture's weights with a changed config.json. */
function folderWith(patch: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'resect-hostile-model-'));
  copyFileSync(path.join(FIXTURE, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, ...patch }));
  return dir;
}

describe('config.json bounds are checked before anything proportional to them is built', () => {
  it('num_hidden_layers: 1000000 fails at once, naming the value', async () => {
    await expect(inspectFolder(folderWith({ num_hidden_layers: 1_000_000 }))).rejects.toThrow(/num_hidden_layers must be at most 1,024, got 1000000/);
  });

  it('more layers than the weights hold fails with both numbers, before the tensor list is built', async () => {
    await expect(inspectFolder(folderWith({ num_hidden_layers: 1000 }))).rejects.toThrow(/num_hidden_layers is 1000, but the weights hold layers 0–3 \(4\)/);
  });

  it('hidden_size: 1e9 says which value is wrong (not "Invalid typed array length")', async () => {
    await expect(inspectFolder(folderWith({ hidden_size: 1e9, num_attention_heads: 4 }))).rejects.toThrow(/hidden_size must be at most 65,536, got 1000000000/);
  });

  it('a tensor larger than one can hold is named with its size', () => {
    expect(() => parseMonetConfig({ ...base, vocab_size: 4_000_000, hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 32 })).toThrow(
      /vocab_size × hidden_size \(the embedding\) = 16,384,000,000 elements, more than one tensor can hold/,
    );
  });

  it('moe_groups larger than the layer count is refused', () => {
    expect(() => parseMonetConfig({ ...base, moe_groups: 5 })).toThrow(/moe_groups must be at most num_hidden_layers \(4\).*got 5/);
    expect(parseMonetConfig({ ...base, moe_groups: 4 }).dims.routerLayers).toEqual([0]);
  });

  it('the fixture itself still opens', async () => {
    const i = await inspectFolder(folderWith({}));
    expect(i.summary.layers).toBe(4);
  });
});

describe('messages of broken weights say what is wrong, once', () => {
  it('a 2^60 header length is printed exactly', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'resect-hostile-header-'));
    const head = Buffer.alloc(16);
    head.writeBigUInt64LE(2n ** 60n);
    writeFileSync(path.join(dir, 'model.safetensors'), head);
    await expect(openWeights(dir)).rejects.toThrow(/header length 1152921504606846976 is larger/);
  });

  it('a missing shard is named once, without "ENOENT: ENOENT:"', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'resect-hostile-shard-'));
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { w: 'model-00001-of-00002.safetensors' } }));
    const err = (await openWeights(dir).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('model-00001-of-00002.safetensors: the file does not exist');
    expect(err.message).not.toMatch(/ENOENT: ENOENT/);
  });
});
