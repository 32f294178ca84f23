import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { WorkspaceInfo } from '../../../common/api';
import { api } from '../api/client';
import { describeError } from '../api/errors';
import { useConnection } from './connection';

/** The workspace folder: which one is open, whether it works, and switching to another. */
export const useWorkspace = defineStore('workspace', () => {
  const info = ref<WorkspaceInfo | null>(null);
  const opening = ref(false);
  const openError = ref<string | null>(null);

  const ok = computed(() => info.value?.ok ?? true);

  async function load() {
    const connection = useConnection();
    try {
      const appInfo = await api.request('app.info', {});
      connection.info = appInfo;
      connection.infoError = null;
      info.value = appInfo.workspace;
    } catch (e) {
      connection.infoError = describeError(e);
      throw e;
    }
  }

  /** Opens (creating if needed) another workspace folder. Returns whether it worked; the reason is in openError. */
  async function open(path: string): Promise<boolean> {
    opening.value = true;
    openError.value = null;
    try {
      const result = await api.request('workspace.open', { path });
      info.value = result;
      if (!result.ok) openError.value = result.error ?? 'The workspace could not be opened.';
      return result.ok;
    } catch (e) {
      openError.value = describeError(e);
      return false;
    } finally {
      opening.value = false;
    }
  }

  api.on('workspace.changed', (w) => (info.value = w));

  return { info, ok, opening, openError, load, open };
});
