// `resect experiment gba-synthetic`: the GBA paper's synthetic feature-recovery study on planted features
// (workers/sae/synthetic.ts): BA on spec §6's setting and the imbalanced toy of spec §3.5 (GBA over the full and over a
// wrong frequency range, TopK K 20/30/50). Added to the `experiment` group that experiment.ts creates.
import { type Command, InvalidArgumentError } from 'commander';
import { runSyntheticStudy, syntheticRuns, type SyntheticResult } from '../../../workers/sae/synthetic';
import { printJson } from '../shared';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};

const nonNegativeInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

/** `{"runs": {NAME: {"frr_0.8", "frr_0.9", "mean_mcs", "l0", "fve", "dead"}}}` plus the seconds each took. */
export function syntheticJson(r: SyntheticResult): Record<string, unknown> {
  return {
    runs: Object.fromEntries(Object.entries(r.runs).map(([name, m]) => [name, {
      'frr_0.8': m.frr_0_8, 'frr_0.9': m.frr_0_9, mean_mcs: m.mean_mcs, l0: m.l0, fve: m.fve, dead: m.dead, steps: m.steps, seconds: m.seconds,
    }])),
    seconds: r.seconds,
  };
}

export function formatSynthetic(r: SyntheticResult): string {
  const head = `${'run'.padEnd(11)}${'FRR@0.8'.padStart(9)}${'FRR@0.9'.padStart(9)}${'MCS'.padStart(7)}${'L0'.padStart(7)}${'FVE'.padStart(7)}${'dead'.padStart(7)}${'s'.padStart(6)}  setting\n`;
  return head + Object.entries(r.runs).map(([name, m]) => `${name.padEnd(11)}${m.frr_0_8.toFixed(3).padStart(9)}${m.frr_0_9.toFixed(3).padStart(9)}${m.mean_mcs.toFixed(3).padStart(7)}`
    + `${m.l0.toFixed(1).padStart(7)}${m.fve.toFixed(3).padStart(7)}${m.dead.toFixed(3).padStart(7)}${m.seconds.toFixed(0).padStart(6)}  ${m.note}\n`).join('')
    + `total ${r.seconds.toFixed(0)} s\n`;
}

export function registerGbaSyntheticExperiment(program: Command): void {
  const exp = program.commands.find((c) => c.name() === 'experiment') ?? program.command('experiment').description('experiments');
  const names = syntheticRuns().map((r) => r.name);
  exp
    .command('gba-synthetic')
    .description('GBA paper\'s synthetic recovery study on planted features: BA (n 256, d 64, s 3, M 512); imbalanced toy (n 128, d 42, s 3 / 20): GBA full and wrong frequency range, TopK K 20/30/50')
    .option('--json', 'print {"runs": {NAME: {"frr_0.8", "frr_0.9", "mean_mcs", "l0", "fve", "dead"}}}')
    .option('--only <names>', `comma-separated runs (${names.join(', ')})`)
    .option('--scale <x>', 'multiply every run\'s step count (1: the documented table)', positive, 1)
    .option('--seed <n>', 'seed of the features, data and initialization', nonNegativeInt, 0)
    .option('--threads <n>', 'ONNX Runtime intra-op threads', positive)
    .action(async (o: { json?: boolean; only?: string; scale: number; seed: number; threads?: number }) => {
      const only = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = only?.filter((n) => !names.includes(n)) ?? [];
      if (unknown.length) throw new InvalidArgumentError(`--only: unknown run(s) ${unknown.join(', ')}; known: ${names.join(', ')}`);
      const r = await runSyntheticStudy({
        scale: o.scale, seed: o.seed, ...(only ? { only } : {}), ...(o.threads ? { threads: o.threads } : {}),
        onRun: (name, m) => process.stderr.write(`resect: ${name}: FRR@0.9 ${m.frr_0_9.toFixed(3)}, FRR@0.8 ${m.frr_0_8.toFixed(3)}, L0 ${m.l0.toFixed(1)} (${m.seconds.toFixed(0)} s)\n`),
      });
      if (o.json) printJson(syntheticJson(r));
      else process.stdout.write(formatSynthetic(r));
    });
}
