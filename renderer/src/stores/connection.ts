import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { Result } from '../../../common/api';
import { api, type ConnectionStatus } from '../api/client';

type AppInfo = Result<'app.info'>;

/** The link to the backend (state, retries) and what the backend says about itself. */
export const useConnection = defineStore('connection', () => {
  const status = ref<ConnectionStatus>(api.status);
  const info = ref<AppInfo | null>(null);
  const infoError = ref<string | null>(null);
  const transport = api.kind;
  const now = ref(Date.now());

  api.onStatus((s) => (status.value = s));

  const label = computed(() => {
    switch (status.value.state) {
      case 'open':
        return 'Connected';
      case 'connecting':
        return 'Connecting…';
      case 'reconnecting':
        return 'Reconnecting…';
      case 'unauthorized':
        return 'Not authorised';
    }
    return 'Unknown';
  });

  /** Seconds until the next reconnect attempt, for the banner. */
  const retryIn = computed(() => {
    const at = status.value.nextAttemptAt;
    return at ? Math.max(0, Math.ceil((at - now.value) / 1000)) : null;
  });
  setInterval(() => (now.value = Date.now()), 500);

  return { status, info, infoError, transport, label, retryIn, retryNow: () => api.retryNow() };
});
