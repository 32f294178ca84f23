/**
 * `resect train` and `resect train-eval` as a user runs them: the CLI bundle (built from the current tree) in a child
 * process on a tiny labelled corpus. A run interrupted with Ctrl-C and continued with `--resume` ends with the same
 * weights and optimizer state as an uninterrupted run; train-eval's JSON report describes the checkpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openSafetensors } from '../../workers/engine/safetensors';
import { buildBundles, root, runCli, tempDir } from '../backend/helpers';

let cli: string;
let cleanup: () => void;
let work: string;
let trainFile: string;
let heldoutFile: string;
const tokenizerDir = path.join(root, 'assets/tokenizer');

/** Two domains of repetitive text: a tiny model learns them in a few steps. */
function writeCorpus(dir: string): void {
  const words = { code: 'function return const let if else { } ( ) ;'.split(' '), prose: 'the cat sat on a mat and dog ran far away'.split(' ') };
  const train: string[] = [];
  const held: string[] = [];
  for (const [domain, ws] of Object.entries(words)) {
    for (let d = 0; d < 12; d++) {
      const text = Array.from({ length: 50 }, (_, i) => ws[(i * (d + 1)) % ws.length]).join(' ');
      (d < 10 ? train : held).push(JSON.stringify({ text, domain }));
    }
  }
  trainFile = path.join(dir, 'train.jsonl');
  heldoutFile = path.join(dir, 'heldout.jsonl');
  writeFileSync(trainFile, `${train.join('\n')}\n`);
  writeFileSync(heldoutFile, `${held.join('\n')}\n`);
}

const STEPS = 6;
const trainArgs = (out: string) => [
  'train', '--data', trainFile, '--heldout', heldoutFile, '--out', out, '--preset', 'tiny', '--tokenizer', tokenizerDir,
  '--steps', String(STEPS), '--batch', '2', '--seq-len', '16', '--eval-every', '3', '--checkpoint-every', '100', '--threads', '1',
];

async function tensors(file: string): Promise<Map<string, Buffer>> {
  const h = await openSafetensors(file);
  const out = new Map<string, Buffer>();
  for (const name of h.tensors.keys()) out.set(name, Buffer.from((await h.readAsFloat32(name)).buffer));
  await h.close();
  return out;
}

const records = (out: string) => readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  ({ cli, cleanup } = await buildBundles());
  work = tempDir('resect-train-cli-');
  writeCorpus(work);
});
afterAll(() => cleanup?.());

