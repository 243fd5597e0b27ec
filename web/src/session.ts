/*
 * The login session: the bearer token lives only in sessionStorage (one tab,
 * gone when it closes; never in a URL), with the account it belongs to.
 * endSession() is called by the API client on a 401 and keeps the server's
 * message for the login page to show.
 */
import { reactive } from 'vue'
import type { Role } from './api'

const TOKEN_KEY = 'rollout.token'
const USER_KEY = 'rollout.user'

interface User { username: string; role: Role; project: string | null }

function savedUser(): User | null {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null') as User | null
  } catch {
    return null
  }
}

export const session = reactive({
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  user: savedUser(),
  /** why the last session ended (shown on the login page) */
  notice: '',
})

type Listener = () => void
const onEnd: Listener[] = []

/** Registers what to do when the session ends (the router sends the user to the login page). */
export function onSessionEnd(fn: Listener): void {
  onEnd.push(fn)
}

/** Starts a session after a login. */
export function startSession(token: string, user: User): void {
  session.token = token
  session.user = user
  session.notice = ''
  sessionStorage.setItem(TOKEN_KEY, token)
  sessionStorage.setItem(USER_KEY, JSON.stringify(user))
}

/** Updates the account details (after GET /me). */
export function setUser(user: User): void {
  session.user = user
  sessionStorage.setItem(USER_KEY, JSON.stringify(user))
}

/** Ends the session; `notice` is shown on the login page. */
export function endSession(notice = ''): void {
  const had = !!session.token
  session.token = ''
  session.user = null
  session.notice = notice
  sessionStorage.removeItem(TOKEN_KEY)
  sessionStorage.removeItem(USER_KEY)
  if (had) onEnd.forEach((fn) => fn())
}

/** Whether the account has at least this role. */
export function hasRole(min: Role): boolean {
  const rank = { viewer: 0, maintainer: 1, admin: 2 }
  return !!session.user && rank[session.user.role] >= rank[min]
}
