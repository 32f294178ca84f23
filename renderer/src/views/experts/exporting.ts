/**
 * Exports of an expert page or a collection: JSON (everything the page shows) and an image (an SVG card with the
 * header, stats, per-domain bars, histogram and top contexts; PNG = that SVG drawn on a canvas).
 */
import type { AtlasInfo, Collection, ExpertPage } from '../../stores/atlas';
import { domainColor, fmtR, fmtSkew, pct } from './palette';

export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function expertJson(page: ExpertPage, atlas: AtlasInfo | null): object {
  const { ms: _ms, ...rest } = page;
  void _ms;
  return { kind: 'resect.expert', atlas: atlas ? { id: atlas.id, name: atlas.name, model: atlas.model.dir, data: atlas.data.description, tokens: atlas.tokens } : page.atlas, expert: rest };
}

export function collectionJson(c: Collection, pages: ExpertPage[]): object {
  return { kind: 'resect.collection', name: c.name, notes: c.notes, createdAt: c.createdAt, items: c.items.map((it) => ({ ...it, page: pages.find((p) => p.atlas === it.atlas && p.group === it.group && p.id === it.expert) ?? null })) };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const visible = (s: string) => s.replace(/\n/g, '⏎').replace(/\t/g, '→');

/** A self-contained SVG card of an expert page (light background, system fonts). */
export function expertSvg(page: ExpertPage, atlas: AtlasInfo | null): { svg: string; width: number; height: number } {
  const W = 760;
  const lines: string[] = [];
  let y = 30;
  lines.push(`<text x="20" y="${y}" font-size="20" font-weight="700">G${page.group} · Expert #${page.id} (i ${page.i}, j ${page.j})</text>`);
  y += 22;
  if (atlas) lines.push(`<text x="20" y="${y}" font-size="12" fill="#5b6372">${esc(clip(`${atlas.name} — ${atlas.tokens} tokens`, 110))}</text>`);
  y += 24;
  lines.push(`<text x="20" y="${y}" font-size="13">Active on ${page.count} tokens (${pct(page.frequency)}) · total score ${page.totalScore.toFixed(2)} · dominant ${esc(page.dominant ?? '—')} · skew ${fmtSkew(page.skew)}${page.correlation !== null ? ` · r ${fmtR(page.correlation)}` : ''}</text>`);
  y += 26;
  // Domain bars.
  const maxMean = Math.max(1e-12, ...page.domains.map((d) => d.mean));
  lines.push(`<text x="20" y="${y}" font-size="13" font-weight="600">Mean routing score per domain</text>`);
  y += 8;
  page.domains.slice(0, 14).forEach((d, k) => {
    const bw = (300 * d.mean) / maxMean;
    lines.push(`<text x="20" y="${y + 14}" font-size="12">${esc(clip(d.domain, 18))}</text><rect x="150" y="${y + 4}" width="${Math.max(1, bw).toFixed(1)}" height="12" fill="${domainColor(k)}"/><text x="${156 + bw}" y="${y + 14}" font-size="11" fill="#5b6372">${d.mean.toExponential(2)}</text>`);
    y += 18;
  });
  y += 14;
  // Histogram.
  const maxC = Math.max(1, ...page.histogram.counts);
  lines.push(`<text x="20" y="${y}" font-size="13" font-weight="600">Score histogram (log bins, ${page.histogram.edges[0]!.toExponential(0)}–${page.histogram.edges.at(-1)!.toFixed(1)})</text>`);
  y += 8;
  const bwid = 700 / page.histogram.counts.length;
  page.histogram.counts.forEach((c, k) => {
    const h = (60 * c) / maxC;
    lines.push(`<rect x="${(20 + k * bwid).toFixed(1)}" y="${(y + 60 - h).toFixed(1)}" width="${(bwid - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#0d8a77"/>`);
  });
  y += 80;
  lines.push(`<text x="20" y="${y}" font-size="13" font-weight="600">Top contexts</text>`);
  y += 6;
  for (const c of page.contexts.slice(0, 12)) {
    y += 18;
    lines.push(
      `<text x="20" y="${y}" font-size="12" font-family="monospace"><tspan fill="#5b6372">${(c.score * 100).toFixed(1)}% </tspan>${esc(clip(visible(c.left), 40))}<tspan font-weight="700" fill="#c9372f">${esc(visible(c.token))}</tspan>${esc(clip(visible(c.right), 30))}</text>`,
    );
  }
  y += 20;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="system-ui, sans-serif"><rect width="100%" height="100%" fill="#ffffff"/>${lines.join('')}</svg>`;
  return { svg, width: W, height: y };
}

export function svgToPng(svg: string, width: number, height: number): Promise<Blob> {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    const img = new Image();
    img.onload = () => {
      const c = document.createElement('canvas');
      c.width = width * 2;
      c.height = height * 2;
      const ctx = c.getContext('2d')!;
      ctx.scale(2, 2);
      ctx.drawImage(img, 0, 0);
      URL.revokeObjectURL(url);
      c.toBlob((b) => (b ? resolve(b) : reject(new Error('the image could not be encoded'))), 'image/png');
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('the image could not be drawn'));
    };
    img.src = url;
  });
}
