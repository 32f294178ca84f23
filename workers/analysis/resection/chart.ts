/**
 * A small SVG bar chart of relative perplexity increase per domain (target highlighted). Pure string building,
 * no DOM: the evaluation job saves it beside its results and the renderer shows the same markup. Every text is
 * XML-escaped.
 */
export interface ChartRow { domain: string; relIncrease: number }

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function relIncreaseChartSvg(rows: readonly ChartRow[], target: string | null, o: { width?: number; barHeight?: number } = {}): string {
  const width = o.width ?? 560;
  const bh = o.barHeight ?? 18;
  const label = 130;
  const right = 70;
  const top = 24;
  const h = top + rows.length * (bh + 6) + 10;
  const max = Math.max(1e-9, ...rows.map((r) => Math.abs(r.relIncrease)));
  const hasNeg = rows.some((r) => r.relIncrease < 0);
  const plot = width - label - right;
  const zero = label + (hasNeg ? plot / 2 : 0);
  const scale = (hasNeg ? plot / 2 : plot) / max;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${h}" width="${width}" height="${h}" role="img" aria-label="Relative perplexity increase per domain">`,
    `<text x="${label}" y="14" font-size="12" fill="currentColor">relative perplexity increase (after − before) / before</text>`,
    `<line x1="${zero}" y1="${top - 4}" x2="${zero}" y2="${h - 6}" stroke="currentColor" stroke-opacity="0.5"/>`,
  ];
  rows.forEach((r, k) => {
    const y = top + k * (bh + 6);
    const w = Math.abs(r.relIncrease) * scale;
    const x = r.relIncrease >= 0 ? zero : zero - w;
    const isTarget = r.domain === target;
    parts.push(
      `<text x="${label - 6}" y="${y + bh - 5}" font-size="12" text-anchor="end" fill="currentColor"${isTarget ? ' font-weight="bold"' : ''}>${esc(r.domain)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(0.5, w).toFixed(1)}" height="${bh}" fill="${isTarget ? '#d9534f' : '#5b8def'}"><title>${esc(r.domain)}: ${(r.relIncrease * 100).toFixed(2)}%</title></rect>`,
      `<text x="${(r.relIncrease >= 0 ? x + w + 4 : zero + 4).toFixed(1)}" y="${y + bh - 5}" font-size="11" fill="currentColor">${(r.relIncrease * 100).toFixed(1)}%</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
