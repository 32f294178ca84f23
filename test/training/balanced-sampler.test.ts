/** Domain-balanced training batches (`--domain-balance`): shares, purity of windows, exact resume, epoch coverage. */
import { describe, expect, it } from 'vitest';
import { BalancedSampler, domainSlots } from '../../workers/training/data';

const SEQ = 4;
/** Domain d's stream holds only tokens 1000·(d+1) + position, so every token names its domain. */
const stream = (d: number, windows: number) => Int32Array.from({ length: windows * SEQ + 1 }, (_, i) => 1000 * (d + 1) + i);
const domainOf = (t: bigint) => Math.floor(Number(t) / 1000) - 1;

describe('domainSlots', () => {
  it('splits a block by tokens^alpha: proportional at 1, equal at 0, nothing for an empty domain', () => {
    expect(domainSlots([300, 100, 0], 1, 100)).toEqual([75, 25, 0]);
    expect(domainSlots([300, 100, 0], 0, 100)).toEqual([50, 50, 0]);
    const half = domainSlots([900, 100], 0.5, 1000);
    expect(half).toEqual([750, 250]);
    // Every domain with data keeps at least one slot, and the block is always filled exactly.
    const tiny = domainSlots([1e9, 1], 1, 64);
    expect(tiny[1]).toBe(1);
    expect(tiny.reduce((a, b) => a + b, 0)).toBe(64);
  });
});

describe('BalancedSampler', () => {
  const streams = [stream(0, 50), stream(1, 7), stream(2, 20)];
  const sampler = new BalancedSampler(streams, 0, SEQ, 42, -1);

  it('gives each domain its share, and never mixes domains inside a window', () => {
    const n = 3 * 1024;
    const b = sampler.batch(0, n);
    const counts = [0, 0, 0];
    for (let r = 0; r < n; r++) {
      const row = Array.from(b.input_ids.data.subarray(r * SEQ, (r + 1) * SEQ), domainOf);
      expect(new Set(row).size).toBe(1);
      // Labels are the next tokens of the same domain's stream.
      expect(domainOf(b.labels.data[r * SEQ + SEQ - 1]!)).toBe(row[0]);
      counts[row[0]!]!++;
    }
    const shares = sampler.shares();
    counts.forEach((c, d) => expect(c / n).toBeCloseTo(shares[d]!, 10));
    expect(shares[1]).toBeGreaterThan(0.33); // alpha 0: the 7-window domain gets a third, not 7/77
  });

  it('is a pure function of the sequence index (a resumed run sees the same batches)', () => {
    const whole = sampler.batch(1000, 100).input_ids.data;
    const again = new BalancedSampler(streams, 0, SEQ, 42, -1);
    const parts = [again.batch(1000, 30), again.batch(1030, 70)].flatMap((x) => Array.from(x.input_ids.data));
    expect(parts).toEqual(Array.from(whole));
    expect(Array.from(new BalancedSampler(streams, 0, SEQ, 43, -1).batch(1000, 100).input_ids.data)).not.toEqual(Array.from(whole));
  });

  it('visits every window of a domain once per pass over that domain', () => {
    const b = sampler.batch(0, 2048);
    const firsts: number[] = [];
    for (let r = 0; r < 2048; r++) {
      const t = Number(b.input_ids.data[r * SEQ]!);
      if (domainOf(BigInt(t)) === 1) firsts.push((t - 2000) / SEQ);
    }
    // Domain 1 has 7 windows: each run of 7 of its sequences is a permutation of 0…6.
    for (let e = 0; e + 7 <= firsts.length; e += 7) expect(firsts.slice(e, e + 7).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
