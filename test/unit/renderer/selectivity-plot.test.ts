/** The selectivity plot's layout: log axes in whole decades, the 10× line and the 1 % floor where the bar puts them. */
import { describe, expect, it } from 'vitest';
import { selectivityLayout, type SelectivityInput } from '../../../renderer/src/util/selectivity-plot';

const row = (domain: string, target: number, others: number): SelectivityInput => ({ domain, target, others, passes: target >= 0.01 && target >= 10 * Math.max(0, others) });

describe('selectivityLayout', () => {
  const rows = [row('css', 1.53, 0.0307), row('news', 0.0112, 0.001), row('science', 0.008, 0.0018)];
  const l = selectivityLayout(rows, { bar: 10, minTarget: 0.01, width: 400, height: 300 });
  const { box } = l;

  it('spans whole decades that hold every point, the floor included', () => {
    expect(l.xTicks.map((t) => t.label)).toEqual(['0.1%', '1%', '10%']);
    expect(l.yTicks.map((t) => t.label)).toEqual(['0.1%', '1%', '10%', '100%', '1000%']);
    expect(l.xTicks[0]!.pos).toBe(box.left);
    expect(l.xTicks.at(-1)!.pos).toBe(box.right);
    expect(l.yTicks[0]!.pos).toBe(box.bottom);
    expect(l.yTicks.at(-1)!.pos).toBe(box.top);
  });

  it('places a point by log value: a tenfold step is one decade', () => {
    const news = l.points.find((p) => p.domain === 'news')!;
    expect(news.x).toBeCloseTo(box.left, 9); // 0.1 %: the first decade
    expect(news.y).toBeCloseTo(l.yTicks[1]!.pos + (l.yTicks[2]!.pos - l.yTicks[1]!.pos) * Math.log10(1.12), 9);
    for (const p of l.points) {
      expect(p.x).toBeGreaterThanOrEqual(box.left);
      expect(p.x).toBeLessThanOrEqual(box.right);
      expect(p.y).toBeGreaterThanOrEqual(box.top);
      expect(p.y).toBeLessThanOrEqual(box.bottom);
    }
  });

  it('draws the bar so that passing points lie above both the 10× line and the floor, failing ones not', () => {
    const { barLine, floorY } = l;
    expect(barLine).not.toBeNull();
    expect(floorY).toBeCloseTo(l.yTicks[1]!.pos, 9);
    const lineYAt = (x: number) => barLine!.y1 + ((x - barLine!.x1) / (barLine!.x2 - barLine!.x1)) * (barLine!.y2 - barLine!.y1);
    for (const p of l.points) {
      const above = p.y <= lineYAt(p.x) && p.y <= floorY!; // SVG y grows downwards
      expect(above).toBe(p.passes);
    }
    // The line's slope is one decade up per decade across (equal decade sizes on both axes are not assumed).
    const dx = (barLine!.x2 - barLine!.x1) / (l.xTicks[1]!.pos - l.xTicks[0]!.pos);
    const dy = (barLine!.y1 - barLine!.y2) / (l.yTicks[0]!.pos - l.yTicks[1]!.pos);
    expect(dx).toBeCloseTo(dy, 9);
  });

  it('keeps the names of close points apart, each beside its point', () => {
    // The default model's cluster: news, religion, science and government within a few pixels of each other.
    const close = [row('government', 0.0328, 0.0075), row('religion', 0.0205, 0.0047), row('news', 0.0168, 0.0042), row('science', 0.013, 0.0035), row('python', 1.67, 0.0187), row('css', 1.51, 0.0278)];
    const m = selectivityLayout(close, { bar: 10, minTarget: 0.01 });
    const boxes = m.points.map((p) => ({ x1: p.label.x, x2: p.label.x + p.domain.length * 6.2, y1: p.label.y - 10, y2: p.label.y + 2 }));
    for (let a = 0; a < boxes.length; a++) {
      for (let b = a + 1; b < boxes.length; b++) {
        const [p, q] = [boxes[a]!, boxes[b]!];
        expect(p.x1 < q.x2 && q.x1 < p.x2 && p.y1 < q.y2 && q.y1 < p.y2, `${m.points[a]!.domain} / ${m.points[b]!.domain}`).toBe(false);
      }
    }
    for (const p of m.points) {
      expect(Math.abs(p.label.y - p.y)).toBeLessThanOrEqual(4 + 4 * 12);
      expect(p.label.x + p.domain.length * 6.2).toBeLessThanOrEqual(m.box.right + 1e-9);
    }
  });

  it('puts values with no place on a log axis on its edge and marks them', () => {
    const m = selectivityLayout([row('fiction', 0.03, -0.001), row('c', 0, 0.01)], { bar: 10, minTarget: 0.01 });
    const [fiction, c] = m.points;
    expect(fiction!.clippedX).toBe(true);
    expect(fiction!.x).toBe(m.box.left);
    expect(c!.clippedY).toBe(true);
    expect(c!.y).toBe(m.box.bottom);
    expect(selectivityLayout([], { bar: 10, minTarget: 0.01 }).points).toEqual([]);
  });
  it('draws 95% intervals as error bars through the point, an end at or below 0 on the axis edge (issue 20.6)', () => {
    const withCi = [
      { ...row('css', 1.53, 0.0307), targetCi: [1.2, 1.9] as const, othersCi: [0.02, 0.05] as const },
      { ...row('news', 0.0112, 0.0015), targetCi: [0.004, 0.02] as const, othersCi: [-0.001, 0.003] as const },
    ];
    const m = selectivityLayout(withCi, { bar: 10, minTarget: 0.01 });
    for (const p of m.points) {
      expect(p.errX!.x1).toBeLessThan(p.x);
      expect(p.errX!.x2).toBeGreaterThan(p.x);
      expect(p.errY!.y1).toBeGreaterThan(p.y); // lower end further down the SVG
      expect(p.errY!.y2).toBeLessThan(p.y);
    }
    expect(m.points[1]!.errX!.x1).toBe(m.box.left);
    expect(selectivityLayout([row('css', 1.53, 0.0307)], { bar: 10, minTarget: 0.01 }).points[0]!.errX).toBeNull();
  });
});
