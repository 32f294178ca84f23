#!/usr/bin/env node
// Trains (or continues) the embedded default Monet model and exports it to assets/model/.
//
//   npm run train:default-model                 # train / resume to the end, then evaluate and export
//   node scripts/train-default-model.mjs --max-minutes 30   # a part of the run (resumable), then export
//   node scripts/train-default-model.mjs --export-only      # export the latest checkpoint as it is
//
// The run lives in runs/default-model/ (checkpoint/ with optimizer state, metrics.jsonl, train.log); it is resumable
// at any time: a killed run loses at most one checkpoint interval (25 steps).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = path.join(root, 'runs/default-model');
const out = path.join(root, 'assets/model');
const cli = process.env.RESECT_CLI ?? path.join(root, 'bin/resect.mjs');
const args = process.argv.slice(2);
const exportOnly = args.includes('--export-only');
const passthrough = args.filter((a) => a !== '--export-only');

function node(argv) {
  const r = spawnSync(process.execPath, [cli, ...argv], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

mkdirSync(run, { recursive: true });
if (!existsSync(path.join(run, '.gitignore'))) writeFileSync(path.join(run, '.gitignore'), '*\n');
if (!exportOnly) {
  node(['train', '--preset', 'default', '--data', 'assets/corpus/train.jsonl.gz', '--heldout', 'assets/corpus/heldout.jsonl',
    '--out', path.relative(root, run), '--resume', '--quiet', ...passthrough]);
}
const ckpt = path.join(run, 'checkpoint');
if (!existsSync(path.join(ckpt, 'model.safetensors'))) {
  console.error(`no checkpoint in ${ckpt}`);
  process.exit(1);
}
const state = JSON.parse(readFileSync(path.join(ckpt, 'trainer_state.json'), 'utf8'));
mkdirSync(out, { recursive: true });
for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']) {
  copyFileSync(path.join(ckpt, f), path.join(out, f));
}
copyFileSync(path.join(run, 'metrics.jsonl'), path.join(out, 'training-log.jsonl'));
copyFileSync(path.join(run, 'train.log'), path.join(out, 'train.log'));
console.log(`exported step ${state.step}/${state.totalSteps} to ${path.relative(root, out)}; evaluating on the held-out set…`);
node(['train-eval', '--model', path.relative(root, out), '--heldout', 'assets/corpus/heldout.jsonl', '--out', path.relative(root, path.join(out, 'eval.json'))]);
