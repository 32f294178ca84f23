// Learning-rate schedules, evaluated in TypeScript and fed to the step graph's `lr` input.

export type Schedule = (step: number) => number;

export interface WarmupCosineOptions {
  peak: number;
  warmup: number;
  total: number;
  /** Floor reached at `total` (default 0). */
  min?: number;
}

/** Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `min` at `total`. Steps are 1-based. */
export function warmupCosine(o: WarmupCosineOptions): Schedule {
  const min = o.min ?? 0;
  return (step) => {
    if (step <= o.warmup) return (o.peak * step) / Math.max(1, o.warmup);
    const t = Math.min(1, (step - o.warmup) / Math.max(1, o.total - o.warmup));
    return min + 0.5 * (o.peak - min) * (1 + Math.cos(Math.PI * t));
  };
}

export const constantLr = (lr: number): Schedule => () => lr;
