/*
 * Hash routing (no server fallback needed), one lazily loaded chunk per page,
 * and a guard that sends anyone without a session to the login page.
 */
import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'
import { session, onSessionEnd, hasRole } from './session'
import { prefetch, type Role } from './api'
import { useProject } from './composables/useProject'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    title?: string
    role?: Role
    /** GETs the page will make first: started while its code loads */
    prefetch?: (project: string) => void
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./pages/login/LoginPage.vue'), meta: { public: true, title: 'ui.login.title' } },
  {
    path: '/',
    component: () => import('./components/AppLayout.vue'),
    children: [
      { path: '', redirect: '/dashboard' },
      { path: 'dashboard', name: 'dashboard', component: () => import('./pages/dashboard/DashboardPage.vue'), meta: { title: 'ui.nav.dashboard', prefetch: (project) => prefetch('/dashboard', { project }) } },
      { path: 'versions', name: 'versions', component: () => import('./pages/versions/VersionsPage.vue'), meta: { title: 'ui.nav.versions' } },
      { path: 'versions/new', name: 'version-new', component: () => import('./pages/versions/VersionEditPage.vue'), meta: { title: 'ui.versions.create', role: 'maintainer' } },
      { path: 'versions/:id(\\d+)', name: 'version-edit', component: () => import('./pages/versions/VersionEditPage.vue'), props: true, meta: { title: 'ui.versions.edit' } },
      { path: 'channels', name: 'channels', component: () => import('./pages/channels/ChannelsPage.vue'), meta: { title: 'ui.nav.channels' } },
      { path: 'rules', name: 'rules', component: () => import('./pages/rules/RulesPage.vue'), meta: { title: 'ui.nav.rules' } },
      { path: 'mirrors', name: 'mirrors', component: () => import('./pages/mirrors/MirrorsPage.vue'), meta: { title: 'ui.nav.mirrors' } },
      { path: 'stats', name: 'stats', component: () => import('./pages/stats/StatsPage.vue'), meta: { title: 'ui.nav.stats' } },
      { path: 'approvals', name: 'approvals', component: () => import('./pages/approvals/ApprovalsPage.vue'), meta: { title: 'ui.nav.approvals' } },
      { path: 'simulator', name: 'simulator', component: () => import('./pages/simulator/SimulatorPage.vue'), meta: { title: 'ui.nav.simulator' } },
      { path: 'audit', name: 'audit', component: () => import('./pages/audit/AuditPage.vue'), meta: { title: 'ui.nav.audit' } },
      { path: 'accounts', name: 'accounts', component: () => import('./pages/accounts/AccountsPage.vue'), meta: { title: 'ui.nav.accounts', role: 'admin' } },
      { path: 'tokens', name: 'tokens', component: () => import('./pages/tokens/TokensPage.vue'), meta: { title: 'ui.nav.tokens' } },
      { path: 'projects', name: 'projects', component: () => import('./pages/projects/ProjectsPage.vue'), meta: { title: 'ui.nav.projects' } },
      { path: 'password', name: 'password', component: () => import('./pages/password/PasswordPage.vue'), meta: { title: 'ui.password.title' } },
    ],
  },
  { path: '/:pathMatch(.*)*', redirect: '/dashboard' },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

router.beforeEach((to) => {
  if (!to.meta.public && !session.token) {
    return { name: 'login', query: to.fullPath !== '/' && to.fullPath !== '/dashboard' ? { next: to.fullPath } : {} }
  }
  if (to.name === 'login' && session.token) return { name: 'dashboard' }
  if (to.meta.role && !hasRole(to.meta.role)) return { name: 'dashboard' }
  to.meta.prefetch?.(useProject().project.value)
  return true
})

onSessionEnd(() => {
  if (router.currentRoute.value.name !== 'login') {
    const next = router.currentRoute.value.fullPath
    router.replace({ name: 'login', query: next && next !== '/dashboard' ? { next } : {} })
  }
})
