/*
 * vue-i18n set up from the catalogs shared with rollout-http (../i18n/*.json:
 * flat objects with dotted keys). The chosen language is remembered in
 * localStorage, defaults from the browser, and also decides Element Plus's
 * locale, the Accept-Language sent to the API and the Intl formats.
 */
import { computed, ref } from 'vue'
import { createI18n } from 'vue-i18n'
import en from '@i18n/en.json'
import zhCN from '@i18n/zh-CN.json'

export type Lang = 'en' | 'zh-CN'
// each language is offered under its own name, from its own catalog ("ui.lang.self"), whatever the UI language
export const LANGS: { value: Lang; label: string }[] = [
  { value: 'zh-CN', label: zhCN['ui.lang.self'] },
  { value: 'en', label: en['ui.lang.self'] },
]
const STORAGE_KEY = 'rollout.lang'

function initialLang(): Lang {
  const saved = localStorage.getItem(STORAGE_KEY)
  if (saved === 'en' || saved === 'zh-CN') return saved
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLang(),
  fallbackLocale: 'en',
  flatJson: true,
  missingWarn: false,
  fallbackWarn: false,
  messages: { en, 'zh-CN': zhCN } as Record<Lang, Record<string, string>>,
})

const current = ref<Lang>(i18n.global.locale.value as Lang)
document.documentElement.lang = current.value

/** The UI language, reactive. */
export const lang = computed(() => current.value)

/** Switches the UI language and remembers it for this browser. */
export function setLang(l: Lang): void {
  current.value = l
  i18n.global.locale.value = l
  localStorage.setItem(STORAGE_KEY, l)
  document.documentElement.lang = l
}

/** Picks the text for the UI language from a {locale: text} object (channel names, per-locale notes). */
export function localized(obj: Record<string, string> | null | undefined, fallback = ''): string {
  if (!obj) return fallback
  const l = current.value
  return obj[l] || obj[l.split('-')[0]] || obj.en || Object.values(obj)[0] || fallback
}
