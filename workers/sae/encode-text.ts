/**
 * Encoding text with an SAE on its model: each text is tokenized (BOS as the tokenizer adds it), run through the model
 * up to the SAE's hook in windows of `context` tokens, and each token's activation is encoded (the SAE's own
 * normalization applied). Returns per token its strongest latents; `codes` optionally keeps the dense codes.
 */
import { hookName, type HookKind } from '../models/monet/hooks';
import type { MonetModel } from '../models/monet/model';
import type { TextTokenizer } from '../tokenizer';
import { tokenLabel } from '../tokenizer/display';
import { topCodes, type SaeRunner } from './encode';

export interface EncodedToken {
  /** Position in the text's token sequence (0 = BOS when there is one). */
  pos: number;
  id: number;
  token: string;
  /** Strongest latents, largest first (value > 0); empty for the BOS position when the SAE left BOS out. */
  latents: { latent: number; value: number }[];
  /** Active latents at this token. */
  l0: number;
}

export interface EncodeTextOptions {
  /** Latents per token (default 10). */
  top?: number;
  context?: number;
  /** Keep the dense codes [tokens, dSae] of each text. */
  keepCodes?: boolean;
  signal?: AbortSignal;
}

export async function encodeText(
  runner: SaeRunner,
  model: MonetModel,
  tokenizer: TextTokenizer,
  texts: readonly string[],
  o: EncodeTextOptions = {},
): Promise<{ tokens: EncodedToken[]; codes?: Float32Array }[]> {
  const sae = runner.sae;
  const h = sae.config.hook;
  if (h.kind === 'external') throw new Error(`the SAE's hook "${h.name}" is not a hook point of a Monet model; encode activations instead`);
  if (model.config.hidden_size !== sae.config.dIn) throw new Error(`the model's width ${model.config.hidden_size} is not the SAE's d_in ${sae.config.dIn}`);
  const point = { layer: h.layer, kind: h.kind as HookKind };
  const context = Math.min(o.context ?? model.config.max_position_embeddings, model.config.max_position_embeddings);
  const M = sae.config.dSae;
  const out: { tokens: EncodedToken[]; codes?: Float32Array }[] = [];
  for (const text of texts) {
    o.signal?.throwIfAborted();
    const ids = tokenizer.encode(text);
    const bos = tokenizer.addBos && tokenizer.bosId !== null && ids[0] === tokenizer.bosId;
    const tokens: EncodedToken[] = [];
    const codes = o.keepCodes ? new Float32Array(ids.length * M) : undefined;
    for (let s = 0; s < ids.length; s += context) {
      const w = ids.slice(s, s + context);
      const r = await model.forward({ ids: w, batch: 1, time: w.length, hooks: [point], logits: 'none', lastLayer: point.layer });
      const x = r.hooks!.get(hookName(point))!;
      const enc = await runner.run(x, ['codes', 'l0']);
      const top = topCodes(enc.codes, M, o.top ?? 10);
      codes?.set(enc.codes, s * M);
      w.forEach((id, t) => {
        const skip = s + t === 0 && bos && sae.config.excludeBos;
        tokens.push({ pos: s + t, id, token: tokenLabel(tokenizer, id), latents: skip ? [] : top[t]!, l0: skip ? 0 : enc.l0[t]! });
      });
    }
    out.push({ tokens, ...(codes ? { codes } : {}) });
  }
  return out;
}
