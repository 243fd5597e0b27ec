/*
 * Vite build of the admin UI. The message catalogs live outside web/ (../i18n,
 * shared with rollout-http), so they are reached through the @i18n alias and
 * the dev server is allowed to read the parent folder. Element Plus components
 * are imported on demand by the resolver (only the ones a template uses, with
 * their CSS); vue-i18n is built with its JIT message compiler (no eval, so the
 * app runs under `script-src 'self'`). Files over 1 KB also get a .gz copy,
 * which rollout-http sends to clients that accept gzip.
 */
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { fileURLToPath } from 'node:url'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const src = fileURLToPath(new URL('./src', import.meta.url))
const i18nDir = fileURLToPath(new URL('../i18n', import.meta.url))

// Writes name.gz beside every compressible file of the output larger than 1 KB.
function gzipCopies(): Plugin {
  let outDir = ''
  return {
    name: 'rollout-gzip',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir
    },
    closeBundle() {
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name)
          if (statSync(path).isDirectory()) {
            walk(path)
          } else if (/\.(js|css|html|svg|json)$/.test(name) && statSync(path).size > 1024) {
            writeFileSync(path + '.gz', gzipSync(readFileSync(path), { level: 9 }))
          }
        }
      }
      walk(outDir)
    },
  }
}

export default defineConfig({
  base: './',
  resolve: {
    alias: { '@': src, '@i18n': i18nDir },
  },
  define: {
    __VUE_I18N_FULL_INSTALL__: 'true',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
    __INTLIFY_JIT_COMPILATION__: 'true',
    __INTLIFY_DROP_MESSAGE_COMPILER__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
  },
  plugins: [
    vue(),
    Components({
      dirs: [],
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
      dts: 'src/components.d.ts',
    }),
    gzipCopies(),
  ],
  server: {
    fs: { allow: ['..'] },
    proxy: {
      '/admin/api': { target: process.env.ROLLOUT_API || 'http://127.0.0.1:8080', ws: true },
    },
  },
  // `vite preview` serves dist with rollout-http's Content-Security-Policy, to check the build under it
  preview: {
    headers: {
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
    },
  },
  build: {
    manifest: true,
    target: 'es2020',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      output: {
        // merge the many tiny chunks code splitting makes (Element Plus helpers, composables)
        // into their neighbours: fewer round trips on the first visit (bench/ui)
        experimentalMinChunkSize: 8192,
        manualChunks(id) {
          if (/node_modules\/(@vue|vue|vue-router|vue-i18n|@intlify)\//.test(id)) return 'vue'
          if (/node_modules\/(markdown-it|mdurl|uc\.micro|linkify-it|punycode\.js|entities|dompurify)\//.test(id)) return 'markdown'
          return undefined
        },
      },
    },
  },
})
