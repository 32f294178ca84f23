import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { JobInfo, ModelDetails, ModelInfo } from '../../../common/api';
import { api } from '../api/client';
import { useJobs } from './jobs';

/** One composite expert of a token at one router: flat id i·E + j, score Σ_h g1·g2 (head-summed, may exceed 1). */
export interface RoutedExpert {
  id: number;
  i: number;
  j: number;
  score: number;
}

/** `monet.route`'s result. */
export interface RouteResult {
  /** The layer of each router (r = 0, 1, …). */
  routers: number[];
  tokens: { id: number; text: string; routers: RoutedExpert[][]; capped?: boolean }[];
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  stop: string;
}

export interface GenerateSettings {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** The mask read by `models.loadMask` (JSON form), or null. */
  mask: Record<string, unknown> | null;
}

/** A prompt run from the Models view: generation (streamed), then per-token routing of prompt + output. */
export interface PromptRun {
  modelId: string;
  modelPath: string;
  settings: GenerateSettings;
  /** null for "route only". */
  generateJobId: string | null;
  routeJobId: string | null;
  /** Text streamed so far (`job.output`), replaced by the result's text when the job ends. */
  text: string;
  result: GenerateResult | null;
  routes: RouteResult | null;
  error: string | null;
}

const ROUTE_TOP = 8;

/**
 * Models of the workspace (the default model first) and the prompt run of the Models view. Generation and routing
 * are jobs (`monet.generate`, `monet.route`); generated text arrives as `job.output` events.
 */
export const useModels = defineStore('models', () => {
  const jobs = useJobs();
  const list = ref<ModelInfo[]>([]);
  const loaded = ref(false);
  const details = ref<Record<string, ModelDetails>>({});
  const run = ref<PromptRun | null>(null);

  const byId = computed(() => Object.fromEntries(list.value.map((m) => [m.id, m])) as Record<string, ModelInfo>);

  async function refresh() {
    list.value = await api.request('models.list', {});
    loaded.value = true;
  }

  async function add(path: string): Promise<ModelInfo> {
    const info = await api.request('models.add', { path });
    await refresh();
    return info;
  }

  async function remove(id: string) {
    await api.request('models.remove', { id });
    delete details.value[id];
    await refresh();
  }

  async function load(id: string, force = false): Promise<ModelDetails> {
    const have = details.value[id];
    if (have && !force) return have;
    const d = await api.request('models.get', { id });
    details.value[id] = d;
    return d;
  }

  /** Opens an exported folder with or without the edit it carries, in every view and job from now on. */
  async function setEditApplied(id: string, applied: boolean): Promise<ModelInfo> {
    const info = await api.request('models.setEditApplied', { id, applied });
    delete details.value[id];
    await refresh();
    return info;
  }

  async function loadMask(id: string, path: string) {
    return api.request('models.loadMask', { id, path });
  }

  const generateJob = computed<JobInfo | undefined>(() => (run.value?.generateJobId ? jobs.byId[run.value.generateJobId] : undefined));
  const routeJob = computed<JobInfo | undefined>(() => (run.value?.routeJobId ? jobs.byId[run.value.routeJobId] : undefined));
  const busy = computed(() => [generateJob.value, routeJob.value].some((j) => j && (j.state === 'queued' || j.state === 'running')));

  function jobParams(s: GenerateSettings, model: string) {
    return { model, ...(s.mask ? { mask: s.mask } : {}) };
  }

  /** Starts generation; tokens stream into `run.text`; routing of prompt + output follows when it succeeds. */
  async function generate(model: ModelInfo, settings: GenerateSettings) {
    const job = await jobs.start('monet.generate', {
      ...jobParams(settings, model.path),
      prompt: settings.prompt,
      maxTokens: settings.maxTokens,
      temperature: settings.temperature,
      topP: settings.topP,
      seed: settings.seed,
    });
    run.value = { modelId: model.id, modelPath: model.path, settings, generateJobId: job.id, routeJobId: null, text: '', result: null, routes: null, error: null };
  }

  /** Routes the prompt alone (no generation). */
  async function routeOnly(model: ModelInfo, settings: GenerateSettings) {
    run.value = { modelId: model.id, modelPath: model.path, settings, generateJobId: null, routeJobId: null, text: '', result: null, routes: null, error: null };
    await startRoute(settings.prompt);
  }

  async function startRoute(text: string) {
    const r = run.value;
    if (!r || !text) return;
    const job = await jobs.start('monet.route', { ...jobParams(r.settings, r.modelPath), prompt: text, top: ROUTE_TOP });
    if (run.value === r) r.routeJobId = job.id;
  }

  async function stop() {
    for (const j of [generateJob.value, routeJob.value]) if (j && (j.state === 'queued' || j.state === 'running')) await jobs.cancel(j.id);
  }

  function clearRun() {
    run.value = null;
  }

  api.on('models.changed', () => void refresh().catch(() => undefined));
  // Another workspace has another list; a run of the old one is no longer watched.
  api.on('workspace.changed', () => {
    run.value = null;
    details.value = {};
    if (loaded.value) void refresh().catch(() => undefined);
  });
  api.on('job.output', ({ id, text }) => {
    if (run.value && run.value.generateJobId === id) run.value.text += text;
  });
  api.on('job.update', (job) => {
    const r = run.value;
    if (!r) return;
    if (job.id === r.generateJobId && (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled')) {
      if (job.state === 'succeeded') {
        r.result = job.result as GenerateResult;
        r.text = r.result.text;
        startRoute(r.settings.prompt + r.text).catch((e: unknown) => (r.error = e instanceof Error ? e.message : String(e)));
      } else {
        r.error = job.error ?? (job.state === 'cancelled' ? 'Cancelled' : 'Generation failed');
      }
    }
    if (job.id === r.routeJobId && (job.state === 'succeeded' || job.state === 'failed')) {
      if (job.state === 'succeeded') r.routes = job.result as RouteResult;
      else r.error = `Routing failed: ${job.error ?? ''}`;
    }
  });
  api.onConnected(() => {
    if (loaded.value) void refresh().catch(() => undefined);
  });

  return { list, loaded, byId, details, run, generateJob, routeJob, busy, refresh, add, remove, load, loadMask, setEditApplied, generate, routeOnly, stop, clearRun };
});
