import { listDevices } from '../devices';
import type { Handlers } from './router';

export const systemHandlers = {
  'system.devices': () => listDevices(),
} satisfies Partial<Handlers>;
