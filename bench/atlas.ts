/**
 * Atlas throughput against the plain forward pass, from one run: a synthetic mid-sized Monet (d 256, 4 layers,
 * E 64, H 4, k 8, 2 groups; or the default model in assets/model when it exists) over the held-out corpus
 * (assets/corpus/heldout.jsonl, else the fixture samples) with the assets tokenizer.
 *
 *   forward: the same chunks in the same padded batches through model.forward (no logits, no gates), after a
 *            warm-up pass, before and after the atlas run (their mean is the baseline)
 *   atlas:   buildAtlas over the same samples (forward with gates + sparse accumulation); tokens/s of the streaming
 *            phase, and end to end (with writing stats, contexts and vocab)
 *
 * Last line: `ratio_vs_forward: X` (atlas streaming tokens/s over forward tokens/s).
 *
 *   npm run bench:atlas -- [--tokens 6000] [--threads 2]
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSafetensors, type TensorToWrite } from '../workers/engine/safetensors';
import { expectedTensors } from '../workers/models/monet/checkpoint';
import { parseMonetConfig } from '../workers/models/monet/config';
import { MonetModel } from '../workers/models/monet/model';
import { loadTokenizer } from '../workers/tokenizer';
import { buildAtlas } from '../workers/analysis/atlas/build';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const TOKENS = Number(arg('tokens', '6000'));
const THREADS = Number(arg('threads', '2'));
const here = path.dirname(fileURLToPath(import.meta.url));
const root = [path.resolve(here, '..', '..'), path.resolve(here, '..'), process.cwd()].find((d) => existsSync(path.join(d, 'package.json')))!;

async function synthetic(dir: string, cfg: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const { config, dims } = parseMonetConfig(cfg);
  let seed = 99;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2 * Math.sqrt(3);
  const tensors: TensorToWrite[] = expectedTensors(config, dims).filter((s) => !s.optional).map((s) => ({
    name: s.name, dtype: 'F32', shape: s.shape,
    data: () => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const f = new Float32Array(n);
      if (s.name.endsWith('running_var') || s.name.endsWith('norm.weight') || s.name.endsWith('layernorm.weight')) f.fill(1);
      else if (!s.name.endsWith('running_mean')) {
        const scale = s.name.includes('moe.b') || s.name.endsWith('.bias') ? 0.01 : 1 / Math.sqrt(s.shape[s.shape.length - 1]!);
        for (let i = 0; i < n; i++) f[i] = rnd() * scale;
      }
      return f;
    },
  }));
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

const work = await mkdtemp(path.join(tmpdir(), 'resect-atlas-bench-'));
try {
  const tokDir = path.join(root, 'assets', 'tokenizer');
  let modelDir = path.join(root, 'assets', 'model');
  let label = 'default model (assets/model)';
  if (!existsSync(path.join(modelDir, 'config.json'))) {
    const tok = await loadTokenizer(tokDir);
    modelDir = path.join(work, 'model');
    await synthetic(modelDir, {
      model_type: 'monet', hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4,
      moe_decompose: 'vertical', moe_experts: 64, moe_dim: 8, moe_heads: 4, moe_topk: 8, moe_groups: 2, vocab_size: tok.vocabSize,
      max_position_embeddings: 512, bos_token_id: tok.bosId, eos_token_id: tok.eosId,
    });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (existsSync(path.join(tokDir, f))) await writeFile(path.join(modelDir, f), await readFile(path.join(tokDir, f)));
    label = `synthetic VD d256 L4 E64 H4 k8 (vocab ${tok.vocabSize})`;
  }
  const model = await MonetModel.load(modelDir, { provider: 'cpu', intraOpThreads: THREADS });
  const c = model.config;
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
  const tokenizer = await loadTokenizer(modelDir, { bosTokenId: c.bos_token_id, eosTokenId: eos ?? null });

  // The corpus: whole samples up to TOKENS tokens.
  const corpusFile = [path.join(root, 'assets', 'corpus', 'heldout.jsonl'), path.join(root, 'test', 'fixtures', 'data', 'sample.jsonl')].find((f) => existsSync(f))!;
  const lines = (await readFile(corpusFile, 'utf8')).split('\n').filter((l) => l.trim());
  const context = Math.min(256, c.max_position_embeddings);
  const picked: string[] = [];
  let total = 0;
  for (const l of lines) {
    if (total >= TOKENS) break;
    const text = (JSON.parse(l) as { text: string }).text;
    total += tokenizer.encode(text).length;
    picked.push(l);
  }
  const data = path.join(work, 'corpus.jsonl');
  await writeFile(data, picked.join('\n') + '\n');

  // Baseline: the same chunks and batches as the atlas (rows 16, 2048 padded tokens), plain forward.
  const chunks: number[][] = [];
  for (const l of picked) {
    const ids = tokenizer.encode((JSON.parse(l) as { text: string }).text);
    for (let s = 0; s < ids.length; s += context) chunks.push(ids.slice(s, s + context));
  }
  const forwardRate = async () => {
    const t0 = performance.now();
    let tokens = 0;
    let batch: number[][] = [];
    const run = async () => {
      const T = Math.max(...batch.map((b) => b.length));
      const ids = new BigInt64Array(batch.length * T).fill(BigInt(tokenizer.padId));
      const att = new Uint8Array(batch.length * T);
      batch.forEach((b, r) => b.forEach((id, t) => { ids[r * T + t] = BigInt(id); att[r * T + t] = 1; }));
      await model.forward({ ids, batch: batch.length, time: T, attention: att, logits: 'none' });
      batch = [];
    };
    for (const ch of chunks) {
      const w = Math.max(ch.length, ...batch.map((b) => b.length));
      if (batch.length && (batch.length + 1 > 16 || (batch.length + 1) * w > 2048)) await run();
      batch.push(ch);
      tokens += ch.length;
    }
    if (batch.length) await run();
    return (tokens / (performance.now() - t0)) * 1000;
  };

  await forwardRate(); // warm-up (ORT arenas, JIT)
  const f1 = await forwardRate();
  const t0 = performance.now();
  const meta = await buildAtlas({
    model, tokenizer, modelDir, outDir: path.join(work, 'atlas'),
    source: { data: { kind: 'jsonl', path: data, textField: 'text' }, filter: {}, domainField: 'domain' },
    context, checkpointEvery: 0,
  });
  const endToEnd = (meta.tokens / (performance.now() - t0)) * 1000;
  const f2 = await forwardRate();
  await model.dispose();
  const forward = (f1 + f2) / 2;
  console.log(`model: ${label}, ${THREADS} threads`);
  console.log(`corpus: ${meta.samples} samples, ${meta.tokens} tokens counted (BOS excluded), ${meta.domains.length} domains, chunks of ${context}`);
  console.log(`forward tokens/s: ${forward.toFixed(1)} (${f1.toFixed(1)} before, ${f2.toFixed(1)} after)`);
  console.log(`atlas tokens/s: ${meta.tokensPerSecond.toFixed(1)} streaming, ${endToEnd.toFixed(1)} end to end (with stats, contexts, vocab)`);
  console.log(`ratio_vs_forward: ${(meta.tokensPerSecond / forward).toFixed(2)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
