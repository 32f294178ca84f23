import { defineStore } from 'pinia';
import { ref } from 'vue';
import { ApiError, describeError, errorTitles } from '../api/errors';
import { useWorkspace } from './workspace';

export interface Notice {
  id: number;
  kind: 'error' | 'info' | 'success';
  title: string;
  message: string;
}

const MAX_VISIBLE = 5;
const INFO_MS = 5_000;

/** Toasts: every error the app cannot show in place ends up here, in words. */
export const useNotifications = defineStore('notifications', () => {
  const items = ref<Notice[]>([]);
  let nextId = 1;

  function push(n: Omit<Notice, 'id'>): number {
    const id = nextId++;
    // The same message twice in a row (e.g. a retried request) is shown once.
    const last = items.value.at(-1);
    if (last && last.title === n.title && last.message === n.message) return last.id;
    items.value.push({ ...n, id });
    if (items.value.length > MAX_VISIBLE) items.value.splice(0, items.value.length - MAX_VISIBLE);
    if (n.kind !== 'error') setTimeout(() => dismiss(id), INFO_MS);
    return id;
  }

  /**
   * Shows an error; `context` says what the user was doing ("Saving settings"). A broken workspace is not toasted:
   * every request fails with it, and WorkspacePanel explains it once, in place — so make sure the panel knows.
   */
  function error(err: unknown, context?: string): number | null {
    if (err instanceof ApiError && err.code === 'workspace_unavailable') {
      void useWorkspace().load().catch(() => undefined);
      return null;
    }
    const title = context ?? (err instanceof ApiError ? errorTitles[err.code] : 'Something went wrong');
    return push({ kind: 'error', title, message: describeError(err) });
  }

  function info(title: string, message = ''): number {
    return push({ kind: 'info', title, message });
  }

  function success(title: string, message = ''): number {
    return push({ kind: 'success', title, message });
  }

  function dismiss(id: number) {
    items.value = items.value.filter((n) => n.id !== id);
  }

  return { items, push, error, info, success, dismiss };
});
