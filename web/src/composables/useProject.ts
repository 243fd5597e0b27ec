/*
 * The project the UI works on: chosen in the header's switcher, remembered in
 * localStorage, shared by every page (each page reloads when it changes).
 */
import { ref, watch } from 'vue'
import { api, type Project } from '@/api'
import { session } from '@/session'

const STORAGE_KEY = 'rollout.project'
const current = ref<string>(localStorage.getItem(STORAGE_KEY) || 'default')
const projects = ref<Project[]>([])
const loaded = ref(false)

watch(current, (slug) => localStorage.setItem(STORAGE_KEY, slug))

/** Loads the project list; keeps the remembered project if it still exists. */
async function loadProjects(): Promise<void> {
  projects.value = await api.get<Project[]>('/projects')
  loaded.value = true
  applyScope()
}

/** An account scoped to one project works on that one; others keep a project that exists. */
function applyScope(): void {
  if (!loaded.value) return
  const own = session.user?.project
  if (own && session.user?.role !== 'admin') current.value = own
  else if (projects.value.length && !projects.value.some((p) => p.slug === current.value)) {
    current.value = projects.value[0].slug
  }
}

export function useProject() {
  return { project: current, projects, loaded, loadProjects, applyScope }
}
