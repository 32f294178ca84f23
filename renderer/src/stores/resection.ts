import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { Params, Result } from '../../../common/api';
import { api } from '../api/client';
import { useJobs } from './jobs';

export type EditStack = Result<'resection.edits'>;
export type Selection = Result<'resection.select'>;
export type SelectionRule = Params<'resection.select'>['rule'];

export interface DomainRow { domain: string; tokens: number; pplBefore: number; pplAfter: number; relIncrease: number }
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
  } | null;
  chart: string | null;
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
  const jobs = useJobs();

  async function open(path: string) {
    model.value = path;
    stack.value = await api.request('resection.edits', { model: path });
  }

  async function refresh() {
    if (model.value) stack.value = await api.request('resection.edits', { model: model.value });
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

  const evaluateJob = computed(() => (evaluateJobId.value ? jobs.byId[evaluateJobId.value] ?? null : null));
  const evaluation = computed(() => (evaluateJob.value?.state === 'succeeded' ? (evaluateJob.value.result as EvaluationResult) : null));
  const exportJob = computed(() => (exportJobId.value ? jobs.byId[exportJobId.value] ?? null : null));

  api.on('resection.changed', ({ model: m }) => {
    if (m === stack.value?.model) refresh().catch(() => {});
  });

  return { model, stack, selection, evaluateJobId, evaluateJob, evaluation, exportJob, open, refresh, preview, apply, toggle, remove, undo, redo, evaluate, exportModel };
});
