/*
 * The live event stream: a single-use ticket from POST /live/ticket opens the
 * websocket (the bearer token never goes into a URL); when the socket closes
 * it reconnects with a fresh ticket, backing off up to 30 s. Pages pass a
 * handler, usually a throttled reload.
 */
import { onBeforeUnmount, onMounted, ref } from 'vue'
import { api, API_BASE } from '@/api'
import { session } from '@/session'

export interface LiveEvent { type?: string; table?: string; op?: string; project_id?: number; [k: string]: unknown }

export function useLive(onEvent: (e: LiveEvent) => void) {
  const connected = ref(false)
  let ws: WebSocket | null = null
  let stopped = false
  let retry = 1000
  let timer: ReturnType<typeof setTimeout> | undefined

  async function connect() {
    if (stopped || !session.token) return
    try {
      const { ticket } = await api.post<{ ticket: string; expires_at: string }>('/live/ticket')
      if (stopped) return
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
      ws = new WebSocket(`${proto}//${location.host}${API_BASE}/live?ticket=${encodeURIComponent(ticket)}`)
      ws.onopen = () => {
        connected.value = true
        retry = 1000
      }
      ws.onmessage = (m) => {
        let e: LiveEvent
        try {
          e = JSON.parse(String(m.data)) as LiveEvent
        } catch {
          return /* not JSON: ignore */
        }
        // the greeting says the socket is open, not that anything changed
        if (e.type !== 'hello') onEvent(e)
      }
      ws.onclose = () => {
        connected.value = false
        ws = null
        schedule()
      }
    } catch {
      schedule()
    }
  }
  function schedule() {
    if (stopped) return
    timer = setTimeout(connect, retry)
    retry = Math.min(retry * 2, 30000)
  }
  onMounted(connect)
  onBeforeUnmount(() => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
    ws?.close()
  })
  return { connected }
}
