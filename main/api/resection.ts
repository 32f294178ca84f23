/**
 * Resection: expert selection from an atlas, the per-model edit stack (main/resection/store.ts), hand removal and
 * restore of single experts, and the evaluation / export jobs of the active stack.
 *
 * `model` is a checkpoint folder (as `models.list` gives it); the stack is keyed by its resolved path. `atlas` is an
 * atlas id (folder under `<workspace>/atlases/`) or a folder path.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApiError, type Result } from '../../common/api';
import { loadMonetConfig } from '../../workers/models/monet/config';
import type { MonetConfig } from '../../workers/models/monet/config';
import { EditNotFoundError, EditStore } from '../resection/store';
import type { Backend } from '../backend';
import { resolveUnder, resolveUserPath } from '../workspace/paths';
import { isFolderId } from '../../common/ids';
import type { Handlers } from './router';
import type { RoutingStats } from '../../workers/analysis/resection/routing';
import type { MaskJson, Selection, SelectionRule } from '../../workers/analysis/resection/select';

const stores = new WeakMap<object, EditStore>();

function store(b: Backend): EditStore {
  const ws = b.requireWorkspace();
  let s = stores.get(ws);
  if (!s) stores.set(ws, (s = new EditStore(ws.db, path.join(ws.dir, 'edits'))));
  return s;
}

function modelDir(model: string): string {
  const dir = resolveUserPath(model);
  if (!existsSync(path.join(dir, 'config.json'))) throw new ApiError('not_found', `${dir} is not a model folder (no config.json)`);
  return dir;
}

async function configOf(dir: string): Promise<MonetConfig> {
  try {
    return (await loadMonetConfig(path.join(dir, 'config.json'))).config;
  } catch (e) {
    throw new ApiError('invalid_params', (e as Error).message);
  }
}

function atlasDir(b: Backend, atlas: string): string {
  const ws = b.requireWorkspace();
  // An atlas id names a folder under atlases/; anything else is a folder path the user chose.
  const byId = isFolderId(atlas) ? resolveUnder(ws.artifactDir('atlases'), atlas, 'atlas id') : null;
  const dir = byId && existsSync(byId) ? byId : resolveUserPath(atlas);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ApiError('not_found', `no atlas "${atlas}"`);
  if (!existsSync(path.join(dir, 'meta.json')) && !existsSync(path.join(dir, 'routing.json'))) throw new ApiError('not_found', `${dir} is not a built atlas`);
  return dir;
}

/**
 * The routing statistics of the atlas last asked for, kept while its files are unchanged: a preview after each change
 * of the rule, the similarity table and the apply all read the same atlas, whose per-domain sums are E²-sized.
 */
let lastStats: { key: string; stats: Promise<RoutingStats> } | null = null;

async function routingStatsOf(b: Backend, atlas: string): Promise<RoutingStats> {
  const dir = atlasDir(b, atlas);
  // The file atlasRoutingStats reads first, written last (atomically) by a build: a rebuild changes its mtime.
  const file = ['routing.json', 'meta.json'].map((f) => path.join(dir, f)).find((f) => existsSync(f))!;
  const key = `${dir}\0${statSync(file).mtimeMs}`;
  if (lastStats?.key !== key) {
    const { atlasRoutingStats } = await import('../../workers/analysis/resection/atlas-adapter');
    const stats = atlasRoutingStats(dir);
    lastStats = { key, stats };
    stats.catch(() => { if (lastStats?.stats === stats) lastStats = null; });
  }
  return lastStats.stats;
}

async function runSelection(b: Backend, atlas: string, rule: SelectionRule): Promise<{ sel: Selection; scoreNames: string[]; domains: string[] }> {
  const { select } = await import('../../workers/analysis/resection/select');
  const stats = await routingStatsOf(b, atlas);
  try {
    return { sel: select(stats, rule), scoreNames: stats.scoreNames, domains: stats.domains };
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError('invalid_params', e.message);
    throw e;
  }
}

