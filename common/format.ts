/** Formatting shared by the renderer and the CLI, so both show the same figures the same way. */

/** Bytes → "812 B", "4.2 KiB", "1.3 GiB" (powers of 1024, so IEC units); "—" for a value that is not a size. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
