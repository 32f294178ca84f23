import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { JobInfo, Params, Result } from '../../../common/api';
import { api } from '../api/client';
import { useJobs } from './jobs';

export type AtlasInfo = Result<'atlas.list'>[number];
export type ExpertSummary = Result<'atlas.experts'>['experts'][number];
export type ExpertPage = Result<'atlas.expert'>;
export type Collection = Result<'atlas.collections'>[number];

/** The E×E map of a group, decoded from the backend's base64 arrays. */
export interface AtlasMap {
  atlas: string;
  group: number;
  E: number;
  counts: Float32Array;
  /** Dominant domain index + 1 (0 = none). */
  dominant: Uint8Array;
  skew: Float32Array;
  domains: string[];
  maxCount: number;
  tokens: number;
}

export interface ExampleRoute {
  text: string;
  jobId: string;
  tokens: { id: number; text: string; routers: { id: number; i: number; j: number; score: number }[][] }[] | null;
  error: string | null;
}

/** The id under which the default model's shipped atlas is installed in every workspace (main/atlas/shipped.ts). */
export const DEFAULT_ATLAS_ID = 'default';

function decode(b64: string): ArrayBuffer {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) out[k] = bin.charCodeAt(k);
  return out.buffer;
}

/**
 * The Experts view's state: atlases of the workspace, the open atlas and group, its map, the open expert page,
 * collections, the example sentence being routed, and the atlas build job started from here.
 */
export const useAtlas = defineStore('atlas', () => {
  const jobs = useJobs();
  const list = ref<AtlasInfo[]>([]);
  const loaded = ref(false);
  const atlasId = ref<string | null>(null);
  const group = ref(0);
  const map = ref<AtlasMap | null>(null);
  const mapMs = ref<number | null>(null);
  const page = ref<ExpertPage | null>(null);
  const pageMs = ref<number | null>(null);
  const collections = ref<Collection[]>([]);
  const example = ref<ExampleRoute | null>(null);
  const buildJobId = ref<string | null>(null);

  const current = computed(() => list.value.find((a) => a.id === atlasId.value) ?? null);
  const buildJob = computed<JobInfo | undefined>(() => (buildJobId.value ? jobs.byId[buildJobId.value] : undefined));

  /** The atlas to open when none is chosen: the shipped default model's (id `default`), else the newest. */
  const preferred = computed(() => list.value.find((a) => a.id === DEFAULT_ATLAS_ID) ?? list.value[0] ?? null);

  /** Reloads the list; opens the preferred atlas when none is open (unless the caller opens one itself: a deep link). */
  async function refresh(o: { autoSelect?: boolean } = {}) {
    list.value = await api.request('atlas.list', {});
    loaded.value = true;
    if (atlasId.value && !list.value.some((a) => a.id === atlasId.value)) atlasId.value = null;
    if (!atlasId.value && preferred.value && o.autoSelect !== false) await select(preferred.value.id);
  }

  async function select(id: string, g = 0) {
    atlasId.value = id;
    group.value = g;
    page.value = null;
    await loadMap();
  }

  async function setGroup(g: number) {
    group.value = g;
    page.value = null;
    await loadMap();
  }

  async function loadMap() {
    const id = atlasId.value;
    if (!id) return;
    const t0 = performance.now();
    const r = await api.request('atlas.map', { atlas: id, group: group.value }, { timeoutMs: 120_000 });
    map.value = {
      atlas: id, group: group.value, E: r.E,
      counts: new Float32Array(decode(r.counts)), dominant: new Uint8Array(decode(r.dominant)), skew: new Float32Array(decode(r.skew)),
      domains: r.domains, maxCount: r.maxCount, tokens: r.tokens,
    };
    mapMs.value = performance.now() - t0;
  }

  async function experts(q: Omit<Params<'atlas.experts'>, 'atlas' | 'group'>) {
    if (!atlasId.value) return { total: 0, experts: [] };
    return api.request('atlas.experts', { atlas: atlasId.value, group: group.value, ...q });
  }

  async function openExpert(id: number, g = group.value) {
    if (!atlasId.value) return;
    if (g !== group.value) await setGroup(g);
    const t0 = performance.now();
    page.value = await api.request('atlas.expert', { atlas: atlasId.value, group: g, expert: id });
    pageMs.value = performance.now() - t0;
  }

  function closeExpert() {
    page.value = null;
  }

  async function search(kind: 'text' | 'token', q: string) {
    if (!atlasId.value || !q) return [];
    return api.request('atlas.search', { atlas: atlasId.value, ...(kind === 'text' ? { text: q } : { token: q }) });
  }

  async function build(params: Record<string, unknown>) {
    const r = await api.request('atlas.build', params as never);
    buildJobId.value = r.jobId;
    await jobs.refresh();
    return r;
  }

  async function remove(id: string) {
    await api.request('atlas.delete', { atlas: id });
    if (atlasId.value === id) {
      atlasId.value = null;
      map.value = null;
      page.value = null;
    }
    await refresh();
  }

  async function routeExample(text: string) {
    const a = current.value;
    if (!a || !text.trim()) return;
    const job = await jobs.start('monet.route', { model: a.model.dir, prompt: text, top: 8 });
    example.value = { text, jobId: job.id, tokens: null, error: null };
  }

  async function loadCollections() {
    collections.value = await api.request('atlas.collections', {});
  }

  async function saveCollection(name: string, notes = '', id?: number) {
    const c = await api.request('atlas.saveCollection', { name, notes, ...(id ? { id } : {}) });
    await loadCollections();
    return c;
  }

  async function deleteCollection(id: number) {
    await api.request('atlas.deleteCollection', { id });
    await loadCollections();
  }

  async function pin(collection: number, expert: { atlas: string; group: number; expert: number }, label = '', notes = '') {
    await api.request('atlas.pin', { collection, ...expert, label, notes });
    await loadCollections();
  }

  async function unpin(collection: number, expert: { atlas: string; group: number; expert: number }) {
    await api.request('atlas.unpin', { collection, ...expert });
    await loadCollections();
  }

  api.on('job.update', (job) => {
    if (job.kind === 'atlas.build' && job.state === 'succeeded') {
      const id = (job.result as { id?: string } | undefined)?.id;
      void refresh()
        .then(() => (id && job.id === buildJobId.value ? select(id) : undefined))
        .catch(() => undefined);
    }
    const ex = example.value;
    if (ex && job.id === ex.jobId) {
      if (job.state === 'succeeded') ex.tokens = (job.result as { tokens: ExampleRoute['tokens'] }).tokens;
      else if (job.state === 'failed' || job.state === 'cancelled') ex.error = job.error ?? 'Routing failed';
    }
  });
  api.on('workspace.changed', () => {
    atlasId.value = null;
    map.value = null;
    page.value = null;
    example.value = null;
    if (loaded.value) void refresh().catch(() => undefined);
  });
  api.onConnected(() => {
    if (loaded.value) void refresh().catch(() => undefined);
  });

  return {
    list, loaded, atlasId, group, map, mapMs, page, pageMs, collections, example, buildJobId, current, buildJob, preferred,
    refresh, select, setGroup, loadMap, experts, openExpert, closeExpert, search, build, remove, routeExample,
    loadCollections, saveCollection, deleteCollection, pin, unpin,
  };
});
