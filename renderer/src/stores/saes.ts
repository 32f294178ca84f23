/**
 * The SAEs area: the workspace's SAE folders (trained, imported, unfinished) and activation caches, starting training
 * runs, and the live metrics of a run (its `metrics.jsonl` through `jobs.metrics`, polled while its job runs and read
 * from 0 after a reload, so nothing is lost). Pause is a cancel that checkpoints; Resume starts a job with
 * `resume: true` on the same SAE id (docs/sae.md "App").
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { JobInfo, Params, Result } from '../../../common/api';
import { api } from '../api/client';
import { useJobs } from './jobs';

export type SaeRun = Result<'saes.runs'>[number];
export type SaeCache = Result<'saes.caches'>[number];
export type TrainRequest = Params<'saes.train'>;

export interface SaeStepPoint {
  step: number;
  loss: number;
  fve: number;
  l0: number;
  dead: number;
  stepMs: number;
  groups: { target: number[]; realized: number[] } | null;
}

export interface SaeMetrics {
  steps: SaeStepPoint[];
  totalSteps: number | null;
  checkpoints: number[];
  resumes: number[];
  /** The last `end` record's outcome after the last start/resume (null while running). */
  end: string | null;
  /** The final evaluation record (over the cache), when the run finished. */
  eval: { tokens: number; fve: number; l0: number; dead: number; nmse: number } | null;
}

export const emptyMetrics = (): SaeMetrics => ({ steps: [], totalSteps: null, checkpoints: [], resumes: [], end: null, eval: null });

/** Folds metrics.jsonl records (start/resume, step, checkpoint, eval, end) into curves; a resumed run redoes steps
 * after its checkpoint, so the records of those steps are replaced. */
export function applySaeRecords(m: SaeMetrics, records: Record<string, unknown>[]): void {
  const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  for (const r of records) {
    const step = num(r.step);
    switch (r.type) {
      case 'start':
      case 'resume': {
        const cfg = (r.config ?? {}) as { steps?: number };
        if (typeof cfg.steps === 'number') m.totalSteps = cfg.steps;
        if (r.type === 'start') Object.assign(m, { ...emptyMetrics(), totalSteps: m.totalSteps });
        else m.resumes.push(m.steps[m.steps.length - 1]?.step ?? 0);
        m.end = null;
        break;
      }
      case 'step': {
        m.totalSteps = num(r.totalSteps);
        const last = m.steps[m.steps.length - 1];
        if (last && last.step >= step) m.steps = m.steps.filter((s) => s.step < step);
        const g = r.groups as { target: number[]; realized: number[] } | undefined;
        m.steps.push({ step, loss: num(r.loss), fve: num(r.fve), l0: num(r.l0), dead: num(r.dead), stepMs: num(r.stepMs), groups: g ?? null });
        break;
      }
      case 'checkpoint':
        if (!m.checkpoints.includes(step)) m.checkpoints.push(step);
        break;
      case 'eval':
        m.eval = { tokens: num(r.tokens), fve: num(r.fve), l0: num(r.l0), dead: num(r.dead), nmse: num(r.nmse) };
        break;
      case 'end':
        m.end = typeof r.outcome === 'string' ? r.outcome : 'ended';
        if (r.outcome === 'cancelled' && !m.checkpoints.includes(step)) m.checkpoints.push(step);
        break;
      default:
        break;
    }
  }
}

/** The `sae.train` jobs of an SAE id, oldest first. */
export function jobsOfSae(jobs: JobInfo[], id: string): JobInfo[] {
  return jobs.filter((j) => j.kind === 'sae.train' && j.params.id === id).sort((a, b) => a.createdAt - b.createdAt);
}

export const useSaes = defineStore('saes', () => {
  const jobs = useJobs();
  const runs = ref<SaeRun[]>([]);
  const caches = ref<SaeCache[]>([]);
  const loaded = ref(false);
  /** The SAE whose run panel is open. */
  const selectedId = ref<string | null>(null);

  async function refresh() {
    [runs.value, caches.value] = await Promise.all([api.request('saes.runs', {}), api.request('saes.caches', {})]);
    loaded.value = true;
  }

  /** Every SAE id that has a folder or a training job, newest first (a job that has not written anything yet too). */
  const ids = computed(() => {
    const seen = new Map<string, number>();
    for (const r of runs.value) seen.set(r.id, r.createdAt);
    for (const j of jobs.list) {
      if (j.kind !== 'sae.train' || typeof j.params.id !== 'string') continue;
      seen.set(j.params.id, Math.max(seen.get(j.params.id) ?? 0, j.createdAt));
    }
    return [...seen].sort((a, b) => b[1] - a[1]).map(([id]) => id);
  });
  const selected = computed(() => selectedId.value ?? ids.value[0] ?? null);

  async function train(req: TrainRequest): Promise<{ jobId: string; id: string }> {
    const r = await api.request('saes.train', req);
    selectedId.value = r.id;
    await jobs.refresh();
    return r;
  }

  /** Continues a paused run from its checkpoint with the parameters it was started with. */
  async function resume(id: string): Promise<string> {
    const last = jobsOfSae(jobs.list, id).at(-1);
    if (!last) throw new Error(`No training job of ${id} is known to resume.`);
    const r = await api.request('saes.train', { ...(last.params as TrainRequest), id, resume: true });
    await jobs.refresh();
    return r.jobId;
  }

  /** Reads a job's metrics from `since`; the caller keeps the offset. */
  async function metricsPage(jobId: string, since: number) {
    return api.request('jobs.metrics', { id: jobId, since });
  }

  api.on('job.update', (j) => {
    if ((j.kind === 'sae.train' || j.kind === 'sae.import' || j.kind === 'sae.capture') && j.state !== 'running' && j.state !== 'queued') void refresh().catch(() => {});
  });

  return { runs, caches, loaded, selectedId, ids, selected, refresh, train, resume, metricsPage };
});
