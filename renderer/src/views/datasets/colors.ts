/**
 * Colours of domains: a categorical palette (readable on both themes) assigned in name order within a dataset,
 * so the same set of domains gets the same colours everywhere; unlabeled samples are grey.
 */
const PALETTE = ['#5b8def', '#e5a03a', '#3cc2ad', '#d9668f', '#9a7bea', '#6cbf5a', '#e0764f', '#4fb3d9', '#c2b24a', '#b57ad6'];

export type ColorOf = (domain: string | null) => string;

export function domainColors(domains: { domain: string | null }[]): ColorOf {
  const names = domains.map((d) => d.domain).filter((d): d is string => d !== null).sort();
  const index = new Map(names.map((n, i) => [n, i]));
  return (domain) => {
    if (domain === null) return 'var(--text-faint)';
    const i = index.get(domain);
    if (i !== undefined) return PALETTE[i % PALETTE.length]!;
    let h = 0;
    for (let k = 0; k < domain.length; k++) h = (h * 31 + domain.charCodeAt(k)) >>> 0;
    return PALETTE[h % PALETTE.length]!;
  };
}
