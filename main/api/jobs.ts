import type { Handlers } from './router';

export const jobsHandlers = {
  'jobs.list': (_p, b) => b.requireScheduler().list(),
  'jobs.start': (p, b) => b.requireScheduler().start(p.kind, p.params),
  'jobs.cancel': (p, b) => b.requireScheduler().cancel(p.id),
  'jobs.log': (p, b) => ({ lines: b.requireScheduler().log(p.id, p.tail) }),
  'jobs.clear': (_p, b) => ({ removed: b.requireScheduler().clear() }),
} satisfies Partial<Handlers>;
