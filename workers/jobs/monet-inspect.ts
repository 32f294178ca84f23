/** `monet.inspect`: open a checkpoint folder (headers only) → config summary, parameter count, size on disk, dtypes. */
import { z } from 'zod';
import { defineJob } from './types';

const Params = z.object({ model: z.string().min(1) });

export const monetInspectJob = defineJob({
  heavy: false,
  params: Params,
  title: (p) => `Inspect ${p.model}`,
  async run(p) {
    const { inspectMonet } = await import('../models/monet/inspect');
    return inspectMonet(p.model);
  },
});
