/** Routing groups are numbered from 0 in the UI, as in the mask JSON and the API. */
import { describe, expect, it } from 'vitest';
import { groupLabel, groupTag } from '../../../renderer/src/util/groups';

describe('routing group labels', () => {
  it('are 0-based and name the layers each group covers', () => {
    expect(groupTag(0)).toBe('G0');
    expect(groupLabel(0, [0, 2], 4)).toBe('G0 · layers 0–1');
    expect(groupLabel(1, [0, 2], 4)).toBe('G1 · layers 2–3');
    expect(groupLabel(1, [0, 2], 3)).toBe('G1 · layer 2');
  });
});
