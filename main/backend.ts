/**
 * The backend: the open workspace, its job scheduler, the event stream, and the router every transport calls.
 * Transport-free: `resect serve` (main/server) and Electron (main/electron) each wrap one Backend.
 */
import { ApiError, type EventData, type EventName, type WorkspaceInfo } from '../common/api';
import { handlers } from './api';
import { Router, toApiError } from './api/router';
import { JobScheduler } from './jobs/scheduler';
import type { WorkerLauncher } from './jobs/launcher';
import { Workspace } from './workspace/workspace';
import { ensureShippedAtlas } from './atlas/shipped';
import { resolveUserPath } from './workspace/paths';
import { lockWorkspace, type WorkspaceLock } from './workspace/lock';
import { jobRegistry } from '../workers/jobs/registry';
import type { JobDefinition } from '../workers/jobs/types';
import pkg from '../package.json';

export const VERSION: string = pkg.version;

export interface BackendOptions {
  mode: 'electron' | 'serve';
  workspaceDir: string;
  launcher: WorkerLauncher;
  registry?: Record<string, JobDefinition>;
  cancelGraceMs?: number;
}

export type EventListener = <E extends EventName>(event: E, data: EventData<E>) => void;

export class Backend {
  readonly version = VERSION;
  readonly mode: 'electron' | 'serve';
  readonly router: Router;
  workspace: Workspace | null = null;
  private scheduler: JobScheduler | null = null;
  private lock: WorkspaceLock | null = null;
  private info: WorkspaceInfo;
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly opts: BackendOptions) {
    this.mode = opts.mode;
    this.router = new Router(handlers, this);
    this.info = { path: opts.workspaceDir, ok: false, error: 'Not opened yet' };
    try {
      this.attach(Backend.openLocked(opts.workspaceDir));
    } catch (e) {
      const err = toApiError(e);
      let p = opts.workspaceDir;
      try {
        p = resolveUserPath(p);
      } catch {
        /* keep as given */
      }
      this.info = { path: p, ok: false, error: err.message };
    }
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, data: EventData<E>): void {
    for (const l of this.listeners) {
      try {
        l(event, data);
      } catch (e) {
        process.stderr.write(`event listener failed: ${(e as Error).message}\n`);
      }
    }
  }

  workspaceInfo(): WorkspaceInfo {
    return { ...this.info };
  }

  requireWorkspace(): Workspace {
    if (!this.workspace) throw new ApiError('workspace_unavailable', this.info.error ?? 'No workspace is open', { path: this.info.path });
    return this.workspace;
  }

  requireScheduler(): JobScheduler {
    this.requireWorkspace();
    return this.scheduler!;
  }

  /**
   * Switches to the workspace at `dir` (created if needed). Refused while jobs are queued or running. If the new
   * folder cannot be used, the current workspace stays open and the error is thrown.
   */
  async openWorkspace(dir: string): Promise<WorkspaceInfo> {
    if (this.scheduler && this.scheduler.activeCount() > 0) {
      throw new ApiError('conflict', 'Jobs are still queued or running in this workspace; cancel them or wait, then switch.');
    }
    const next = Backend.openLocked(dir, this.workspace?.dir); // throws workspace_unavailable
    await this.scheduler?.shutdown();
    this.detach();
    this.attach(next);
    this.emit('workspace.changed', this.workspaceInfo());
    this.emit('settings.changed', next.ws.getSettings());
    return this.workspaceInfo();
  }

  async close(): Promise<void> {
    await this.scheduler?.shutdown();
    this.detach();
    this.lock?.release();
    this.lock = null;
    this.listeners.clear();
  }

  /** Opens a workspace and takes its lock (unless it is the one this backend already holds). */
  private static openLocked(dir: string, current?: string): { ws: Workspace; lock: WorkspaceLock | null } {
    const ws = Workspace.open(dir);
    if (current !== undefined && ws.dir === current) return { ws, lock: null };
    try {
      return { ws, lock: lockWorkspace(ws.dir) };
    } catch (e) {
      ws.close();
      throw e;
    }
  }

  private detach(): void {
    this.scheduler = null;
    this.workspace?.close();
    this.workspace = null;
  }

  private attach({ ws, lock }: { ws: Workspace; lock: WorkspaceLock | null }): void {
    if (lock) {
      this.lock?.release();
      this.lock = lock;
    }
    ws.jobs.failUnfinished('The backend restarted while the job was queued or running');
    this.workspace = ws;
    this.info = { path: ws.dir, ok: true, error: null };
    this.scheduler = new JobScheduler({
      workspace: ws,
      launcher: this.opts.launcher,
      registry: this.opts.registry ?? jobRegistry,
      emit: (event, data) => this.emit(event, data),
      settings: () => ws.getSettings(),
      ...(this.opts.cancelGraceMs !== undefined ? { cancelGraceMs: this.opts.cancelGraceMs } : {}),
    });
    // Expand the default model's shipped atlas in the background, once per workspace: its statistics here (seconds;
    // atlas.list waits), its top contexts as the atlas.contexts job (in a worker, off this event loop).
    const scheduler = this.scheduler;
    void ensureShippedAtlas(ws.dir, process.env, (atlas) => scheduler.start('atlas.contexts', { atlas })).then((r) => {
      if (r.state === 'failed') process.stderr.write(`resect: the shipped atlas could not be installed: ${r.error}\n`);
    });
  }
}
