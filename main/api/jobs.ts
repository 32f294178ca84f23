import type { Handlers } from './router';
import { readJobMetrics } from '../jobs/metrics';

export const jobsHandlers = {
  'jobs.list': (_p, b) => b.requireScheduler().list(),
  'jobs.start': (p, b) => b.requireScheduler().start(p.kind, p.params),
  'jobs.cancel': (p, b) => b.requireScheduler().cancel(p.id),
  'jobs.log': (p, b) => ({ lines: b.requireScheduler().log(p.id, p.tail) }),
  'jobs.clear': (_p, b) => ({ removed: b.requireScheduler().clear() }),
  'jobs.metrics': (p, b) => readJobMetrics(b.requireWorkspace().dir, b.requireScheduler().get(p.id), p.since ?? 0),
} satisfies Partial<Handlers>;
