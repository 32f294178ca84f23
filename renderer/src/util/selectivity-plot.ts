/**
 * Layout of the selectivity plot of the domain-masking experiment: one point per domain at (mean ΔOthers, ΔTarget),
 * both on log axes, with the bar drawn in: the line ΔTarget = bar × ΔOthers and the floor ΔTarget = minTarget.
 * A domain clears the bar above both. Pure numbers, no DOM: the Vue component draws what this returns.
 *
 * Log axes because the figures span three decades (news +0.1 % beside CSS +150 %). A value ≤ 0 has no place on them:
 * it is drawn on the axis edge (`clipped`) and says so in its title.
 */
export interface SelectivityInput {
  domain: string; target: number; others: number; passes: boolean;
  /** 95 % bootstrap intervals, drawn as error bars (absent in results from before they existed). */
  targetCi?: readonly [number, number];
  othersCi?: readonly [number, number];
}

export interface PlotPoint extends SelectivityInput {
  x: number;
  y: number;
  clippedX: boolean;
  clippedY: boolean;
  /** Where the domain's name goes (baseline start): beside the point, moved off any label placed before it. */
  label: { x: number; y: number };
  /** Error bars in plot coordinates; an end at or below 0 is drawn to the axis edge. */
  errX: { x1: number; x2: number } | null;
  errY: { y1: number; y2: number } | null;
}
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
  const [xlo, xhi] = decades(rows.map((r) => r.others), rows.flatMap((r) => (r.othersCi ? [...r.othersCi] : [])));
  const [ylo, yhi] = decades(rows.map((r) => r.target), [o.minTarget, ...rows.flatMap((r) => (r.targetCi ? [...r.targetCi] : []))]);
  const sx = (v: number) => box.left + ((Math.log10(v) - xlo) / (xhi - xlo)) * (box.right - box.left);
  const sy = (v: number) => box.bottom - ((Math.log10(v) - ylo) / (yhi - ylo)) * (box.bottom - box.top);
  const points = rows.map((r) => {
    const clippedX = !(r.others > 0);
    const clippedY = !(r.target > 0);
    const ex = (v: number) => (v > 0 ? sx(v) : box.left);
    const ey = (v: number) => (v > 0 ? sy(v) : box.bottom);
    return {
      ...r, x: clippedX ? box.left : sx(r.others), y: clippedY ? box.bottom : sy(r.target), clippedX, clippedY, label: { x: 0, y: 0 },
      errX: r.othersCi ? { x1: ex(r.othersCi[0]), x2: ex(r.othersCi[1]) } : null,
      errY: r.targetCi ? { y1: ey(r.targetCi[0]), y2: ey(r.targetCi[1]) } : null,
    };
  });
  placeLabels(points, box);
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

/** Label metrics at the plot's 11 px font: an estimate is enough to keep names apart. */
const CHAR_W = 6.2;
const LINE_H = 12;

/**
 * Puts each name right of its point, or left of it when it would leave the box, then steps it down or up a line at a
 * time until it overlaps no name placed before it (domains close in both figures would otherwise print on top of
 * each other: news and religion on the default model).
 */
function placeLabels(points: PlotPoint[], box: SelectivityLayout['box']): void {
  const placed: { x1: number; x2: number; y1: number; y2: number }[] = [];
  const overlaps = (b: (typeof placed)[number]) => placed.some((q) => b.x1 < q.x2 && q.x1 < b.x2 && b.y1 < q.y2 && q.y1 < b.y2);
  for (const p of [...points].sort((a, b) => a.y - b.y || a.x - b.x)) {
    const w = p.domain.length * CHAR_W;
    const x = p.x + 7 + w <= box.right ? p.x + 7 : p.x - 7 - w;
    const at = (dy: number) => ({ x1: x, x2: x + w, y1: p.y + 4 + dy - LINE_H + 2, y2: p.y + 4 + dy + 2 });
    let dy = 0;
    for (let k = 1; k <= 8 && overlaps(at(dy)); k++) dy = (k % 2 ? 1 : -1) * Math.ceil(k / 2) * LINE_H;
    placed.push(at(dy));
    p.label = { x, y: p.y + 4 + dy };
  }
}
