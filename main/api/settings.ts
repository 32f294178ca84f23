import { DEFAULT_SETTINGS } from '../workspace/workspace';
import type { Handlers } from './router';

export const settingsHandlers = {
  /** Without a usable workspace the defaults are returned, so the UI can still draw. */
  'settings.get': (_p, b) => (b.workspace ? b.workspace.getSettings() : { ...DEFAULT_SETTINGS }),
  'settings.update': (p, b) => {
    const settings = b.requireWorkspace().updateSettings(p);
    b.emit('settings.changed', settings);
    b.requireScheduler().reschedule();
    return settings;
  },
} satisfies Partial<Handlers>;