async function stack(b: Backend, dir: string): Promise<Result<'resection.edits'>> {
  const s = store(b);
  const config = await configOf(dir);
  const c = s.composed(dir, config);
  return {
    model: dir, edits: s.list(dir), ...s.history(dir), mask: c.mask, removed: c.removed,
    capacity: config.moe_experts * config.moe_experts * config.num_hidden_layers,
  };
}

async function changed(b: Backend, dir: string) {
  b.emit('resection.changed', { model: dir });
  return stack(b, dir);
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EditNotFoundError) throw new ApiError('not_found', e.message);
    if ((e as Error).name === 'MaskError') throw new ApiError('invalid_params', (e as Error).message);
    throw e;
  }
}

const finite = (x: number) => (Number.isFinite(x) ? x : null);

/** The recipe an edit keeps: rule, parameters, source and the expert count. */
function ruleRecipe(sel: Selection, atlas: string) {
  return { rule: sel.rule, atlas, source: sel.source, selected: sel.experts.length, scope: sel.scope, layer: sel.layer };
}

/** The latest succeeded evaluation of exactly this mask on this model, for export recipes (another stack's is not this edit's). */
function latestEvaluation(b: Backend, dir: string, mask: MaskJson): unknown {
  // Key order may differ between the stored params and the composed mask: compare with sorted keys.
  const canonical = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [c]) => a.localeCompare(c))) : x));
  const same = canonical(mask);
  const jobs = b.requireScheduler().list().filter((j) => j.kind === 'resection.evaluate' && j.state === 'succeeded' && j.params.model === dir && canonical(j.params.mask) === same);
  const last = jobs.sort((x, y) => (y.endedAt ?? 0) - (x.endedAt ?? 0))[0];
  if (!last?.result) return null;
  const r = last.result as Record<string, unknown>;
  return { job: last.id, perplexity: r.perplexity ?? null, toxicity: r.toxicity ?? null, generations: r.generations ?? [], mask: r.mask ?? null };
}

