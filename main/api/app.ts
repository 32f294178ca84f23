import type { Handlers } from './router';

export const appHandlers = {
  'app.info': (_p, b) => ({ version: b.version, mode: b.mode, platform: process.platform, workspace: b.workspaceInfo() }),
} satisfies Partial<Handlers>;
