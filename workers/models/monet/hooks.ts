/**
 * Hook points of a Monet model, named as users of TransformerLens / SAE Lens expect, per block l (0-based):
 * `blocks.{l}.hook_resid_post` (the residual stream after block l), `blocks.{l}.hook_attn_out` (the attention output
 * that block l adds to the stream) and `blocks.{l}.hook_mlp_out` (the expert mixture's output, Monet's MLP).
 */
export type HookKind = 'resid_post' | 'attn_out' | 'mlp_out';

export const HOOK_KINDS: readonly HookKind[] = ['resid_post', 'attn_out', 'mlp_out'];

export interface HookPoint {
  layer: number;
  kind: HookKind;
}

export function hookName(p: HookPoint): string {
  return `blocks.${p.layer}.hook_${p.kind}`;
}

/** Parses `blocks.{l}.hook_{kind}`; with `layers`, also checks that block l exists. Errors say what is accepted. */
export function parseHookName(name: string, layers?: number): HookPoint {
  const m = /^blocks\.(\d+)\.hook_(resid_post|attn_out|mlp_out)$/.exec(name.trim());
  if (!m) throw new RangeError(`unknown hook "${name}": expected blocks.L.hook_resid_post, blocks.L.hook_attn_out or blocks.L.hook_mlp_out`);
  const layer = Number(m[1]);
  if (layers !== undefined && layer >= layers) throw new RangeError(`hook "${name}": the model has ${layers} blocks (0…${layers - 1})`);
  return { layer, kind: m[2] as HookKind };
}

/** Every hook point of a model with `layers` blocks, block by block. */
export function allHooks(layers: number): HookPoint[] {
  const out: HookPoint[] = [];
  for (let layer = 0; layer < layers; layer++) for (const kind of HOOK_KINDS) out.push({ layer, kind });
  return out;
}
