/*
 * The one client of rollout-http's admin API. Every call goes through
 * request(): it adds the bearer token and Accept-Language (so the server's
 * `message` comes back in the UI language), unwraps the envelope
 * {code, message, data}, and turns failures into ApiError carrying the
 * server's localized message. A 401 ends the session and sends the user back
 * to the login page with that message. Uploads use XHR for their progress.
 */
import { lang } from './i18n'
import { i18n } from './i18n'
import { session, endSession } from './session'

export const API_BASE = '/admin/api/v1'

export class ApiError extends Error {
  status: number
  sqlstate?: string
  field?: string
  detail?: string
  constructor(status: number, message: string, error?: { sqlstate?: string; field?: string; detail?: string }) {
    super(message)
    this.status = status
    this.sqlstate = error?.sqlstate
    this.field = error?.field
    this.detail = error?.detail
  }
}

type Query = Record<string, string | number | boolean | null | undefined>

function url(path: string, query?: Query): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const s = q.toString()
  return API_BASE + path + (s ? '?' + s : '')
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = { 'Accept-Language': lang.value, Accept: 'application/json' }
  if (json) h['Content-Type'] = 'application/json'
  if (session.token) h.Authorization = 'Bearer ' + session.token
  return h
}

interface Envelope<T> {
  code: number
  message: string
  data: T
  error?: { sqlstate?: string; field?: string; detail?: string }
}

// Turns an HTTP answer into data or an ApiError (and a 401 into the end of the session).
function settle<T>(status: number, text: string, authenticated: boolean): T {
  let env: Envelope<T> | null = null
  try {
    env = text ? (JSON.parse(text) as Envelope<T>) : null
  } catch {
    env = null
  }
  if (status >= 200 && status < 300 && env) return env.data
  const message = env?.message || i18n.global.t('ui.error.http', { status })
  // the token is no good (28000: missing, expired, revoked, account disabled); a wrong
  // password given to change it (28P01) is the caller's error, not the end of the session
  if (status === 401 && authenticated && env?.error?.sqlstate !== '28P01') endSession(message)
  throw new ApiError(status, message, env?.error)
}

/** Sends one API request and returns its `data`. */
export async function request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const authenticated = !!session.token
  let res: Response
  try {
    res = await fetch(url(path, opts.query), {
      method,
      headers: headers(opts.body !== undefined),
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
      cache: 'no-store',
    })
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e
    throw new ApiError(0, i18n.global.t('ui.error.network'))
  }
  return settle<T>(res.status, await res.text(), authenticated)
}

/*
 * GETs started ahead of time (prefetch), taken once by the first matching
 * api.get within a few seconds: the router asks for a page's data while the
 * page's code is still loading, instead of after it has mounted.
 */
const early = new Map<string, { at: number; promise: Promise<unknown> }>()

/** Starts GET path?query now, for the api.get that will ask for it. */
export function prefetch(path: string, query?: Query): void {
  const key = url(path, query)
  const promise = request('GET', path, { query })
  promise.catch(() => {}) // the taker sees the error; an untaken one is dropped
  early.set(key, { at: Date.now(), promise })
}

function takeEarly<T>(path: string, query?: Query): Promise<T> | undefined {
  const key = url(path, query)
  const e = early.get(key)
  early.delete(key)
  return e && Date.now() - e.at < 5000 ? (e.promise as Promise<T>) : undefined
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => takeEarly<T>(path, query) ?? request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body: unknown = {}, query?: Query) => request<T>('POST', path, { body, query }),
  put: <T>(path: string, body: unknown = {}, query?: Query) => request<T>('PUT', path, { body, query }),
  del: <T>(path: string, query?: Query) => request<T>('DELETE', path, { query }),
}

/** Uploads a file as the raw request body; onProgress gets 0..100. */
export function upload<T>(path: string, query: Query, file: File, onProgress: (percent: number) => void): { promise: Promise<T>; abort: () => void } {
  const xhr = new XMLHttpRequest()
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open('POST', url(path, query))
    for (const [k, v] of Object.entries(headers(false))) xhr.setRequestHeader(k, v)
    xhr.setRequestHeader('Content-Type', 'application/octet-stream')
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100))
    }
    xhr.onload = () => {
      try {
        resolve(settle<T>(xhr.status, xhr.responseText, true))
      } catch (e) {
        reject(e)
      }
    }
    xhr.onerror = () => reject(new ApiError(0, i18n.global.t('ui.error.network')))
    xhr.onabort = () => reject(new ApiError(0, i18n.global.t('ui.error.aborted')))
    xhr.send(file)
  })
  return { promise, abort: () => xhr.abort() }
}

