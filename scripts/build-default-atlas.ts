/**
 * Builds the atlas that ships with the embedded default model (assets/atlas/): a full atlas of assets/model over the
 * shipped training corpus (the corpus the resection figures use), then its compact pack
 * (workers/analysis/atlas/compact.ts).
 *
 *   npm run atlas:default                                      # full build (≈ 8 min on 2 cores), then pack
 *   node dist/scripts/build-default-atlas.mjs --full DIR       # pack an atlas already built with the same settings
 *   node dist/scripts/build-default-atlas.mjs --contexts 8     # top contexts kept per expert (default 8)
 *
 * Prints the sizes and checks that the pack fits the assets budget (assets/ ≤ 60 MB in all).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packAtlas } from '../workers/analysis/atlas/compact';
import { weightsDigest } from '../main/atlas/shipped';

const ASSETS_BUDGET = 60 * 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const arg = (name: string) => {
  const k = args.indexOf(name);
  return k >= 0 ? args[k + 1] : undefined;
};

function bytesOf(p: string): number {
  const st = statSync(p);
  return st.isDirectory() ? readdirSync(p).reduce((s, f) => s + bytesOf(path.join(p, f)), 0) : st.size;
}
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

const model = path.join(root, 'assets/model');
const corpus = path.join(root, 'assets/corpus/train.jsonl.gz');
const out = path.join(root, 'assets/atlas');
const contexts = Number(arg('--contexts') ?? 8);
if (!Number.isInteger(contexts) || contexts < 1 || contexts > 100) throw new Error(`--contexts must be an integer in 1…100, got ${arg('--contexts')}`);

let full = arg('--full');
if (!full) {
  full = path.join(root, 'runs/default-atlas');
  const cli = path.join(root, 'bin/resect.mjs');
  const r = spawnSync(process.execPath, [cli, 'atlas', '--model', model, '--data', corpus, '--out', full, '--name', 'Default model · training corpus', '--checkpoint-every', '0'], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
full = path.resolve(full);
if (!existsSync(path.join(full, 'meta.json'))) throw new Error(`${full} is not a built atlas (no meta.json)`);

const t0 = performance.now();
const name = `Default model · training corpus (shipped: ${contexts} top contexts per expert)`;
const meta = await packAtlas(full, out, { contextsPerExpert: contexts, fullBytes: bytesOf(full), modelDigest: await weightsDigest(model), name });
const packBytes = bytesOf(out);
const assetsBytes = bytesOf(path.join(root, 'assets'));
process.stdout.write(
  `packed ${full} (${mb(meta.compact.fullBytes)}) → ${out}: ${mb(packBytes)} (${meta.compact.contextsPerExpert} contexts per expert) in ${((performance.now() - t0) / 1000).toFixed(1)} s; assets/ ${mb(assetsBytes)} of ${mb(ASSETS_BUDGET)}\n`,
);
for (const f of readdirSync(out)) process.stdout.write(`  ${f}: ${mb(bytesOf(path.join(out, f)))}\n`);
if (assetsBytes > ASSETS_BUDGET) {
  process.stderr.write(`assets/ is over its budget: pass a smaller --contexts\n`);
  process.exit(1);
}
