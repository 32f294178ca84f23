/**
 * `atlas.contexts`: the second half of installing the default model's shipped atlas (main/atlas/shipped.ts) — its top
 * contexts and their full-text index, written into contexts.sqlite. A job (light: it does not queue behind a build or
 * an evaluation) so that the seconds of SQLite work run in a worker, never on the backend's event loop, and show in
 * Jobs. Takes only the atlas id: the pack is the shipped one and the folder is under the workspace's atlases/.
 */
import path from 'node:path';
import { z } from 'zod';
import { FolderId } from '../../common/ids';
import { resolveUnder } from '../paths';
import { defineJob } from './types';

export const atlasContextsJob = defineJob({
  heavy: false,
  params: z.object({ atlas: FolderId }),
  title: () => "Preparing the default model's atlas: top contexts and search",
  async run(p, ctx) {
    const { expandContexts } = await import('../analysis/atlas/compact');
    const { shippedAtlasPack } = await import('../../main/atlas/shipped');
    const pack = shippedAtlasPack();
    if (!pack) throw new Error('no shipped atlas pack (assets/atlas) on this machine');
    const dir = resolveUnder(path.join(ctx.workspace, 'atlases'), p.atlas, 'atlas id');
    await expandContexts(pack, dir, (done, total, what) => ctx.progress(done, total, 'rows', what));
    ctx.log(`Top contexts written: ${path.join(dir, 'contexts.sqlite')}`);
    return { atlas: p.atlas };
  },
});
