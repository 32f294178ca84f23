/**
 * Peak memory of loading a big Monet checkpoint: generates a synthetic random-weight 1.4B-VD BF16 checkpoint
 * (config of spec §7.2, ~2.9 GB, streamed through the safetensors writer) and, in a fresh process, loads it with
 * MonetModel.load (one graph per layer, float32 per tensor) and runs a short forward, printing peak RSS (VmHWM)
 * against the checkpoint size.
 *
 *   node scripts/build.mjs && node dist/bench/monet-load.mjs [--dir /tmp/monet-1.4b-bf16] [--tokens 16]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { MonetModel } from '../workers/models/monet/model';
import { generateSynthetic } from './monet-synth';

const CONFIG = {
  architectures: ['MonetForCausalLM'], model_type: 'monet', hidden_act: 'relu2',
  hidden_size: 2048, num_hidden_layers: 24, num_attention_heads: 16, num_key_value_heads: 16,
  moe_decompose: 'vertical', moe_dim: 16, moe_experts: 512, moe_groups: 4, moe_heads: 8, moe_topk: 8,
  vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000.0, rope_scaling: null,
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
};

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const status = (key: string) => Number(/\d+/.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key)) ?? '0')![0]) * 1024;

async function generate(dir: string): Promise<void> {
  const t0 = performance.now();
  await generateSynthetic(dir, CONFIG, { dtype: 'BF16', seed: 12345 });
  console.log(`generated ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS of the generator ${gib(status('VmHWM'))}`);
}

async function load(dir: string, tokens: number): Promise<void> {
  const size = (await stat(path.join(dir, 'model.safetensors'))).size;
  const t0 = performance.now();
  const model = await MonetModel.load(dir, { provider: 'cpu' });
  const loadS = (performance.now() - t0) / 1000;
  const afterLoad = status('VmHWM');
  const rssLoaded = status('VmRSS');
  const ids = Array.from({ length: tokens }, (_, i) => (i * 7919 + 1) % 32000);
  const t1 = performance.now();
  const out = await model.forward({ ids, batch: 1, time: tokens, logits: 'last', gates: true });
  const fwdS = (performance.now() - t1) / 1000;
  let finite = true;
  for (const v of out.logits!) if (!Number.isFinite(v)) finite = false;
  const peak = status('VmHWM');
  const maxRss = process.resourceUsage().maxRSS * 1024;
  await model.dispose();
  console.log(JSON.stringify({ checkpoint: gib(size), load_s: +loadS.toFixed(1), rss_after_load: gib(rssLoaded), peak_rss_load: gib(afterLoad), forward_tokens: tokens, forward_s: +fwdS.toFixed(2), peak_rss: gib(peak), maxRSS: gib(maxRss), peak_over_checkpoint: +(peak / size).toFixed(2), logits_finite: finite }));
}

const mode = process.argv[2];
const dir = arg('dir', '/tmp/monet-1.4b-bf16');
const tokens = Number(arg('tokens', '16'));
if (mode === '--generate') await generate(dir);
else if (mode === '--load') await load(dir, tokens);
else {
  // Generate (if absent) and load in separate processes so each peak is its own.
  const self = process.argv[1]!;
  if (!existsSync(path.join(dir, 'model.safetensors'))) spawnSync(process.execPath, [self, '--generate', '--dir', dir], { stdio: 'inherit' });
  const r = spawnSync(process.execPath, [self, '--load', '--dir', dir, '--tokens', String(tokens)], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
