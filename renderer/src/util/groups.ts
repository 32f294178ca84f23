/**
 * One numbering of routing groups everywhere: 0-based, as in the mask JSON ("groups": {"0": …}), the API, the atlas
 * files (g0.count) and the URL (?group=0). G0 is the router of layer 0 and the G layers that share it.
 */

/** "G0". */
export const groupTag = (g: number): string => `G${g}`;

/**
 * "G0 · layers 0–1" (or "G1 · layer 3" for a group of one layer), from the first layer of each group (routerLayers)
 * and the model's layer count.
 */
export function groupLabel(g: number, routerLayers: readonly number[], layers: number): string {
  const first = routerLayers[g] ?? g;
  const last = Math.min(layers, routerLayers[g + 1] ?? layers) - 1;
  return last > first ? `G${g} · layers ${first}–${last}` : `G${g} · layer ${first}`;
}
