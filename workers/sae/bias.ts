// The (group) bias-adaptation rule of spec gba.md §2.2–2.3 on streamed statistics (§5.2): per latent, the firing
// count and the peak pre-activation accumulated from the step graph's outputs since the last adaptation, never the
// pre-activations themselves.
import type { SaeTrainConfig } from './model';

export interface BiasRuleOptions {
  gammaMinus: number;
  gammaPlus: number;
  deadRate: number;
  biasMin: number;
  biasMax: number;
  /** 0: every group adapts on every call (the paper); else a group waits until its window holds minExpectedFirings/p_k tokens. */
  minExpectedFirings: number;
  /** 0: decrease when p̂ > p_k (the paper); else when count > N·p_k + σ·√(N·p_k). */
  decreaseMarginSigmas: number;
}

export const biasRuleOptions = (c: SaeTrainConfig): BiasRuleOptions => ({
  gammaMinus: c.gammaMinus, gammaPlus: c.gammaPlus, deadRate: c.deadRate, biasMin: c.biasMin, biasMax: c.biasMax,
  minExpectedFirings: c.minExpectedFirings, decreaseMarginSigmas: c.decreaseMarginSigmas,
});

/** Streaming window statistics and the rule. All arrays are owned here and saved in checkpoints. */
export class BiasAdapter {
  /** [M] firings since the group's window opened. */
  readonly count: Float64Array;
  /** [M] max pre-activation since the group's window opened (−∞ when none yet). */
  readonly peak: Float32Array;
  /** [K] tokens in each group's current window. */
  readonly windowTokens: Float64Array;
  /** [K] firings per group and tokens over the last closed window, for the realized-rate plot. */
  readonly lastRate: Float64Array;

  constructor(
    readonly bias: Float32Array,
    readonly group: Int32Array,
    readonly targets: Float32Array,
    readonly o: BiasRuleOptions,
  ) {
    const M = bias.length;
    if (group.length !== M) throw new Error(`BiasAdapter: ${group.length} group indices for ${M} latents`);
    this.count = new Float64Array(M);
    this.peak = new Float32Array(M).fill(-Infinity);
    this.windowTokens = new Float64Array(targets.length);
    this.lastRate = new Float64Array(targets.length).fill(NaN);
  }

  /** Adds one batch's statistics (the step graph's `fired` and `peak` outputs). */
  observe(fired: Float32Array, peak: Float32Array, tokens: number): void {
    for (let m = 0; m < fired.length; m++) {
      this.count[m]! += fired[m]!;
      if (peak[m]! > this.peak[m]!) this.peak[m] = peak[m]!;
    }
    for (let k = 0; k < this.windowTokens.length; k++) this.windowTokens[k]! += tokens;
  }

  /** Applies the rule to every group whose window is long enough, then reopens those windows. Returns how many
   * biases went down and up. */
  adapt(): { lowered: number; raised: number } {
    const K = this.targets.length;
    const ready = Array.from({ length: K }, (_, k) => this.windowTokens[k]! > 0
      && (this.o.minExpectedFirings <= 0 || this.windowTokens[k]! * this.targets[k]! >= this.o.minExpectedFirings));
    // s̄_k: mean of the positive peaks in the group; the global mean of positive peaks when the group has none (§5.3).
    const sum = new Float64Array(K);
    const n = new Float64Array(K);
    let gSum = 0;
    let gN = 0;
    for (let m = 0; m < this.bias.length; m++) {
      const r = this.peak[m]!;
      if (r > 0) {
        sum[this.group[m]!]! += r;
        n[this.group[m]!]!++;
        gSum += r;
        gN++;
      }
    }
    const fired = new Float64Array(K);
    const members = new Float64Array(K);
    let lowered = 0;
    let raised = 0;
    for (let m = 0; m < this.bias.length; m++) {
      const k = this.group[m]!;
      if (!ready[k]) continue;
      const N = this.windowTokens[k]!;
      const p = this.targets[k]!;
      const c = this.count[m]!;
      fired[k]! += c;
      members[k]!++;
      const over = this.o.decreaseMarginSigmas > 0 ? c > N * p + this.o.decreaseMarginSigmas * Math.sqrt(N * p) : c / N > p;
      if (over) {
        this.bias[m] = Math.max(this.bias[m]! - this.o.gammaMinus * this.peak[m]!, this.o.biasMin);
        lowered++;
      } else if (c / N < this.o.deadRate) {
        const base = n[k]! > 0 ? sum[k]! / n[k]! : gN > 0 ? gSum / gN : 0;
        if (base > 0) {
          this.bias[m] = Math.min(this.bias[m]! + this.o.gammaPlus * base, this.o.biasMax);
          raised++;
        }
      }
    }
    for (let k = 0; k < K; k++) {
      if (!ready[k]) continue;
      this.lastRate[k] = members[k]! > 0 ? fired[k]! / (members[k]! * this.windowTokens[k]!) : NaN;
      this.windowTokens[k] = 0;
    }
    for (let m = 0; m < this.bias.length; m++) {
      if (!ready[this.group[m]!]) continue;
      this.count[m] = 0;
      this.peak[m] = -Infinity;
    }
    return { lowered, raised };
  }
}
