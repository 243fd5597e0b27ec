/*
 * Entry point: Vue app with the router, vue-i18n and Element Plus's loading
 * directive (components themselves are imported on demand by the build).
 */
import { createApp } from 'vue'
import { vLoading } from 'element-plus/es/components/loading/index.mjs'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/loading/style/css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './styles.css'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'

createApp(App).use(router).use(i18n).directive('loading', vLoading).mount('#app')
