// Trains the default byte-level BPE tokenizer on the corpus train split and reports its compression on each domain
// of the held-out split (see docs/corpus.md).
//   npm run corpus:tokenizer -- [--vocab 8192] [--eval 4096,6144,8192] [--out assets/tokenizer]
// One training run to the largest size gives every smaller size too (greedy BPE is sequential: truncateVocab).
import { Tokenizer } from '@huggingface/tokenizers';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { toTokenizerConfig, toTokenizerJson, trainBpe, truncateVocab } from '../../workers/tokenizer/bpe-trainer';
import { parseJsonl } from './lib';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}

const vocabSize = Number(arg('vocab', '8192'));
const evalSizes = [...new Set([...arg('eval', '4096,6144,8192').split(',').map(Number), vocabSize])].sort((a, b) => a - b);
const outDir = arg('out', 'assets/tokenizer');
const specials = arg('specials', '<|endoftext|>').split(',');

const train = parseJsonl(gunzipSync(readFileSync(arg('train', 'assets/corpus/train.jsonl.gz'))).toString('utf8'));
const heldout = parseJsonl(readFileSync(arg('heldout', 'assets/corpus/heldout.jsonl'), 'utf8'));
console.log(`[tokenizer] train ${train.length} samples, held-out ${heldout.length} samples; sizes ${evalSizes.join(', ')}`);

const full = trainBpe(train.map((s) => s.text), {
  vocabSize: Math.max(...evalSizes),
  specialTokens: specials,
  log: (m) => console.log(`[tokenizer] ${m}`),
});

const domains = [...new Set(heldout.map((s) => s.domain))].sort();
const report: Record<string, Record<string, { charsPerToken: number; bytesPerToken: number; tokens: number }>> = {};
const encoder = new TextEncoder();
let chosen: Record<string, unknown> | null = null;
for (const size of evalSizes) {
  const r = truncateVocab(full, size);
  const json = toTokenizerJson(r);
  const config = toTokenizerConfig(r);
  if (size === vocabSize) chosen = json;
  const tok = new Tokenizer(json, config);
  const t0 = performance.now();
  const per: Record<string, { chars: number; bytes: number; tokens: number }> = {};
  let mismatches = 0;
  for (const s of heldout) {
    const ids = tok.encode(s.text, { add_special_tokens: false }).ids;
    if (tok.decode(ids) !== s.text) mismatches++;
    const d = (per[s.domain] ??= { chars: 0, bytes: 0, tokens: 0 });
    d.chars += s.text.length;
    d.bytes += encoder.encode(s.text).length;
    d.tokens += ids.length;
  }
  if (mismatches > 0) throw new Error(`vocab ${size}: ${mismatches} held-out samples do not round-trip`);
  const all = { chars: 0, bytes: 0, tokens: 0 };
  const row: Record<string, { charsPerToken: number; bytesPerToken: number; tokens: number }> = {};
  for (const d of domains) {
    const p = per[d] as { chars: number; bytes: number; tokens: number };
    all.chars += p.chars;
    all.bytes += p.bytes;
    all.tokens += p.tokens;
    row[d] = { charsPerToken: +(p.chars / p.tokens).toFixed(3), bytesPerToken: +(p.bytes / p.tokens).toFixed(3), tokens: p.tokens };
  }
  row.all = { charsPerToken: +(all.chars / all.tokens).toFixed(3), bytesPerToken: +(all.bytes / all.tokens).toFixed(3), tokens: all.tokens };
  report[String(r.vocab.length)] = row;
  console.log(`[tokenizer] vocab ${r.vocab.length}: ${domains.map((d) => `${d} ${row[d]?.charsPerToken}`).join(', ')}; ` +
    `all ${row.all.charsPerToken} chars/token (held-out encoded + round-tripped in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (!chosen) throw new Error('no tokenizer for the chosen size');
mkdirSync(outDir, { recursive: true });
const chosenSize = truncateVocab(full, vocabSize);
writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(chosen) + '\n');
writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(toTokenizerConfig(chosenSize), null, 2) + '\n');
writeFileSync(path.join(outDir, 'compression.json'), JSON.stringify({
  chosenVocabSize: chosenSize.vocab.length,
  specialTokens: specials,
  trainedOn: { samples: full.stats.texts, chars: full.stats.chars, distinctPieces: full.stats.distinctPieces },
  timingsMs: Object.fromEntries(Object.entries(full.timings).map(([k, v]) => [k, Math.round(v)])),
  heldoutCharsPerToken: report,
}, null, 2) + '\n');
console.log(`[tokenizer] wrote ${path.join(outDir, 'tokenizer.json')} (vocab ${chosenSize.vocab.length}, ${chosenSize.merges.length} merges)`);
