// The `sae.synthetic` job (the SAEs view's study panel) runs the study's runs it is asked for and returns their
// recovery table with progress in runs; a tiny step scale keeps it quick (the study's bar is tested by 17a's tests).
import { describe, expect, it } from 'vitest';
import type { JobContext } from '../../workers/jobs/types';
import { saeSyntheticJob } from '../../workers/jobs/sae-synthetic';

describe('sae.synthetic job', () => {
  it('returns the table of the runs asked for, with progress in runs', async () => {
    const progress: [number, number | null, string][] = [];
    const ctx: JobContext = {
      progress: (d, t, u) => progress.push([d, t, u]), log: () => {}, signal: new AbortController().signal, workspace: '/nonexistent', jobId: 'j',
      settings: { theme: 'system', device: 'cpu', threads: 1, maxHeavyJobs: 1 },
    };
    const r = (await saeSyntheticJob.run(saeSyntheticJob.params.parse({ scale: 0.002, only: ['ba'] }), ctx)) as { runs: Record<string, Record<string, number>>; seconds: number };
    expect(Object.keys(r.runs)).toEqual(['ba']);
    for (const k of ['frr_0_8', 'frr_0_9', 'mean_mcs', 'l0', 'fve', 'dead', 'seconds', 'steps']) expect(Number.isFinite(r.runs.ba![k])).toBe(true);
    expect(r.runs.ba!.frr_0_8).toBeGreaterThanOrEqual(r.runs.ba!.frr_0_9!);
    expect(progress.at(-1)).toEqual([1, 1, 'runs']);
    await expect(saeSyntheticJob.run(saeSyntheticJob.params.parse({ only: ['nope'] }), ctx)).rejects.toThrow('no run is named nope');
  }, 120_000);
});