export const resectionHandlers = {
  'resection.select': async (p, b) => {
    const { sel, scoreNames, domains } = await runSelection(b, p.atlas, p.rule as SelectionRule);
    return {
      source: sel.source, scope: sel.scope, layer: sel.layer, expertsPerGroup: sel.expertsPerGroup, groups: sel.groups,
      ...(sel.counts ? { counts: sel.counts } : {}),
      massShare: sel.massShare,
      total: sel.experts.length,
      experts: sel.experts.slice(0, p.limit).map((e) => ({ ...e, value: finite(e.value) })),
      mask: sel.mask, scoreNames, domains,
    };
  },

  'resection.similarity': async (p, b) => {
    const { routingSimilarity } = await import('../../workers/analysis/resection/similarity');
    return routingSimilarity(await routingStatsOf(b, p.atlas));
  },

  'resection.edits': (p, b) => stack(b, modelDir(p.model)),

  'resection.apply': async (p, b) => {
    const dir = modelDir(p.model);
    const config = await configOf(dir);
    let mask: MaskJson;
    let recipe: Record<string, unknown> = { ...p.recipe };
    if (p.mask) mask = p.mask;
    else if (p.atlas && p.rule) {
      const { sel } = await runSelection(b, p.atlas, p.rule as SelectionRule);
      if (sel.experts.length === 0 || Object.keys(sel.mask).length === 0) throw new ApiError('invalid_params', 'the rule selects no experts (name a domain, or lower the ratio / τ)');
      mask = sel.mask;
      recipe = { ...ruleRecipe(sel, p.atlas), ...recipe };
    } else throw new ApiError('invalid_params', 'give a mask, or an atlas and a rule');
    guard(() => store(b).add(dir, { name: p.name, mask, recipe }, config));
    return changed(b, dir);
  },

  'resection.toggle': async (p, b) => {
    const e = guard(() => store(b).setEnabled(p.id, p.enabled));
    return changed(b, e.model);
  },

  'resection.delete': async (p, b) => {
    const s = store(b);
    const e = guard(() => s.get(p.id));
    s.delete(p.id);
    return changed(b, e.model);
  },

  'resection.undo': async (p, b) => {
    const dir = modelDir(p.model);
    store(b).undo(dir);
    return changed(b, dir);
  },

  'resection.redo': async (p, b) => {
    const dir = modelDir(p.model);
    store(b).redo(dir);
    return changed(b, dir);
  },

  'resection.expert': async (p, b) => {
    const dir = modelDir(p.model);
    const config = await configOf(dir);
    const mask: MaskJson = p.layer !== null && p.layer !== undefined
      ? { layers: { [String(p.layer)]: [p.expert] } }
      : { groups: { [String(p.group)]: [p.expert] } };
    if (p.layer !== null && p.layer !== undefined && Math.floor(p.layer / config.moe_groups) !== p.group) {
      throw new ApiError('invalid_params', `layer ${p.layer} does not use routing group ${p.group}`);
    }
    const where = p.layer !== null && p.layer !== undefined ? `L${p.layer}` : `G${p.group + 1}`;
    guard(() => store(b).add(dir, {
      name: `${p.action === 'remove' ? 'Remove' : 'Restore'} ${where}/#${p.expert}`, kind: p.action, mask,
      recipe: { rule: { kind: 'hand', action: p.action, group: p.group, expert: p.expert, layer: p.layer ?? null } },
    }, config));
    return changed(b, dir);
  },

  'resection.evaluate': async (p, b) => {
    const dir = modelDir(p.model);
    const s = await stack(b, dir);
    if (p.data?.kind === 'jsonl' && !existsSync(resolveUserPath(p.data.path))) throw new ApiError('not_found', `no file ${p.data.path}`);
    const data = p.data?.kind === 'jsonl' ? { ...p.data, path: resolveUserPath(p.data.path) } : p.data;
    const h = p.toxicity?.heldout;
    const toxicity = p.toxicity ? { ...p.toxicity, ...(h ? { heldout: h.kind === 'jsonl' ? { ...h, path: resolveUserPath(h.path) } : h } : {}) } : undefined;
    // The atlases the active edits were selected from (their recipes name them): the job checks them for overlap with
    // the evaluated text. One that is gone since cannot be checked and is left out.
    const named = [...p.atlases, ...s.edits.filter((e) => e.enabled).map((e) => e.recipe.atlas).filter((a): a is string => typeof a === 'string')];
    const atlases = [...new Set(named.flatMap((a) => { try { return [atlasDir(b, a)]; } catch { return []; } }))];
    const job = b.requireScheduler().start('resection.evaluate', {
      ...p, ...(data ? { data } : {}), ...(toxicity ? { toxicity } : {}), model: dir, mask: s.mask, edits: s.edits.filter((e) => e.enabled).map((e) => e.id), atlases,
    });
    return { jobId: job.id, removed: s.removed };
  },

  'resection.export': async (p, b) => {
    const dir = modelDir(p.model);
    const config = await configOf(dir);
    const s = await stack(b, dir);
    const { bakeable, withFolderEdit } = await import('../../workers/analysis/resection/export');
    const { opensUnedited } = await import('../../workers/models/monet/recipe');
    // What the export will write: the stack plus the edit the folder carries when it is an export opened edited.
    const { mask: exported } = await withFolderEdit(dir, s.mask, { inherit: !opensUnedited(b.requireWorkspace().dir, dir) });
    const bk = bakeable(config, exported);
    if (p.baked && !bk.ok) throw new ApiError('invalid_params', `A baked checkpoint is not possible: ${bk.reason}`);
    const out = resolveUserPath(p.out);
    const active = s.edits.filter((e) => e.enabled);
    const recipe = {
      model: dir,
      removed: s.removed,
      edits: active.map((e) => ({ id: e.id, name: e.name, kind: e.kind, experts: e.experts, recipe: e.recipe })),
      evaluation: latestEvaluation(b, dir, s.mask),
    };
    const job = b.requireScheduler().start('resection.export', { model: dir, mask: s.mask, out, baked: p.baked, copy: p.copy, onnx: p.onnx, recipe });
    return { jobId: job.id, bakeable: bk.ok, reason: bk.ok ? null : bk.reason };
  },
} satisfies Partial<Handlers>;
