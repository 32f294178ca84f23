import type { Handlers } from './router';

export const workspaceHandlers = {
  'workspace.info': (_p, b) => b.workspaceInfo(),
  'workspace.open': (p, b) => b.openWorkspace(p.path),
} satisfies Partial<Handlers>;
