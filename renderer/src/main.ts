import { createApp, watch } from 'vue';
import { createPinia } from 'pinia';
import App from './App.vue';
import { router } from './router';
import { api, startApi } from './api/client';
import { applyTheme, storedTheme, useSettings } from './stores/settings';
import { useNotifications } from './stores/notifications';
import { useJobs } from './stores/jobs';
import { useWorkspace } from './stores/workspace';
import { useConnection } from './stores/connection';
import './styles/theme.css';
import './styles/base.css';

applyTheme(storedTheme()); // before the first paint, so there is no flash of the wrong theme

const app = createApp(App);
const pinia = createPinia();
app.use(pinia).use(router);

const notifications = useNotifications();

// Global error boundary: anything thrown and not handled in place becomes a readable toast, never a blank screen.
app.config.errorHandler = (err, _instance, info) => {
  console.error(`[resect] ${info}`, err);
  notifications.error(err);
};
window.addEventListener('unhandledrejection', (ev) => {
  console.error('[resect] unhandled rejection', ev.reason);
  notifications.error(ev.reason);
  ev.preventDefault();
});
window.addEventListener('error', (ev) => {
  if (ev.error) notifications.error(ev.error);
});

// State that lives on the backend is fetched on every (re)connection.
useConnection();
const workspace = useWorkspace();
const settings = useSettings();
const jobs = useJobs();
const report = (what: string) => (e: unknown) => notifications.error(e, what);
api.onConnected(({ reconnected }) => {
  workspace.load().catch(report('Loading workspace'));
  settings.load().catch(report('Loading settings'));
  jobs.refresh().catch(report('Loading jobs'));
  if (reconnected) notifications.info('Reconnected', 'The connection to the backend is back.');
});
// Jobs and settings belong to the workspace: reload them when another one is opened.
watch(
  () => (workspace.info ? `${workspace.info.path}\n${workspace.info.ok}` : null),
  (now, before) => {
    if (!before || now === before || !workspace.ok) return;
    settings.load().catch(report('Loading settings'));
    jobs.refresh().catch(report('Loading jobs'));
  },
);

app.mount('#app');
startApi();
