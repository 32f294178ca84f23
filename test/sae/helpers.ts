/** Shared by the SAE tests: an SAE that reconstructs exactly (so spliced-loss and FVE results have a known answer). */
import type { Sae, SaeHook, SaeNormalization } from '../../workers/sae/types';

/** Latents ±e_j with ReLU: x = relu(x) − relu(−x), for any normalization (it is undone on decode). */
export function exactSae(d: number, hook: SaeHook, normalization: SaeNormalization = { kind: 'none', scale: 1 }): Sae {
  const W_enc = new Float32Array(d * 2 * d);
  const W_dec = new Float32Array(2 * d * d);
  for (let j = 0; j < d; j++) {
    W_enc[j * 2 * d + j] = 1;
    W_enc[j * 2 * d + d + j] = -1;
    W_dec[j * d + j] = 1;
    W_dec[(d + j) * d + j] = -1;
  }
  return {
    config: { method: 'relu-l1', activation: { kind: 'relu' }, dIn: d, dSae: 2 * d, hook, normalization, excludeBos: true, hyper: {} },
    weights: { W_enc, W_dec, b_enc: new Float32Array(2 * d), b_dec: new Float32Array(d) },
  };
}
