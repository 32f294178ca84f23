// The SAE training options the app and API validate (workers/sae/train-options.ts, no engine imports) against the
// trainer's own schema (workers/sae/model.ts): the defaults a form shows are the trainer's, and every field the API
// accepts is one the trainer knows.
import { describe, expect, it } from 'vitest';
import { SAE_TRAIN_DEFAULTS, SaeTrainHyperSchema, SaeTrainJobParams } from '../../workers/sae/train-options';
import { SaeTrainConfigSchema, parseSaeTrainConfig } from '../../workers/sae/model';

describe('SAE training options', () => {
  it('shows the trainer defaults', () => {
    const trainer = parseSaeTrainConfig({ latents: 64 });
    for (const [k, v] of Object.entries(SAE_TRAIN_DEFAULTS)) expect([k, trainer[k as keyof typeof trainer]]).toEqual([k, v]);
  });

  it('accepts only fields the trainer knows, and passes them through unchanged', () => {
    const trainerKeys = new Set(Object.keys(SaeTrainConfigSchema.shape));
    for (const k of Object.keys(SaeTrainHyperSchema.shape)) expect(trainerKeys.has(k), k).toBe(true);
    const cfg = SaeTrainHyperSchema.parse({ method: 'topk', latents: 256, k: 16, steps: 10, batchSize: 64 });
    expect(parseSaeTrainConfig(cfg)).toMatchObject({ method: 'topk', latents: 256, k: 16, steps: 10, batchSize: 64 });
  });

  it('refuses ids that would leave the SAE folder and unknown hooks', () => {
    const base = { config: { latents: 8 }, source: { kind: 'cache', cache: 'abc' } };
    for (const id of ['..', '.hidden', 'a/b', '']) expect(SaeTrainJobParams.safeParse({ ...base, id }).success, id).toBe(false);
    expect(SaeTrainJobParams.safeParse({ ...base, id: 'ok-1' }).success).toBe(true);
    const model = (hook: string) => ({ ...base, id: 'x', source: { kind: 'model', model: '/m', hook, data: { kind: 'jsonl', path: '/t.jsonl' } } });
    expect(SaeTrainJobParams.safeParse(model('blocks.2.hook_resid_post')).success).toBe(true);
    expect(SaeTrainJobParams.safeParse(model('blocks.2.hook_mlp_in')).success).toBe(false);
  });
});
