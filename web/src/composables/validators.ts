/*
 * Form rules that mirror the server's checks, with messages from the catalog.
 */
import type { FormItemRule } from 'element-plus'
import { i18n } from '@/i18n'

// SemVer 2.0.0, with an optional leading v/V as the server accepts it
export const SEMVER_RE =
  /^\s*[vV]?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\s*$/
export const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/
export const REGION_RE = /^[a-z0-9][a-z0-9-]{0,31}$/
export const PLATFORM_RE = /^[a-z0-9_]{1,32}$/
export const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
export const URL_RE = /^https?:\/\/\S+$/

const t = (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {})

export function required(field: string, trigger: 'blur' | 'change' = 'blur'): FormItemRule {
  return { required: true, trigger, message: () => t('error.required', { field: t(field) }) }
}

export function pattern(re: RegExp, messageKey: string, optional = true): FormItemRule {
  return {
    trigger: 'blur',
    validator: (_r, v: unknown, cb) => {
      const s = v === null || v === undefined ? '' : String(v)
      if ((optional && s.trim() === '') || re.test(s)) cb()
      else cb(new Error(t(messageKey)))
    },
  }
}

export function semver(optional = false): FormItemRule {
  return pattern(SEMVER_RE, 'ui.validation.semver', optional)
}

export function percentage(): FormItemRule {
  return {
    trigger: 'change',
    validator: (_r, v: unknown, cb) => {
      if (v === null || v === undefined || v === '') return cb()
      const n = Number(v)
      if (Number.isFinite(n) && n >= 0 && n <= 100) cb()
      else cb(new Error(t('ui.validation.percentage')))
    },
  }
}
