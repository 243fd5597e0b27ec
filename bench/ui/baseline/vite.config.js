// The same output options as web/: relative base, gzip copies of files over 1 KB.
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

function gzipCopies() {
  let outDir = ''
  return {
    name: 'gzip-copies',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir
    },
    closeBundle() {
      const walk = (dir) => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name)
          if (statSync(path).isDirectory()) walk(path)
          else if (/\.(js|css|html)$/.test(name) && statSync(path).size > 1024)
            writeFileSync(path + '.gz', gzipSync(readFileSync(path), { level: 9 }))
        }
      }
      walk(outDir)
    },
  }
}

export default defineConfig({
  base: './',
  plugins: [vue(), gzipCopies()],
  build: { target: 'es2020', modulePreload: { polyfill: false }, chunkSizeWarningLimit: 2000 },
})
