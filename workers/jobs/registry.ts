/**
 * Every job kind Resect can run. Adding one is one line here plus its module (see docs/backend.md).
 * Keep heavy imports inside `run` (dynamic `import()`): the backend imports this table to validate params.
 */
import type { JobDefinition } from './types';
import { demoJob } from './demo';

export const jobRegistry: Record<string, JobDefinition> = {
  demo: demoJob,
};
