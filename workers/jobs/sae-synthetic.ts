/**
 * `sae.synthetic`: the paper's planted-feature recovery study (workers/sae/synthetic.ts; `resect experiment
 * gba-synthetic`) as a job, so the SAEs view can run it and show its table. Progress in runs; the result is the
 * study's `{ runs: { NAME: { frr_0_8, frr_0_9, mean_mcs, l0, fve, dead, seconds, steps, note } }, seconds }`.
 */
import { defineJob } from './types';
import { SaeSyntheticJobParams } from '../sae/train-options';

export const saeSyntheticJob = defineJob({
  heavy: true,
  params: SaeSyntheticJobParams,
  title: (p) => `GBA synthetic recovery study${p.scale !== 1 ? ` (steps × ${p.scale})` : ''}`,
  async run(p, ctx) {
    const { runSyntheticStudy, syntheticRuns } = await import('../sae/synthetic');
    const names = syntheticRuns(p.scale).map((r) => r.name).filter((n) => !p.only || p.only.includes(n));
    if (names.length === 0) throw new Error(`no run is named ${p.only?.join(', ')} (runs: ${syntheticRuns(1).map((r) => r.name).join(', ')})`);
    let done = 0;
    ctx.progress(0, names.length, 'runs', `training ${names[0]}`);
    const r = await runSyntheticStudy({
      scale: p.scale, seed: p.seed, ...(p.only ? { only: p.only } : {}), signal: ctx.signal,
      ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}),
      onStep: (name, m) => ctx.progress(done, names.length, 'runs', `${name}: step ${m.step}/${m.totalSteps}, FVE ${m.fve.toFixed(3)}`),
      onRun: (name, m) => {
        done++;
        ctx.log(`${name}: FRR@0.9 ${m.frr_0_9.toFixed(3)}, FRR@0.8 ${m.frr_0_8.toFixed(3)}, mean MCS ${m.mean_mcs.toFixed(3)}, L0 ${m.l0.toFixed(1)}, FVE ${m.fve.toFixed(3)}, dead ${m.dead.toFixed(3)} (${m.seconds.toFixed(1)} s)`);
        ctx.progress(done, names.length, 'runs', names[done] ? `training ${names[done]}` : 'done');
      },
    });
    return r;
  },
});