/** The message to show for any error thrown by the API client or elsewhere. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message
  if (e instanceof Error && e.message) return e.message
  return i18n.global.t('ui.error.unknown')
}

// ---- shapes of the API's objects ----

export type Role = 'admin' | 'maintainer' | 'viewer'
export type VersionStatus = 'draft' | 'published' | 'paused' | 'yanked'

export interface LoginResult { token: string; expires_at: string; username: string; role: Role; project: string | null }
export interface Me { admin_id: number; username: string; role: Role; project: string | null }
export interface Page<T> { items: T[]; total: number; page: number; limit: number }

export interface Project {
  id: number; slug: string; name: string; default_channel: string
  failure_threshold: number; failure_min_samples: number; retention_days: number
  record_check_events: boolean; require_approval?: boolean; created_at: string
}
export interface Artifact { id: number; version_id: number; os: string; arch: string; file_url: string; file_size: number | null; file_checksum: string | null; created_at?: string }
export interface Version {
  id: number; project: string; version: string; tag: string; channel: string
  title: string; title_i18n: Record<string, string>; description: string
  release_notes: string; release_notes_i18n: Record<string, string>; breaking_changes: string
  min_upgrade_version: string | null; file_url: string | null; file_size: number | null; file_checksum: string | null
  is_forced: boolean; status: VersionStatus; is_published: boolean; publish_time: string | null
  rollout_percentage: number | null; paused_reason: string | null
  created_at: string; updated_at: string | null; artifacts: Artifact[]
}
export interface Channel {
  id: number; name: string; display_name: Record<string, string>; description: Record<string, string>
  is_active: boolean; auto_publish: boolean; rollout_percentage: number; rank: number
}
export interface Mirror { id: number; region: string; base_url: string; created_at: string }
export interface RolloutConfig { percentage?: number; block?: boolean; pin?: string; channel?: string }
export interface Rule {
  id: number; name: string; priority: number; enabled: boolean
  target_region: string | null; target_version_range: string | null; target_os: string | null; target_arch: string | null
  rollout_config: RolloutConfig; created_at: string
}
export interface Admin { id: number; username: string; role: Role; project_id: number | null; project?: string | null; is_active: boolean; created_at: string }
export interface ApiToken { id: number; username: string; name: string; created_at: string; expires_at: string; revoked_at: string | null; last_used_at: string | null }
export interface NewToken { id: number; token: string; name: string; expires_at: string }
export interface AuditEntry { id: number; at: string; actor: string; action: string; object_type: string; object_id: number | null; project_id: number | null; before: unknown; after: unknown }
export interface Approval {
  id: number; project: string; version_id: number; version: string; channel: string
  requested_by: string; requested_at: string; publish_at: string | null
  status: 'pending' | 'approved' | 'rejected'; decided_by: string | null; decided_at: string | null; comment: string | null
}
export interface Cohort { version_id: number; percentage: number; current_percentage: number; audience: number; inside: number; inside_now: number }
export interface Dashboard {
  total_clients: number; active_24h: number; checks_today: number; install_success_rate: number | null
  channels: { channel: string; display_name: Record<string, string> | string | null; latest_version: string | null; version_id: number | null; publish_time: string | null; adoption_rate: number | null }[]
  trend: { day: string; checks: number; downloads: number; successes: number; failures: number }[]
  pending_approvals: number
}
export interface StatsOverview {
  total_clients: number; active_clients_today: number; checks_today: number; success_rate_7d: number | null
  published_versions: number; totals: Record<string, { events: number; clients: number }>
}
export interface DistributionRow { version: string; clients: number; share: number }
export interface RegionRow { region: string; clients: number; share: number }
export interface FunnelRow { version: string; status: string; offered: number; downloaded: number; succeeded: number; failed: number; success_rate: number | null }
export interface TrendRow { day: string; action: string; events: number; clients: number }
export interface SimStep { step: string; version?: string; outcome: string; detail?: unknown }
export interface SimResult {
  has_update: boolean; latest_version?: string | null; download_url?: string | null; file_size?: number | null
  file_checksum?: string | null; is_forced?: boolean; title?: string; release_notes?: string
  min_upgrade_version?: string | null; publish_time?: string | null; is_rollback?: boolean
  reason?: unknown; steps?: SimStep[]
}