describe('resect train', () => {
  let straight: string;

  it(`trains ${STEPS} steps: prints steps, evals and the outcome; writes a checkpoint and metrics`, async () => {
    straight = path.join(work, 'straight');
    const r = await runCli(cli, trainArgs(straight));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^finished at step ${STEPS}/${STEPS} after .*; checkpoint ${straight.replace(/[/\\]/g, '.')}.checkpoint$`, 'm'));
    expect(r.stdout).toMatch(/^step 1\/6 loss \d+\.\d{4} /m);
    expect(r.stdout).toMatch(/^eval @3/m);
    const steps = records(straight).filter((x) => x.type === 'step');
    expect(steps.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const evals = records(straight).filter((x) => x.type === 'eval') as { step: number; domains: Record<string, { ppl: number; loss: number }> }[];
    expect(evals.map((x) => x.step)).toEqual([3, 6]);
    expect(Object.keys(evals[1]!.domains).sort()).toEqual(['code', 'prose']);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'tokenizer.json']) {
      expect(() => readFileSync(path.join(straight, 'checkpoint', f)), f).not.toThrow();
    }
    const state = JSON.parse(readFileSync(path.join(straight, 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number };
    expect(state.step).toBe(STEPS);
    // A second run into the same folder without --resume is refused and leaves the checkpoint alone.
    const again = await runCli(cli, trainArgs(straight));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/--resume/);
  });

  it('Ctrl-C saves a checkpoint; --resume continues it to the same weights and optimizer state, bit for bit', async () => {
    const out = path.join(work, 'interrupted');
    // Interrupt once the first step is logged: the run stops after the step in progress, with a checkpoint.
    const first = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const p = spawn(process.execPath, [cli, ...trainArgs(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let sent = false;
      p.stdout.on('data', (d) => {
        stdout += d;
        if (!sent && /^step 1\/6 /m.test(stdout)) {
          sent = true;
          p.kill('SIGINT');
        }
      });
      p.on('close', (code) => resolve({ code, stdout }));
    });
    expect(first.code).toBe(0);
    const m = /^cancelled at step (\d+)\/6 .*\(continue with --resume\)$/m.exec(first.stdout);
    expect(m, first.stdout).not.toBeNull();
    const stoppedAt = Number(m![1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(1);
    expect(stoppedAt).toBeLessThan(STEPS);

    const resumed = await runCli(cli, [...trainArgs(out), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`resumed from ${path.join(out, 'checkpoint')} at step ${stoppedAt}/${STEPS}`);
    expect(resumed.stdout).toMatch(new RegExp(`^finished at step ${STEPS}/${STEPS} `, 'm'));
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      const a = await tensors(path.join(straight, 'checkpoint', f));
      const b = await tensors(path.join(out, 'checkpoint', f));
      expect([...b.keys()].sort(), f).toEqual([...a.keys()].sort());
      for (const [k, v] of a) expect(b.get(k)!.equals(v), `${f}: ${k}`).toBe(true);
    }
    // The step losses after the interruption are those of the uninterrupted run.
    const losses = (dir: string) => new Map(records(dir).filter((x) => x.type === 'step').map((x) => [x.step as number, x.loss as number]));
    const a = losses(straight);
    const b = losses(out);
    for (let s = stoppedAt + 1; s <= STEPS; s++) expect(b.get(s), `step ${s}`).toBe(a.get(s));
  });
});

describe('resect train-eval', () => {
  it('writes a JSON report of the checkpoint: per-domain loss and perplexity, one entry per router', async () => {
    const ckpt = path.join(work, 'straight', 'checkpoint');
    const report = path.join(work, 'report.json');
    const r = await runCli(cli, ['train-eval', '--model', ckpt, '--heldout', heldoutFile, '--seq-len', '16', '--max-seqs', '2', '--out', report]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(report, 'utf8')) as {
      model: string; seqLen: number; logE: number;
      domains: Record<string, { loss: number; ppl: number; tokens: number }>;
      mean: { loss: number; ppl: number };
      routers: { router: number; layer: number; uniformity: number; meanSelected: number; concentration: Record<string, { share: number }> }[];
    };
    const config = JSON.parse(readFileSync(path.join(ckpt, 'config.json'), 'utf8')) as { num_hidden_layers: number; moe_experts: number; moe_topk: number };
    expect(j.seqLen).toBe(16);
    expect(Object.keys(j.domains).sort()).toEqual(['code', 'prose']);
    // On the trainer's own validation windows (the first 2 of 16 tokens per domain: the tiny preset's evalSeqs), the
    // inference graph gives the loss the training graph reported at the last step, per domain and overall.
    const last = records(path.join(work, 'straight')).filter((x) => x.type === 'eval').at(-1) as { step: number; domains: typeof j.domains; mean: typeof j.mean };
    expect(last.step).toBe(STEPS);
    for (const [name, d] of Object.entries(j.domains)) {
      expect(d.tokens, name).toBe(last.domains[name]!.tokens);
      expect(d.loss, name).toBeCloseTo(last.domains[name]!.loss, 5);
      expect(d.ppl, name).toBeCloseTo(Math.exp(d.loss), 9);
      expect(d.loss, name).toBeLessThan(Math.log(6144)); // trained: below a uniform guess over the vocabulary
    }
    expect(j.mean.loss).toBeCloseTo(last.mean.loss, 5);
    expect(j.mean.ppl).toBeCloseTo(Math.exp(j.mean.loss), 9);
    expect(j.logE).toBeCloseTo(Math.log(config.moe_experts), 9);
    expect(j.routers.length).toBeGreaterThan(0);
    for (const x of j.routers) {
      expect(x.layer).toBeLessThan(config.num_hidden_layers);
      expect(x.uniformity).toBeGreaterThanOrEqual(j.logE - 1e-6); // −mean log p̄ is at least log E
      expect(x.meanSelected).toBeGreaterThan(0);
    }
    // The same report on stdout, in words.
    expect(r.stdout).toContain(`mean loss ${j.mean.loss.toFixed(4)} ppl ${j.mean.ppl.toFixed(2)}`);
  });
});
