/**
 * Training runs as the Train view sees them. A run is an output folder; each `monet.train` job that wrote to it
 * (the first one, then one per resume) is a segment, and its curves come from the folder's `metrics.jsonl` through
 * `jobs.metrics` (polled while a job runs, refilled from 0 after a reload, so nothing is lost).
 */
import { onBeforeUnmount, ref, watch, type Ref } from 'vue';
import type { JobInfo } from '../../../../common/api';
import { api } from '../../api/client';
import { stateLabel } from '../../stores/jobs';

export interface TrainRun {
  /** Output folder as the job was given it (relative to the workspace) or the job's default folder. */
  key: string;
  /** The newest job of the run (its metrics file is the run's). */
  latest: JobInfo;
  jobs: JobInfo[];
}

const CANCELLED_KEY = 'resect.train.cancelled';

/** Jobs the user cancelled for good (Cancel rather than Pause): kept in this browser, newest 200. */
export function cancelledForGood(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(CANCELLED_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function markCancelledForGood(id: string): string[] {
  const next = [...cancelledForGood().filter((x) => x !== id), id].slice(-200);
  localStorage.setItem(CANCELLED_KEY, JSON.stringify(next));
  return next;
}

/** A run's state in words: a cancelled job is "Paused" (it checkpointed) unless the user cancelled it for good. */
export function runStatus(j: JobInfo, forGood: string[]): string {
  if (j.state === 'cancelled') return forGood.includes(j.id) ? 'Cancelled' : 'Paused';
  return stateLabel[j.state];
}

export const outKey = (j: JobInfo): string => {
  const out = j.params.out;
  return typeof out === 'string' && out.trim() ? out.trim().replace(/\/+$/, '') : `jobs/${j.id}/train`;
};

export function groupRuns(jobs: JobInfo[]): TrainRun[] {
  const byKey = new Map<string, JobInfo[]>();
  for (const j of jobs) {
    if (j.kind !== 'monet.train') continue;
    const k = outKey(j);
    byKey.set(k, [...(byKey.get(k) ?? []), j]);
  }
  return [...byKey].map(([key, js]) => {
    const sorted = js.sort((a, b) => a.createdAt - b.createdAt);
    return { key, jobs: sorted, latest: sorted[sorted.length - 1]! };
  }).sort((a, b) => b.latest.createdAt - a.latest.createdAt);
}

export interface StepPoint { step: number; loss: number; ce: number; tokensPerSec: number; etaMs: number; tokensSeen: number }
export interface EvalPoint { step: number; mean: number; domains: Record<string, number> }

export interface RunMetrics {
  steps: StepPoint[];
  evals: EvalPoint[];
  /** Checkpoint steps, in order. */
  checkpoints: number[];
  /** Steps at which a `resume` record says the run continued. */
  resumes: number[];
  totalSteps: number | null;
  tokensPerStep: number | null;
  /** Outcome of the last `end` record after the last start/resume (null while running). */
  end: string | null;
  file: string | null;
}

const empty = (): RunMetrics => ({ steps: [], evals: [], checkpoints: [], resumes: [], totalSteps: null, tokensPerStep: null, end: null, file: null });

/** Folds records into the metrics, keeping the last record per step (a resumed run may repeat steps). */
export function applyRecords(m: RunMetrics, records: Record<string, unknown>[]): void {
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  for (const r of records) {
    const step = num(r.step);
    switch (r.type) {
      case 'start':
      case 'resume': {
        m.totalSteps = num(r.totalSteps);
        const h = r.hyper as { batch?: number; seqLen?: number; accumulate?: number } | undefined;
        if (h?.batch && h.seqLen) m.tokensPerStep = h.batch * h.seqLen * (h.accumulate ?? 1);
        if (r.type === 'resume') m.resumes.push(step);
        // Steps beyond the resumed checkpoint were redone: drop their old records.
        m.steps = m.steps.filter((s) => s.step <= step);
        m.evals = m.evals.filter((e) => e.step <= step);
        m.end = null;
        break;
      }
      case 'step': {
        const p: StepPoint = { step, loss: num(r.loss), ce: num(r.ce), tokensPerSec: num(r.tokensPerSec), etaMs: num(r.etaMs), tokensSeen: num(r.tokensSeen) };
        const last = m.steps[m.steps.length - 1];
        if (last && last.step >= step) m.steps = m.steps.filter((s) => s.step < step);
        m.steps.push(p);
        break;
      }
      case 'eval': {
        const doms = (r.domains ?? {}) as Record<string, { loss: number }>;
        const e: EvalPoint = { step, mean: num((r.mean as { loss?: number } | undefined)?.loss), domains: Object.fromEntries(Object.entries(doms).map(([d, v]) => [d, v.loss])) };
        m.evals = m.evals.filter((x) => x.step !== step);
        m.evals.push(e);
        break;
      }
      case 'checkpoint':
        if (!m.checkpoints.includes(step)) m.checkpoints.push(step);
        break;
      case 'end':
        m.end = typeof r.outcome === 'string' ? r.outcome : 'ended';
        break;
      default:
        break;
    }
  }
}

/** Live metrics of a job: read from 0, then polled every `intervalMs` while `live()` is true. */
export function useRunMetrics(jobId: Ref<string | null>, live: () => boolean, intervalMs = 1500) {
  const metrics = ref<RunMetrics>(empty());
  const error = ref<string | null>(null);
  let since = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let generation = 0;

  async function poll(gen: number) {
    const id = jobId.value;
    if (!id) return;
    try {
      for (let i = 0; i < 20; i++) {
        const page = await api.request('jobs.metrics', { id, since });
        if (gen !== generation) return;
        if (page.reset) metrics.value = empty();
        metrics.value.file = page.file;
        applyRecords(metrics.value, page.records);
        since = page.next;
        if (!page.more) break;
      }
      error.value = null;
    } catch (e) {
      if (gen === generation) error.value = (e as { message?: string }).message ?? String(e);
    }
  }

  function schedule(gen: number) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(async () => {
      await poll(gen);
      if (gen === generation && live()) schedule(gen);
    }, intervalMs);
  }

  /** Reads from the start again (a new job of the run, or the view re-opened). */
  async function reload() {
    const gen = ++generation;
    since = 0;
    metrics.value = empty();
    await poll(gen);
    if (live()) schedule(gen);
  }

  /** One read now (e.g. when the job ends), and keep polling if it is live. */
  async function refresh() {
    const gen = generation;
    await poll(gen);
    if (live()) schedule(gen);
  }

  watch(jobId, () => { void reload(); }, { immediate: true });
  onBeforeUnmount(() => { generation++; if (timer) clearTimeout(timer); });
  return { metrics, error, reload, refresh };
}

/** Exponential moving average of a series (for a readable loss curve over noisy steps). */
export function ema(points: [number, number][], alpha = 0.1): [number, number][] {
  let v = NaN;
  return points.map(([x, y]) => {
    v = Number.isNaN(v) ? y : (1 - alpha) * v + alpha * y;
    return [x, v];
  });
}
