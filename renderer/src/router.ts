import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';

/** One entry per area of the app; the navigation is built from this list. */
export const areas = [
  { path: '/start', name: 'start', title: 'Start', icon: 'start', component: () => import('./views/StartView.vue') },
  { path: '/models', name: 'models', title: 'Models', icon: 'models', component: () => import('./views/ModelsView.vue') },
  { path: '/train', name: 'train', title: 'Train', icon: 'train', component: () => import('./views/TrainView.vue') },
  { path: '/experts', name: 'experts', title: 'Experts', icon: 'experts', component: () => import('./views/ExpertsView.vue') },
  { path: '/resection', name: 'resection', title: 'Resection', icon: 'resection', component: () => import('./views/ResectionView.vue') },
  { path: '/datasets', name: 'datasets', title: 'Datasets', icon: 'datasets', component: () => import('./views/DatasetsView.vue') },
  { path: '/saes', name: 'saes', title: 'SAEs', icon: 'saes', component: () => import('./views/SaesView.vue') },
  { path: '/jobs', name: 'jobs', title: 'Jobs', icon: 'jobs', component: () => import('./views/JobsView.vue') },
  { path: '/settings', name: 'settings', title: 'Settings', icon: 'settings', component: () => import('./views/SettingsView.vue') },
] as const;

export type AreaIcon = (typeof areas)[number]['icon'];

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/start' },
  ...areas.map((a) => ({ path: a.path, name: a.name, component: a.component, meta: { title: a.title } })),
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue'), meta: { title: 'Not found' } },
];

// Hash history: works from file:// in Electron and needs no server-side routes under `resect serve`.
export const router = createRouter({ history: createWebHashHistory(), routes });

router.afterEach((to) => {
  const title = (to.meta as { title?: string }).title;
  document.title = title ? `${title} — Resect` : 'Resect';
});
