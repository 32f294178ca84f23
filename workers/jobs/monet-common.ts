/** What the Monet jobs share: loading a model with the user's device/threads settings and progress in layers. */
import type { JobContext } from './types';
import { opensUnedited } from '../models/monet/recipe';

export async function loadMonetForJob(dir: string, ctx: JobContext) {
  const { MonetModel } = await import('../models/monet/model');
  const { assertModelFits } = await import('../models/monet/memory');
  // Refuse a model that will not fit with the reason and the options, before any weight is read (not an OOM crash).
  await assertModelFits(dir);
  const device = ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device;
  ctx.log(`Loading ${dir} on ${device}`);
  // An exported folder opens with its edit unless the user chose "open without the edit" in the Models view.
  const unedited = opensUnedited(ctx.workspace, dir);
  const model = await MonetModel.load(dir, {
    recipe: !unedited,
    provider: device,
    ...(ctx.settings.threads > 0 ? { intraOpThreads: ctx.settings.threads } : {}),
    log: (m) => ctx.log(m),
    onProgress: (done, total, what) => ctx.progress(done, total, 'parts', `loading ${what}`),
    signal: ctx.signal,
  });
  ctx.log(`Loaded: ${model.config.num_hidden_layers} layers on ${model.provider}`);
  if (model.recipe) ctx.log(`Edited: ${model.recipe.removed} experts removed (the folder's resect_recipe.json); open it without the edit from Models to compare`);
  else if (unedited) ctx.log('Opened without the edit the folder carries (as chosen in Models)');
  return model;
}

/** The mask param shared by the jobs: the JSON mask form of workers/models/monet/mask.ts. */
export async function maskFromParam(config: import('../models/monet/config').MonetConfig, mask: unknown) {
  if (mask === undefined || mask === null) return undefined;
  const { parseMaskJson } = await import('../models/monet/mask');
  return parseMaskJson(config, mask, 'mask');
}

export async function tokenizerFor(dir: string, config: import('../models/monet/config').MonetConfig) {
  const { tokenizerForModel } = await import('../models/monet/session');
  return tokenizerForModel(dir, config);
}
