/**
 * Models: the checkpoints a user opened plus the embedded default model (main/models/registry.ts). Generation and
 * routing are jobs (`jobs.start` with `monet.generate` / `monet.route`, `model` = a ModelInfo's `path`); generated text
 * streams as `job.output` events.
 */
import { ModelRegistry } from '../models/registry';
import type { Handlers } from './router';
import type { Backend } from '../backend';

const registry = (b: Backend) => new ModelRegistry(b.requireWorkspace().dir);

export const modelsHandlers = {
  'models.list': (_p, b) => registry(b).list(),
  'models.add': async (p, b) => {
    const info = await registry(b).add(p.path, p.name);
    b.emit('models.changed', {});
    return info;
  },
  'models.remove': async (p, b) => {
    await registry(b).remove(p.id);
    b.emit('models.changed', {});
    return { removed: true as const };
  },
  'models.get': (p, b) => registry(b).get(p.id),
  'models.setEditApplied': async (p, b) => {
    const info = await registry(b).setEditApplied(p.id, p.applied);
    b.emit('models.changed', {});
    return info;
  },
  'models.loadMask': (p, b) => registry(b).loadMask(p.id, p.path),
} satisfies Partial<Handlers>;
