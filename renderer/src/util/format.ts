/** Display helpers: numbers, rates, durations. Pure functions, no Vue. */

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** "12.3 steps/s", "0.40 rows/s". */
export function formatRate(rate: number | null, unit: string): string {
  if (rate == null || !Number.isFinite(rate)) return '';
  const digits = rate >= 100 ? 0 : rate >= 10 ? 1 : 2;
  const value = rate >= 1e4 ? formatNumber(rate) : rate.toFixed(digits);
  return `${value} ${unit}/s`;
}

/** Seconds → "45 s", "3 m 05 s", "2 h 10 m". */
export function formatDuration(seconds: number | null): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} m`;
}

/**
 * Time left of a job's progress, only from what is known: a measured rate and a total. Empty while either is unknown
 * and once the counted work is done (another phase may still run: "0 s left" would be a lie), "under 1 s" near the end.
 */
export function formatTimeLeft(p: { done: number; total: number | null; etaSeconds: number | null } | null | undefined): string {
  if (!p || p.total === null || p.etaSeconds === null || !Number.isFinite(p.etaSeconds) || p.done >= p.total) return '';
  return p.etaSeconds < 1 ? 'under 1 s' : formatDuration(p.etaSeconds);
}

/** "46%" of a known total, else ''. */
export function formatPercent(done: number, total: number | null): string {
  return total && total > 0 ? `${Math.min(100, Math.floor((100 * done) / total))}%` : '';
}

export function formatClock(epochMs: number | null): string {
  if (epochMs == null) return '';
  return new Date(epochMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export { formatBytes } from '../../../common/format';
