/*
 * A function that runs only after calls to it have paused for `ms`.
 */
import { onBeforeUnmount } from 'vue'

export function useDebounced<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined
  const cancel = () => timer !== undefined && clearTimeout(timer)
  onBeforeUnmount(cancel)
  return (...args: A) => {
    cancel()
    timer = setTimeout(() => fn(...args), ms)
  }
}

/** A function that runs at most once every `ms` (the last call in a burst always runs). */
export function useThrottled(fn: () => void, ms: number) {
  let last = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  onBeforeUnmount(() => timer !== undefined && clearTimeout(timer))
  return () => {
    const wait = last + ms - Date.now()
    if (wait <= 0) {
      last = Date.now()
      fn()
    } else if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined
        last = Date.now()
        fn()
      }, wait)
    }
  }
}
