import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { DomainMaskingRow, DomainMaskingSummary, ExperimentJobParams, JobInfo, Params, Result } from '../../../common/api';
import { api } from '../api/client';
import { useJobs } from './jobs';

export type EditStack = Result<'resection.edits'>;
export type Selection = Result<'resection.select'>;
export type SelectionRule = Params<'resection.select'>['rule'];
export type RoutingSimilarity = Result<'resection.similarity'>;

export interface DomainRow { domain: string; tokens: number; pplBefore: number; pplAfter: number; relIncrease: number }
interface ToxicityFigures { expectedMaxToxicity: number; toxicityProbability: number; prompts: number }
export interface EvaluationResult {
  perplexity: {
    rows: DomainRow[];
    overall: { tokens: number; pplBefore: number; pplAfter: number; relIncrease: number };
    target: string | null;
    targetRelIncrease: number | null;
    othersMeanRelIncrease: number | null;
  } | null;
  generations: { prompt: string; before: string; after: string }[];
  toxicity: {
    scorer: string;
    before: { expectedMaxToxicity: number; toxicityProbability: number };
    after: { expectedMaxToxicity: number; toxicityProbability: number };
    helpfulness: { pplBefore: number; pplAfter: number; relIncrease: number } | null;
    /** Toxic (prompt score ≥ 0.5) and non-toxic prompts apart (absent in results from before issue 20). */
    split?: Record<'toxic' | 'nonToxic', { before: ToxicityFigures; after: ToxicityFigures } | null>;
  } | null;
  chart: string | null;
}

export interface ExperimentResult {
  domains: Record<string, DomainMaskingRow>;
  /** Experts per domain and routing group (Tables 9–10). */
  counts: { domains: string[]; table: number[][]; totals: number[] };
  summary: DomainMaskingSummary;
  bar: { ratio: number; minTarget: number };
  ratio: number;
  scope: 'group' | 'layer';
  atlas: string;
  evaluated: number;
}

/**
 * Resection: the chosen model's edit stack (kept live by `resection.changed`), the current selection preview, and
 * the evaluation / export jobs of the active stack.
 */
