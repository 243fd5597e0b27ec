/*
 * Dates, numbers and sizes formatted with Intl in the UI language.
 */
import { computed } from 'vue'
import { lang } from '@/i18n'

export function useFormat() {
  const dateTime = computed(() => new Intl.DateTimeFormat(lang.value, { dateStyle: 'medium', timeStyle: 'short' }))
  const dateOnly = computed(() => new Intl.DateTimeFormat(lang.value, { month: 'short', day: 'numeric' }))
  const num = computed(() => new Intl.NumberFormat(lang.value))
  const pct = computed(() => new Intl.NumberFormat(lang.value, { maximumFractionDigits: 2 }))

  /** A timestamp as date and time, or an em dash. */
  function formatDate(v: string | null | undefined): string {
    if (!v) return '—'
    const d = new Date(v)
    return isNaN(d.getTime()) ? v : dateTime.value.format(d)
  }
  /** A day (YYYY-MM-DD) as a short date, for chart axes. */
  function formatDay(v: string): string {
    const d = new Date(v + (v.length === 10 ? 'T00:00:00' : ''))
    return isNaN(d.getTime()) ? v : dateOnly.value.format(d)
  }
  function formatNumber(v: number | null | undefined): string {
    return v === null || v === undefined ? '—' : num.value.format(v)
  }
  /** A percentage (0..100) with up to two decimals and a % sign. */
  function formatPercent(v: number | string | null | undefined): string {
    if (v === null || v === undefined || v === '') return '—'
    return pct.value.format(Number(v)) + '%'
  }
  /** A byte count as B, KB, MB, GB. */
  function formatSize(v: number | null | undefined): string {
    if (v === null || v === undefined) return '—'
    const units = ['B', 'KB', 'MB', 'GB', 'TB']
    let n = v
    let i = 0
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024
      i++
    }
    return new Intl.NumberFormat(lang.value, { maximumFractionDigits: i ? 1 : 0 }).format(n) + ' ' + units[i]
  }
  return { formatDate, formatDay, formatNumber, formatPercent, formatSize }
}
