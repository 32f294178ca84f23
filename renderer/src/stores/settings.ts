import { defineStore } from 'pinia';
import { computed, ref, watch } from 'vue';
import type { DeviceInfo, Settings } from '../../../common/api';
import { api } from '../api/client';

export type Theme = Settings['theme'];
const THEME_KEY = 'resect.theme';

/** Applies a theme to the document: `system` follows prefers-color-scheme through CSS. */
export function applyTheme(theme: Theme) {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(THEME_KEY, theme); // so the next launch starts in the right colours before connecting
  } catch {
    /* storage disabled */
  }
}

export function storedTheme(): Theme {
  try {
    const t = localStorage.getItem(THEME_KEY);
    if (t === 'dark' || t === 'light' || t === 'system') return t;
  } catch {
    /* storage disabled */
  }
  return 'system';
}

/** User settings (saved by the backend) and the compute devices this machine offers. */
export const useSettings = defineStore('settings', () => {
  const settings = ref<Settings | null>(null);
  const devices = ref<DeviceInfo[]>([]);
  const saving = ref(false);
  const theme = computed<Theme>(() => settings.value?.theme ?? storedTheme());

  watch(theme, applyTheme, { immediate: true });

  async function load() {
    const [s, d] = await Promise.all([api.request('settings.get', {}), api.request('system.devices', {})]);
    settings.value = s;
    devices.value = d;
  }

  /** Saves a partial change; throws ApiError (with the backend's reason) when it is refused. */
  async function update(patch: Partial<Settings>): Promise<Settings> {
    saving.value = true;
    try {
      const next = await api.request('settings.update', patch);
      settings.value = next;
      return next;
    } finally {
      saving.value = false;
    }
  }

  api.on('settings.changed', (s) => (settings.value = s));

  return { settings, devices, saving, theme, load, update };
});