export const useResection = defineStore('resection', () => {
  const model = ref<string | null>(null);
  const stack = ref<EditStack | null>(null);
  const selection = ref<Selection | null>(null);
  const evaluateJobId = ref<string | null>(null);
  const exportJobId = ref<string | null>(null);
  const experimentJobId = ref<string | null>(null);
  const jobs = useJobs();

  async function open(path: string) {
    if (model.value !== path) evaluateJobId.value = null;
    model.value = path;
    stack.value = await api.request('resection.edits', { model: path });
  }

  async function refresh() {
    if (model.value) stack.value = await api.request('resection.edits', { model: model.value });
  }

  /** Routing similarity per atlas id, requested once however many panels ask (the hint and the table share it). */
  const similarityByAtlas = ref<Record<string, RoutingSimilarity>>({});
  const similarityRequests = new Map<string, Promise<RoutingSimilarity>>();
  function similarity(atlas: string): Promise<RoutingSimilarity> {
    let p = similarityRequests.get(atlas);
    if (!p) {
      p = api.request('resection.similarity', { atlas }).then((r) => (similarityByAtlas.value[atlas] = r));
      p.catch(() => similarityRequests.delete(atlas)); // a failed request may be retried
      similarityRequests.set(atlas, p);
    }
    return p;
  }

  async function preview(atlas: string, rule: SelectionRule) {
    selection.value = await api.request('resection.select', { atlas, rule, limit: 500 });
    return selection.value;
  }

  async function apply(name: string, atlas: string, rule: SelectionRule) {
    stack.value = await api.request('resection.apply', { model: model.value!, name, atlas, rule });
  }
  async function toggle(id: number, enabled: boolean) { stack.value = await api.request('resection.toggle', { id, enabled }); }
  async function remove(id: number) { stack.value = await api.request('resection.delete', { id }); }
  async function undo() { stack.value = await api.request('resection.undo', { model: model.value! }); }
  async function redo() { stack.value = await api.request('resection.redo', { model: model.value! }); }

  async function evaluate(p: Omit<Params<'resection.evaluate'>, 'model'>) {
    const r = await api.request('resection.evaluate', { ...p, model: model.value! });
    evaluateJobId.value = r.jobId;
    await jobs.refresh();
    return r;
  }

  async function exportModel(out: string, baked: boolean, onnx = false) {
    const r = await api.request('resection.export', { model: model.value!, out, baked, onnx });
    exportJobId.value = r.jobId;
    await jobs.refresh();
    return r;
  }

  /** The paper's experiment on the chosen model: every domain removed in turn, each in its own masked pass. */
  async function runExperiment(p: Omit<ExperimentJobParams, 'model'>) {
    const job = await jobs.start('resection.experiment', { ...p, model: model.value! });
    experimentJobId.value = job.id;
    return job;
  }

  /** Ids of the enabled edits, in stack order: what an evaluation started now measures. */
  const activeEditIds = computed(() => stack.value?.edits.filter((e) => e.enabled).map((e) => e.id) ?? []);
  /** Whether an evaluation job measured exactly the edits active now (its params record them). */
  function measuresCurrentEdits(job: JobInfo): boolean {
    const ids = (job.params as { edits?: number[] }).edits ?? [];
    return ids.length === activeEditIds.value.length && ids.every((id, k) => id === activeEditIds.value[k]);
  }
  /** Every evaluation of the chosen model, newest first. Jobs persist in the workspace, so they survive a reload. */
  const evaluations = computed(() =>
    Object.values(jobs.byId)
      .filter((j) => j.kind === 'resection.evaluate' && j.params.model === model.value)
      .sort((a, b) => b.createdAt - a.createdAt),
  );
  /** The evaluation shown: the one started or reopened here, else the latest that measured the current edits. */
  const evaluateJob = computed(() => {
    const chosen = evaluateJobId.value ? jobs.byId[evaluateJobId.value] : undefined;
    if (chosen && chosen.params.model === model.value) return chosen;
    return evaluations.value.find((j) => j.state !== 'failed' && j.state !== 'cancelled' && measuresCurrentEdits(j)) ?? null;
  });
  /** The domain of the newest enabled edit chosen by the domain rule (its recipe keeps the rule): the pickers start there. */
  const editedDomain = computed(() => {
    const edits = [...(stack.value?.edits ?? [])].filter((e) => e.enabled).sort((a, b) => b.position - a.position);
    for (const e of edits) {
      const rule = (e.recipe as { rule?: { kind?: string; domain?: string | null } }).rule;
      if (rule?.kind === 'domain' && rule.domain) return rule.domain;
    }
    return null;
  });
  function openEvaluation(jobId: string | null) {
    evaluateJobId.value = jobId;
  }
  const evaluation = computed(() => (evaluateJob.value?.state === 'succeeded' ? (evaluateJob.value.result as EvaluationResult) : null));
  const exportJob = computed(() => (exportJobId.value ? jobs.byId[exportJobId.value] ?? null : null));
  /** The experiment started here, else the chosen model's latest one (it does not depend on the edit stack, so a
   *  run from before a reload, or from another window, still describes the model). */
  const experimentJob = computed(() => {
    if (experimentJobId.value) return jobs.byId[experimentJobId.value] ?? null;
    let latest: JobInfo | null = null;
    for (const j of Object.values(jobs.byId)) {
      if (j.kind === 'resection.experiment' && j.params.model === model.value && (!latest || j.createdAt > latest.createdAt)) latest = j;
    }
    return latest;
  });
  const experiment = computed(() => (experimentJob.value?.state === 'succeeded' ? (experimentJob.value.result as ExperimentResult) : null));

  api.on('resection.changed', ({ model: m }) => {
    if (m === stack.value?.model) refresh().catch(() => {});
  });

  return { model, stack, selection, evaluateJobId, evaluateJob, evaluation, evaluations, activeEditIds, measuresCurrentEdits, openEvaluation, editedDomain, exportJob, open, refresh, preview, apply, toggle, remove, undo, redo, evaluate, exportModel, experimentJob, experiment, runExperiment, similarityByAtlas, similarity };
});
