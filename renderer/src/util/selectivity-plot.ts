/**
 * Layout of the selectivity plot of the domain-masking experiment: one point per domain at (mean ΔOthers, ΔTarget),
 * both on log axes, with the bar drawn in: the line ΔTarget = bar × ΔOthers and the floor ΔTarget = minTarget.
 * A domain clears the bar above both. Pure numbers, no DOM: the Vue component draws what this returns.
 *
 * Log axes because the figures span three decades (news +0.1 % beside CSS +150 %). A value ≤ 0 has no place on them:
 * it is drawn on the axis edge (`clipped`) and says so in its title.
 */
export interface SelectivityInput { domain: string; target: number; others: number; passes: boolean }

export interface PlotPoint extends SelectivityInput { x: number; y: number; clippedX: boolean; clippedY: boolean }
export interface Tick { value: number; pos: number; label: string }

export interface SelectivityLayout {
  width: number;
  height: number;
  /** The plot area inside the margins. */
  box: { left: number; top: number; right: number; bottom: number };
  points: PlotPoint[];
  xTicks: Tick[];
  yTicks: Tick[];
  /** ΔTarget = bar × ΔOthers, clipped to the box (null when it misses the box). */
  barLine: { x1: number; y1: number; x2: number; y2: number } | null;
  /** y of ΔTarget = minTarget (null when outside the box). */
  floorY: number | null;
}

const pctLabel = (v: number) => `${+(v * 100).toPrecision(2)}%`;

/** Whole decades [lo, hi] that hold every positive value (and `extra`), at least two decades wide. */
function decades(values: number[], extra: number[]): [number, number] {
  const pos = [...values, ...extra].filter((v) => v > 0 && Number.isFinite(v));
  if (!pos.length) return [-4, -2];
  let lo = Math.floor(Math.log10(Math.min(...pos)));
  let hi = Math.ceil(Math.log10(Math.max(...pos)));
  if (hi === lo) hi++;
  if (hi - lo < 2) lo = hi - 2;
  return [lo, hi];
}

export function selectivityLayout(
  rows: readonly SelectivityInput[],
  o: { bar: number; minTarget: number; width?: number; height?: number },
): SelectivityLayout {
  const width = o.width ?? 420;
  const height = o.height ?? 300;
  const box = { left: 56, top: 12, right: width - 16, bottom: height - 40 };
  const [xlo, xhi] = decades(rows.map((r) => r.others), []);
  const [ylo, yhi] = decades(rows.map((r) => r.target), [o.minTarget]);
  const sx = (v: number) => box.left + ((Math.log10(v) - xlo) / (xhi - xlo)) * (box.right - box.left);
  const sy = (v: number) => box.bottom - ((Math.log10(v) - ylo) / (yhi - ylo)) * (box.bottom - box.top);
  const points = rows.map((r) => {
    const clippedX = !(r.others > 0);
    const clippedY = !(r.target > 0);
    return { ...r, x: clippedX ? box.left : sx(r.others), y: clippedY ? box.bottom : sy(r.target), clippedX, clippedY };
  });
  const ticks = (lo: number, hi: number, at: (v: number) => number) =>
    Array.from({ length: hi - lo + 1 }, (_, k) => 10 ** (lo + k)).map((v) => ({ value: v, pos: at(v), label: pctLabel(v) }));
  // The bar line in log space: log y = log bar + log x, from the box's left edge to its right, cut to its height.
  let barLine: SelectivityLayout['barLine'] = null;
  const x0 = Math.max(10 ** xlo, 10 ** ylo / o.bar);
  const x1 = Math.min(10 ** xhi, 10 ** yhi / o.bar);
  if (x0 < x1) barLine = { x1: sx(x0), y1: sy(o.bar * x0), x2: sx(x1), y2: sy(o.bar * x1) };
  const floorY = o.minTarget >= 10 ** ylo && o.minTarget <= 10 ** yhi ? sy(o.minTarget) : null;
  return { width, height, box, points, xTicks: ticks(xlo, xhi, sx), yTicks: ticks(ylo, yhi, sy), barLine, floorY };
}
