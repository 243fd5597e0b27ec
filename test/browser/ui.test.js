// ui.test.js: the admin web UI end to end, in Debian's headless Chromium driven
// by playwright-core, against a real rollout-http serving web/dist and a real
// PostgreSQL database (test/run-browser.sh starts both and passes them in the
// environment: ROLLOUT_URL, ROLLOUT_DB, ROLLOUT_SERVER_PID, ROLLOUT_SCREENSHOTS;
// psql reaches the database through PGHOST/PGPORT/PGUSER).
//
// The tests run in order and share one logged-in browser tab, as a release
// manager would: seed clients through the client API, log in, read the
// dashboard, create a version, upload its artifact, publish it, move its
// rollout, watch statistics, run the decision simulator, switch to Chinese,
// log out. Each answer the UI shows is compared with the API's or the
// database's own answer. Elements are found by the data-test attributes listed
// in /work/contract.md ("UI test hooks"). Screenshots of every page in both
// languages go to ROLLOUT_SCREENSHOTS for a person to look at.
//
// Prints "ok N - name" / "not ok N - name" per test and ends with
// "N passed, N failed".
'use strict';
const { chromium } = require('playwright-core');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const base = process.env.ROLLOUT_URL;
const db = process.env.ROLLOUT_DB;
const shots = process.env.ROLLOUT_SCREENSHOTS || path.join(__dirname, '..', 'screenshots');
const serverPid = Number(process.env.ROLLOUT_SERVER_PID || 0);
const top = path.join(__dirname, '..', '..');
const en = JSON.parse(fs.readFileSync(path.join(top, 'i18n', 'en.json'), 'utf8'));
const zh = JSON.parse(fs.readFileSync(path.join(top, 'i18n', 'zh-CN.json'), 'utf8'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const ADMIN = { username: 'admin', password: 'admin-password-1' };
const API = '/admin/api/v1';

// ---------------------------------------------------------------------------
// the runner
// ---------------------------------------------------------------------------
const tests = [];
let passed = 0;
let failed = 0;
let known = 0;	// failures of tests marked knownBug
let current = null;	// the running test
/**
 * Declares a test; opts.httpErrors: the test provokes 4xx answers on purpose;
 * opts.knownBug: a product bug (reported) makes it fail for now: a failure is
 * printed as "not ok ... # TODO" and does not fail the suite, a pass says the
 * bug is fixed and the mark can go.
 */
function test(name, fn, opts = {}) {
  tests.push({ name, fn, opts });
}
class Failure extends Error {}
/** Fails the running test unless cond holds; info is printed with the failure. */
function assert(cond, message, info) {
  if (!cond) throw new Failure(message + (info === undefined ? '' : ': ' + JSON.stringify(info).slice(0, 1500)));
}
function assertEq(actual, expected, message) {
  assert(actual === expected, `${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}
/** Polls fn until it returns a truthy value (returned) or ms pass (the last value is returned). */
async function until(fn, ms = 10000, step = 100) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    try { v = await fn(); } catch (e) { v = undefined; }
    if (v || Date.now() > end) return v;
    await sleep(step);
  }
}

// ---------------------------------------------------------------------------
// the server, the database, the client API
// ---------------------------------------------------------------------------
/** Runs SQL in the suite's database and returns its unaligned output. */
function sql(query) {
  // rollout's operators (semver = semver) live in its schema
  return execFileSync('psql', ['-d', db, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', 'SET search_path = public, rollout', '-c', query],
    { encoding: 'utf8' }).trim();
}
/** One HTTP request to rollout-http; returns {status, json, text, headers}. */
async function http(method, p, body, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const init = { method, headers };
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) {
      init.body = body;
      headers['Content-Type'] = 'application/octet-stream';
    } else {
      init.body = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  const res = await fetch(base + p, init);
  const buf = Buffer.from(await res.arrayBuffer());
  const text = buf.toString('utf8');
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text, buf, headers: res.headers };
}
/** An API call that must succeed; returns its data. */
async function call(method, p, body, token) {
  const r = await http(method, p, body, { token });
  assert(r.status === 200 && r.json && r.json.code === 200, `${method} ${p} failed`, { status: r.status, body: r.text.slice(0, 500) });
  return r.json.data;
}
const checkUpdate = (body) => call('POST', '/api/v1/check-update', body);

// ---------------------------------------------------------------------------
// the browser
// ---------------------------------------------------------------------------
const T = (name) => `[data-test="${name}"]`;
let browser;
let ctx;	// the tab of the release manager
let page;
let axeCtx;	// a second context with CSP bypassed, for axe-core only
const consoleErrors = [];	// {test, page, text, httpError}

/** Records console errors, uncaught exceptions and failed requests of a page. */
function watch(p, label) {
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    consoleErrors.push({ test: current && current.name, page: label + ' ' + p.url(), text,
      httpError: /Failed to load resource: the server responded with a status of 4\d\d/.test(text) && current && current.opts.httpErrors });
  });
  p.on('pageerror', (e) => consoleErrors.push({ test: current && current.name, page: label + ' ' + p.url(), text: 'uncaught ' + e.message }));
  p.on('websocket', (ws) => {
    const entry = { url: ws.url(), open: true, frames: 0 };
    sockets.push(entry);
    ws.on('framereceived', () => { entry.frames++; });
    ws.on('close', () => { entry.open = false; });
  });
}
const sockets = [];	// websockets the pages opened: {url, open, frames}

// a script run before the page's own: records CSP violations (CDP runs it whatever the page's CSP says)
function recordViolations() {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
  });
}

async function newContext(options = {}) {
  const c = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', ...options });
  await c.addInitScript(recordViolations);
  c.setDefaultTimeout(10000);
  return c;
}

/** Text a person sees on the page: visible text plus placeholders, titles and labels. */
function visibleText(p) {
  return p.evaluate(() => {
    const attrs = [...document.querySelectorAll('[placeholder],[title],[aria-label]')]
      .filter((e) => e.getClientRects().length)
      .flatMap((e) => ['placeholder', 'title', 'aria-label'].map((a) => e.getAttribute(a)).filter(Boolean));
    return document.body.innerText + '\n' + attrs.join('\n') + '\n' + document.title;
  });
}
const RAW_KEY = /\b(?:ui\.[a-z_.]+|error\.[a-z_]+)/g;

// the pages of the navigation (an admin sees them all); each has a root element page-<name>
const NAV = ['dashboard', 'versions', 'channels', 'rules', 'mirrors', 'stats', 'approvals', 'simulator', 'audit', 'accounts', 'tokens', 'projects'];
const PAGE_READY = Object.fromEntries(NAV.map((n) => [n, 'page-' + n]));

/** Goes to a page of the UI by its hash route and waits until its hook shows and the network is quiet. */
async function visit(hash, ready, p = page) {
  // the same URL again is no navigation: reload, so that the page loads its data anew
  if (p.url() === base + '/#' + hash) await p.reload();
  else await p.goto(base + '/#' + hash);
  if (ready) await p.waitForSelector(T(ready), { state: 'visible' });
  await p.waitForLoadState('networkidle').catch(() => {});
}
/** Opens a tab of the version editor (details, artifacts, rollout). */
async function openTab(name) {
  await page.click(T('version-tab-' + name));
}

/** The element of a hook, or its first input when the hook is on a wrapper (Element Plus inputs). */
async function inputOf(hook, p = page) {
  const el = p.locator(T(hook)).first();
  const tag = await el.evaluate((e) => e.tagName);
  return tag === 'INPUT' || tag === 'TEXTAREA' ? el : el.locator('input, textarea').first();
}
async function fill(hook, value, p = page) {
  const el = await inputOf(hook, p);
  await el.fill(String(value));
}
const escapeRe = (s) => String(s).replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
/** Picks an option of an Element Plus select by its visible label. */
async function choose(hook, label) {
  await page.locator(T(hook)).first().click();
  const option = page.locator('.el-select-dropdown__item:visible')
    .filter({ hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) }).first();
  await option.click();
}
async function text(hook) {
  return (await page.locator(T(hook)).first().innerText()).trim();
}
/** The figure of a stat card (its .value), as text. */
async function cardValue(hook) {
  const el = page.locator(T(hook)).first();
  const inner = el.locator('.value');
  return ((await inner.count()) ? await inner.first().innerText() : await el.innerText()).trim();
}
const num = (s) => Number(String(s).replace(/[^0-9.\-]/g, ''));
/** Reads the values of a message's {placeholders} back out of a text made from it. */
function parseMessage(template, s) {
  const names = [];
  const re = new RegExp('^\\s*' + template.split(/(\{[a-z_]+\})/).map((part) => {
    const m = part.match(/^\{([a-z_]+)\}$/);
    if (m) { names.push(m[1]); return '(.+?)'; }
    return escapeRe(part);
  }).join('') + '\\s*$');
  const m = String(s).match(re);
  return m ? Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) : null;
}

/** Saves a screenshot of the tab as ROLLOUT_SCREENSHOTS/NAME.png. */
async function shot(name, p = page) {
  await p.mouse.move(0, 0);	// no hover effect left from the last click
  // the layout scrolls inside the page: grow the window to the content for the picture
  const size = p.viewportSize();
  const extra = await p.evaluate(() => Math.max(0, ...[...document.querySelectorAll('*')]
    .filter((e) => e.scrollHeight > e.clientHeight + 4 && /auto|scroll/.test(getComputedStyle(e).overflowY))
    .map((e) => e.scrollHeight - e.clientHeight)));
  if (extra) {
    await p.setViewportSize({ width: size.width, height: Math.min(size.height + extra, 4000) });
    await sleep(300);
  }
  fs.mkdirSync(shots, { recursive: true });	// (another run in this tree may have emptied it)
  await p.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  if (extra) await p.setViewportSize(size);
}

/** A chart container: an ECharts instance drawn on a canvas of real size, and how many coloured pixels it has. */
async function chartInfo(hook) {
  return page.locator(T(hook)).first().evaluate((el) => {
    const canvas = el.querySelector('canvas');
    let colored = 0;
    if (canvas && canvas.width && canvas.height) {
      const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4) {
        const max = Math.max(d[i], d[i + 1], d[i + 2]);
        const min = Math.min(d[i], d[i + 1], d[i + 2]);
        if (d[i + 3] > 200 && max - min > 60) colored++;	// series colours, not grey axes or text
      }
    }
    // a chart drawn in SVG instead: its series are paths with a stroke colour
    const svg = el.tagName.toLowerCase() === 'svg' ? el : el.querySelector('svg');
    const lines = svg ? [...svg.querySelectorAll('path, polyline')].filter((e) =>
      (e.getAttribute('d') || e.getAttribute('points') || '').length > 10 && getComputedStyle(e).stroke !== 'none') : [];
    return { echarts: el.hasAttribute('_echarts_instance_'), canvas: !!canvas, width: canvas ? canvas.width : 0,
      height: canvas ? canvas.height : 0, colored, svg: !!svg, svgSeries: new Set(lines.map((e) => getComputedStyle(e).stroke)).size };
  });
}
/** Waits until a chart is drawn with series on it (ECharts on a canvas, or plain SVG); returns chartInfo or fails. */
async function chartDrawn(hook, svgSeries = 1) {
  const info = await until(async () => {
    const c = await chartInfo(hook);
    return ((c.echarts && c.canvas && c.colored > 300) || (!c.canvas && c.svg && c.svgSeries >= svgSeries)) && c;
  }, 8000);
  assert(info, `${hook} is a chart drawn with its series`, await chartInfo(hook).catch((e) => e.message));
  return info;
}
/** Moves the mouse over a chart at points given as fractions of its box; returns the distinct tooltip texts seen. */
async function tooltips(hook, points) {
  const el = page.locator(T(hook)).first();
  await el.scrollIntoViewIfNeeded();
  const box = await el.boundingBox();
  const seen = new Set();
  for (const [fx, fy] of points) {
    await page.mouse.move(box.x + fx * box.width, box.y + fy * box.height);
    await sleep(40);
    const t = (await el.innerText()).trim();
    if (t) seen.add(t.replace(/\s+/g, ' '));
  }
  await page.mouse.move(1, 1);
  return [...seen];
}
/** Script elements, elements with on* attributes and javascript: links inside an element. */
function executable(locator) {
  return locator.evaluate((root) => [...root.querySelectorAll('*')].filter((e) => e.tagName === 'SCRIPT' || e.tagName === 'IFRAME'
    || [...e.attributes].some((a) => /^on/i.test(a.name) || /^\s*javascript:/i.test(a.value))).map((e) => e.outerHTML.slice(0, 200)));
}
const across = (y = 0.6) => Array.from({ length: 60 }, (_, i) => [0.04 + i * 0.016, y]);
const ring = (cx, cy, r, aspect) => Array.from({ length: 72 }, (_, i) => [cx + r * Math.cos(i * Math.PI / 36) * aspect, cy + r * Math.sin(i * Math.PI / 36)]);

// ---------------------------------------------------------------------------
// state shared by the tests
// ---------------------------------------------------------------------------
const S = {
  token: null,	// an API token of the admin for the test's own API reads
  clients: [],	// seeded clients {client_id, current_version, region, os, arch, offered}
  newVersion: '1.1.0',
  versionId: null,
  percentage: 37.5,
  artifact: null,	// {file, sha256, size, url}
};
// release notes as a release manager types them in Chinese: user input, not the UI's text (i18n/)
const ZH_BOLD = '崩溃';
const ZH_NOTES = `## 修复\n\n启动时的**${ZH_BOLD}**已修复。\n`;
const XSS_NOTES = '## Fixes\n\nThe **crash** on start is gone.\n\n<img src=x onerror=window.__xss=1>\n\n<script>window.__xss=2</script>\n\n'
  + 'Also <img src="x" onerror="window.__xss=3"> and [a link](javascript:window.__xss=4) and <a href="javascript:window.__xss=5">another</a>.\n';

// ---------------------------------------------------------------------------
// the tests
// ---------------------------------------------------------------------------
test('seed: a published release and clients that checked, downloaded and installed through the client API', async () => {
  S.token = (await call('POST', API + '/auth/login', ADMIN)).token;
  assert(/^[0-9a-f]{64}$/.test(S.token), 'login token', S.token);
  const v = await call('POST', API + '/versions', { project: 'default', version: '1.0.0', channel: 'stable', title: 'First release',
    release_notes: '# 1.0.0\n\nFirst release.' }, S.token);
  await call('POST', `${API}/versions/${v.id}/artifacts`, { os: 'linux', arch: 'amd64', file_url: 'pkg/app-1.0.0-linux-amd64.tgz',
    file_size: 1234, file_checksum: 'sha256:' + 'c'.repeat(64) }, S.token);
  await call('POST', `${API}/versions/${v.id}/publish`, undefined, S.token);
  const regions = ['cn', 'us', 'eu', 'cn', 'jp'];
  for (let i = 1; i <= 160; i++) {
    S.clients.push({ client_id: `host-${String(i).padStart(4, '0')}`, current_version: i <= 80 ? '0.9.0' : '1.0.0',
      channel: i % 16 === 0 ? 'beta' : 'stable', region: regions[i % regions.length],
      os: i % 10 === 0 ? 'windows' : 'linux', arch: 'amd64' });
  }
  // in batches of 20 at once, like many clients would
  for (let i = 0; i < S.clients.length; i += 20) {
    const answers = await Promise.all(S.clients.slice(i, i + 20).map((c) => checkUpdate(c)));
    answers.forEach((a, j) => { S.clients[i + j].offered = a.has_update ? a.latest_version : null; });
  }
  const offered = S.clients.filter((c) => c.offered === '1.0.0');
  assert(offered.length > 50, 'linux clients on 0.9.0 are offered 1.0.0', S.clients.slice(0, 3));
  assert(S.clients.filter((c) => c.os === 'windows').every((c) => !c.offered), 'windows clients (no artifact) are offered nothing');
  for (const c of offered.slice(0, 30)) await call('POST', '/api/v1/download-started', { version: '1.0.0', client_id: c.client_id });
  for (const [k, c] of offered.slice(0, 24).entries()) {
    const ok = k % 6 !== 5;
    await call('POST', '/api/v1/install-result', ok ? { version: '1.0.0', client_id: c.client_id, success: true }
      : { version: '1.0.0', client_id: c.client_id, success: false, error_message: 'disk full' });
  }
  assertEq(Number(sql("SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'host-%'")), 160, 'client_state rows');
  assertEq(Number(sql('SELECT count(*) FROM rollout.client_results WHERE result IS NOT NULL')), 24, 'install results recorded');
});

test('the UI is served with its CSP and cache headers (index.html no-cache, /assets/* immutable)', async () => {
  const wantCsp = ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'",
    "connect-src 'self'", "img-src 'self' data: blob:"];
  for (const p of ['/', '/index.html']) {
    const r = await http('GET', p);
    assertEq(r.status, 200, `GET ${p}`);
    assert(/text\/html/.test(r.headers.get('content-type') || ''), `${p} is HTML`, r.headers.get('content-type'));
    assert(/no-cache/.test(r.headers.get('cache-control') || ''), `${p} Cache-Control no-cache`, r.headers.get('cache-control'));
    const csp = r.headers.get('content-security-policy') || '';
    for (const d of wantCsp) assert(csp.includes(d), `${p} CSP has ${d}`, csp);
    const scriptSrc = (csp.match(/script-src ([^;]*)/) || [])[1] || '';
    assert(!/unsafe-inline|unsafe-eval/.test(scriptSrc), 'script-src allows no inline script or eval', scriptSrc);
    assertEq(r.headers.get('x-content-type-options'), 'nosniff', `${p} X-Content-Type-Options`);
    assertEq(r.headers.get('referrer-policy'), 'no-referrer', `${p} Referrer-Policy`);
  }
  const index = (await http('GET', '/')).text;
  const assets = [...index.matchAll(/(?:src|href)="\.?(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), 'index.html loads hashed JS and CSS from /assets/', assets);
  assert(!/<script(?![^>]*\bsrc=)[^>]*>/.test(index), 'index.html has no inline script (the CSP would block it)');
  for (const a of assets) {
    const r = await http('GET', a);
    assertEq(r.status, 200, `GET ${a}`);
    const cc = r.headers.get('cache-control') || '';
    assert(/immutable/.test(cc) && /max-age=31536000/.test(cc), `${a} Cache-Control immutable`, cc);
    assert(r.headers.get('content-security-policy'), `${a} carries the CSP`);
    const type = r.headers.get('content-type') || '';
    assert(a.endsWith('.js') ? /javascript/.test(type) : a.endsWith('.css') ? /text\/css/.test(type) : true, `${a} Content-Type`, type);
  }
  const missing = await http('GET', '/assets/no-such-file-0000.js');
  assertEq(missing.status, 404, 'a missing asset is a 404');
});

test('login: a wrong password is refused with the server\'s message; the right one opens the dashboard', async () => {
  page = await ctx.newPage();
  watch(page, 'main');
  await page.goto(base + '/');
  await page.waitForSelector(T('login-username'), { state: 'visible' });
  assert(/#\/login/.test(page.url()), 'an anonymous visitor lands on the login page', page.url());
  assertEq(await page.evaluate(() => document.documentElement.lang), 'en', 'html lang for an English browser');
  await shot('en-login');
  await fill('login-username', ADMIN.username);
  await fill('login-password', 'wrong-password');
  await page.click(T('login-submit'));
  await page.waitForSelector(T('login-error'), { state: 'visible' });
  assertEq(await text('login-error'), en['error.login_failed'], 'the login page shows the server\'s error.login_failed');
  assert(/#\/login/.test(page.url()), 'still on the login page', page.url());
  await fill('login-password', ADMIN.password);
  await page.click(T('login-submit'));
  await page.waitForSelector(T(PAGE_READY.dashboard), { state: 'visible' });
  assert(/#\/dashboard/.test(page.url()), 'on the dashboard', page.url());
  const stored = await page.evaluate(() => ({
    session: Object.values(sessionStorage).join(' '), local: Object.values(localStorage).join(' '), url: location.href }));
  assert(/\b[0-9a-f]{64}\b/.test(stored.session), 'the token is kept in sessionStorage');
  assert(!/\b[0-9a-f]{64}\b/.test(stored.local), 'no token in localStorage');
  assert(!/[0-9a-f]{64}/.test(stored.url), 'no token in the URL');
  const names = await page.$$eval('[data-test^="nav-"]', (els) => els.map((e) => e.getAttribute('data-test').slice(4)));
  assertEq(names.join(' '), NAV.join(' '), 'the navigation of an admin');
}, { httpErrors: true });

test('dashboard: stat cards equal GET /dashboard; the trend chart is drawn and its tooltip shows today\'s numbers; channels list the latest release', async () => {
  await visit('/dashboard', PAGE_READY.dashboard);
  const d = await call('GET', API + '/dashboard?project=default', undefined, S.token);
  assert(d.total_clients === 160 && d.checks_today >= 160, 'the API counts the seeded clients', d);
  assert(d.install_success_rate !== null, 'the API has a success rate', d);
  await until(async () => num(await cardValue('stat-total-clients')) === d.total_clients, 5000);
  assertEq(num(await cardValue('stat-total-clients')), d.total_clients, 'total clients');
  assertEq(num(await cardValue('stat-active-24h')), d.active_24h, 'active 24 h');
  assertEq(num(await cardValue('stat-checks-today')), d.checks_today, 'checks today');
  const rate = await cardValue('stat-install-success-rate');
  assert(/%$/.test(rate) && Math.abs(num(rate) - Number(d.install_success_rate)) < 0.006, 'install success rate', { shown: rate, api: d.install_success_rate });
  await chartDrawn('chart-dashboard-trend', 4);
  const today = d.trend[d.trend.length - 1];
  const label = await page.evaluate((day) => new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric' }).format(new Date(day + 'T00:00:00')), today.day);
  const tips = await tooltips('chart-dashboard-trend', across());
  // the tooltip of today: "Nov 30 Checks 160 Downloads 30 Installed 20 Failed 4"
  const keys = ['checks', 'downloads', 'successes', 'failures'];
  const tipRe = new RegExp(escapeRe(label) + keys.map((k) => `\\s*${escapeRe(en['ui.trend.' + k])}\\s*([0-9,]+)`).join(''));
  const tip = tips.map((t) => t.match(tipRe)).find(Boolean);
  assert(tip, `a tooltip for ${label} with the four series`, tips);
  keys.forEach((k, i) => assertEq(num(tip[i + 1]), today[k], `the tooltip of ${label}: ${k}`));
  const channels = await text('dashboard-channels');
  assert(/Stable[\s\S]*1\.0\.0/.test(channels), 'the channel table shows 1.0.0 as the latest stable release', channels);
  await shot('en-dashboard');
});

test('dashboard: an install result reported through the client API changes a number without a reload', async () => {
  await visit('/dashboard', PAGE_READY.dashboard);
  await page.evaluate(() => { window.__sameDocument = 'yes'; });
  // the page's live socket is open (with a ticket, never the token, in its URL)
  // the newest one: a socket of the document before a reload may never report its close
  const live = await until(() => sockets.filter((w) => w.open && /\/admin\/api\/v1\/live\?ticket=/.test(w.url)).pop(), 10000);
  assert(live, 'the dashboard opened the live websocket', sockets);
  const pageToken = await page.evaluate(() => Object.values(sessionStorage).join(' ').match(/\b[0-9a-f]{64}\b/)?.[0]);
  assert(pageToken && !live.url.includes(pageToken), 'no bearer token in the websocket URL', live.url);
  await sleep(500);
  const framesBefore = live.frames;
  const before = await cardValue('stat-install-success-rate');
  // a failure from a client that has not reported yet moves the success rate
  const c = S.clients.filter((x) => x.offered === '1.0.0')[40];
  await call('POST', '/api/v1/download-started', { version: '1.0.0', client_id: c.client_id });
  await call('POST', '/api/v1/install-result', { version: '1.0.0', client_id: c.client_id, success: false, error_message: 'checksum mismatch' });
  const d = await call('GET', API + '/dashboard?project=default', undefined, S.token);
  const changed = await until(async () => {
    const t = await cardValue('stat-install-success-rate');
    return t !== before && Math.abs(num(t) - Number(d.install_success_rate)) < 0.006 && t;
  }, 15000, 200);
  assert(changed, 'the success rate card follows the live event', { before, now: await cardValue('stat-install-success-rate'), api: d.install_success_rate });
  assert(live.frames > framesBefore, 'an event arrived on the websocket', { framesBefore, frames: live.frames });
  assertEq(await page.evaluate(() => window.__sameDocument), 'yes', 'the page was not reloaded');
});

test('versions: a new version is saved as a draft; the notes preview renders markdown and keeps the XSS payload inert', async () => {
  await visit('/versions', PAGE_READY.versions);
  await page.click(T('version-create'));
  await page.waitForSelector(T('version-field-version'), { state: 'visible' });
  await fill('version-field-version', S.newVersion);
  await fill('version-field-title', 'Faster sync');
  await fill('version-notes-default', XSS_NOTES);
  const preview = page.locator(T('version-notes-preview-default')).first();
  await until(async () => (await preview.innerHTML()).includes('crash'), 5000);
  const html = await preview.innerHTML();
  assert(/<h2[^>]*>\s*Fixes/.test(html) && /<strong>crash<\/strong>/.test(html), 'the preview renders markdown', html);
  assertEq(JSON.stringify(await executable(preview)), '[]', 'script elements and event handlers in the preview');
  await sleep(300);
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss after the preview');
  await shot('en-version-new');
  // the Chinese variant of the notes, in its own tab
  await page.click(`${T('notes-tabs')} #tab-zh-CN`);
  await fill('version-notes-zh-CN', ZH_NOTES);
  const zhPreview = page.locator(T('version-notes-preview-zh-CN')).first();
  assert(await until(async () => (await zhPreview.innerHTML()).includes(`<strong>${ZH_BOLD}</strong>`), 5000), 'the Chinese preview renders',
    await zhPreview.innerHTML());
  await page.click(T('version-save'));
  await page.waitForURL(/#\/versions\/\d+/);
  const row = sql(`SELECT id, status, title, release_notes FROM rollout.versions WHERE version = '${S.newVersion}'::rollout.semver`).split('|');
  assertEq(row[1], 'draft', 'the version is a draft in the database');
  assertEq(row[2], 'Faster sync', 'its title');
  assert(row.slice(3).join('|').includes('<img src=x onerror'), 'the notes are stored as typed (sanitized when shown)', row[3]);
  assertEq(sql(`SELECT release_notes_i18n ->> 'zh-CN' FROM rollout.versions WHERE id = ${row[0]}`), ZH_NOTES.trim(), 'the Chinese notes in the database');
  S.versionId = Number(row[0]);
  assert(page.url().endsWith('/versions/' + S.versionId), 'the page moved to the new version', page.url());
  await page.waitForSelector(T('status-draft'), { state: 'visible' });
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss after saving');
});

test('versions: uploading an artifact shows the progress bar reach 100 % and the sha256 of the file', async () => {
  assert(S.versionId, 'needs the version created by the previous test');
  const bytes = crypto.randomBytes(4 * 1024 * 1024 + 17);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-ui-')), `app-${S.newVersion}-linux-amd64.tgz`);
  fs.writeFileSync(file, bytes);
  S.artifact = { file, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
  await openTab('artifacts');
  await page.waitForSelector(T('artifact-upload'), { state: 'visible' });
  // linux / amd64 are the form's defaults; type them anyway
  await page.locator(T('artifact-file')).setInputFiles(file);
  // the progress the page shows while the upload runs
  const seen = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const v = await page.locator(`${T('artifact-progress')}`).first().getAttribute('aria-valuenow', { timeout: 50 }).catch(() => null);
      if (v !== null) seen.push(Number(v));
      await sleep(10);
    }
  })();
  await page.click(T('artifact-upload'));
  const shown = await until(async () => {
    const t = await page.locator(T('artifact-sha256')).first().innerText({ timeout: 200 });
    return /[0-9a-f]{64}/.test(t) && t.trim();
  }, 30000, 100);
  sampling = false;
  await sampler;
  assert(shown, 'the page shows a sha256 after the upload');
  assertEq(shown.replace(/^sha256:/, ''), S.artifact.sha256, 'the checksum shown is the sha256 of the file');
  const final = Number(await page.locator(T('artifact-progress')).first().getAttribute('aria-valuenow'));
  assertEq(final, 100, 'the progress bar ends at 100');
  assert(seen.length > 0, 'the progress bar showed while uploading', seen);
  const sizeShown = await text('artifact-size');
  assert(sizeShown.includes(String(S.artifact.size)), 'the size shown is the file\'s', sizeShown);
  const a = sql(`SELECT os, arch, file_size, file_checksum, file_url FROM rollout.artifacts WHERE version_id = ${S.versionId}`).split('|');
  assertEq(a[0] + '/' + a[1], 'linux/amd64', 'artifact platform in the database');
  assertEq(Number(a[2]), S.artifact.size, 'artifact size in the database');
  assertEq(a[3], 'sha256:' + S.artifact.sha256, 'artifact checksum in the database');
  S.artifact.url = a[4];
  await shot('en-version-artifacts');
});

test('versions: publish; the page and the list show it published, and the database agrees', async () => {
  assert(S.versionId, 'needs the version');
  await openTab('details');
  await page.click(T('version-publish'));
  await page.waitForSelector(T('status-published'), { state: 'visible' });
  assertEq(sql(`SELECT status FROM rollout.versions WHERE id = ${S.versionId}`), 'published', 'status in the database');
  await visit('/versions', PAGE_READY.versions);
  const row = page.locator('tr', { has: page.locator(`[data-version="${S.newVersion}"]`) }).first();
  await row.waitFor({ state: 'visible' });
  assertEq(await row.locator(T('status-published')).count(), 1, 'the row of the version says published');
  await shot('en-versions');
});

test('the uploaded artifact downloads with the same bytes (sha256 equal)', async () => {
  assert(S.artifact && S.artifact.url, 'needs the uploaded artifact');
  const u = new URL(S.artifact.url, base);
  const r = await http('GET', u.pathname);
  assertEq(r.status, 200, `GET ${u.pathname}`);
  assertEq(crypto.createHash('sha256').update(r.buf).digest('hex'), S.artifact.sha256, 'sha256 of the download');
});

/** The exact number of known clients inside the rollout of the new version at pct (the contract's definition, in SQL). */
function cohortFromSql(pct) {
  return Number(sql(`
    SELECT count(*) FROM rollout.client_state cs
    JOIN rollout.versions v ON v.id = ${S.versionId} AND cs.project_id = v.project_id
    JOIN rollout.projects p ON p.id = v.project_id
    JOIN rollout.channels vc ON vc.id = v.channel_id
    JOIN rollout.channels cc ON cc.project_id = v.project_id AND cc.name = cs.channel
    WHERE cc.rank >= vc.rank AND cs.current_version < v.version
      AND (NOT EXISTS (SELECT FROM rollout.artifacts a WHERE a.version_id = v.id)
           OR EXISTS (SELECT FROM rollout.artifacts a WHERE a.version_id = v.id AND a.os = cs.os AND a.arch = cs.arch))
      AND rollout.rollout_bucket(cs.client_id, p.slug || '@' || v.version::text) < round(${pct} * 100)`));
}
/** The cohort the rollout tab shows: {inside, audience, percentage} read back through ui.rollout.cohort. */
async function cohortShown() {
  return parseMessage(en['ui.rollout.cohort'], await text('cohort-count'));
}

test('staged rollout: the cohort shown for a percentage equals the exact count from SQL; apply makes check-update follow', async () => {
  assert(S.versionId, 'needs the published version');
  await visit('/versions/' + S.versionId, 'page-version');
  await openTab('rollout');
  await page.waitForSelector(T('cohort-count'), { state: 'visible' });
  const audience = Number(sql(`SELECT count(*) FROM rollout.client_state WHERE current_version < '${S.newVersion}'::rollout.semver AND os = 'linux'`));
  // type a percentage
  await fill('rollout-input', S.percentage);
  await (await inputOf('rollout-input')).press('Tab');
  const want = cohortFromSql(S.percentage);
  assert(want > 5 && want < audience, 'the seeded clients make a cohort of some size', { want, audience });
  let shown = await until(async () => { const c = await cohortShown(); return c && num(c.inside) === want && c; }, 8000);
  assert(shown, `the cohort shown for ${S.percentage} % equals SQL's ${want}`, await text('cohort-count'));
  assertEq(num(shown.audience), audience, 'the audience shown (linux clients below the version: the artifact is linux/amd64)');
  const api = await call('GET', `${API}/versions/${S.versionId}/cohort?percentage=${S.percentage}`, undefined, S.token);
  assertEq(api.inside, want, 'GET /cohort inside');
  // move the slider with the keyboard: the input and the count follow
  const handle = page.locator(`${T('rollout-slider')} [role="slider"]`).first();
  await handle.focus();
  for (let i = 0; i < 6; i++) await handle.press('ArrowRight');
  const moved = Number(await handle.getAttribute('aria-valuenow'));
  assert(moved > S.percentage, 'the slider moved up', moved);
  assertEq(num(await (await inputOf('rollout-input')).inputValue()), moved, 'the number input follows the slider');
  const want2 = cohortFromSql(moved);
  shown = await until(async () => { const c = await cohortShown(); return c && num(c.inside) === want2 && num(c.percentage) === moved && c; }, 8000);
  assert(shown, `the cohort shown for ${moved} % equals SQL's ${want2}`, await text('cohort-count'));
  await shot('en-version-rollout');
  // back to the typed percentage, and apply
  await fill('rollout-input', S.percentage);
  await (await inputOf('rollout-input')).press('Tab');
  assert(await until(async () => { const c = await cohortShown(); return c && num(c.inside) === want; }, 8000), 'the count is back');
  await page.click(T('rollout-apply'));
  const applied = await until(() => Number(sql(`SELECT rollout_percentage FROM rollout.versions WHERE id = ${S.versionId}`)) === S.percentage, 10000);
  assert(applied, 'the version\'s rollout_percentage is set in the database', sql(`SELECT rollout_percentage FROM rollout.versions WHERE id = ${S.versionId}`));
  assert(await until(async () => num(await text('rollout-current')) === S.percentage, 5000), 'the page shows the applied percentage', await text('rollout-current'));
  // clients on 1.0.0 (linux, stable): inside the cohort get 1.1.0, outside get nothing newer
  const threshold = Math.round(S.percentage * 100);
  const rows = sql(`SELECT client_id, rollout.rollout_bucket(client_id, 'default@${S.newVersion}') < ${threshold}
    FROM rollout.client_state WHERE current_version = '1.0.0'::rollout.semver AND os = 'linux' AND channel = 'stable' ORDER BY client_id`)
    .split('\n').map((l) => l.split('|'));
  const inside = rows.filter((r) => r[1] === 't');
  const outside = rows.filter((r) => r[1] === 'f');
  assert(inside.length && outside.length, 'clients on both sides of the threshold', rows.length);
  for (const [id] of [inside[0], inside[inside.length - 1]]) {
    const a = await checkUpdate({ current_version: '1.0.0', client_id: id, os: 'linux', arch: 'amd64', region: 'cn' });
    assert(a.has_update === true && a.latest_version === S.newVersion, `${id} (inside the cohort) is offered the new version`, a);
    assertEq(a.file_checksum, 'sha256:' + S.artifact.sha256, 'with the uploaded file\'s checksum');
  }
  const zhAnswer = await checkUpdate({ current_version: '1.0.0', client_id: inside[0][0], os: 'linux', arch: 'amd64', region: 'cn', locale: 'zh-CN' });
  assertEq(zhAnswer.release_notes.trim(), ZH_NOTES.trim(), 'a Chinese client gets the Chinese notes typed in the UI');
  for (const [id] of [outside[0], outside[outside.length - 1]]) {
    const a = await checkUpdate({ current_version: '1.0.0', client_id: id, os: 'linux', arch: 'amd64', region: 'cn' });
    assert(a.has_update === false, `${id} (outside the cohort) is offered nothing`, a);
  }
});

test('statistics: the charts are drawn with the API\'s data (tooltips), the checks card equals GET /stats, the period buttons reload', async () => {
  await visit('/stats', PAGE_READY.stats);
  for (const c of ['chart-trend', 'chart-funnel', 'chart-distribution', 'chart-regions']) await chartDrawn(c);
  const overview = await call('GET', API + '/stats?project=default&period=7d', undefined, S.token);
  const checks = overview.totals && overview.totals.check ? overview.totals.check.events : 0;
  assert(checks >= 160, 'the API counts the checks', overview);
  assertEq(num(await cardValue('stats-checks')), checks, 'the checks card');
  // every version of the distribution, with its number of clients, in the pie's tooltips
  const dist = await call('GET', API + '/stats/distribution?project=default', undefined, S.token);
  assert(dist.length >= 2, 'the API reports the versions clients run', dist);
  const box = await page.locator(T('chart-distribution')).boundingBox();
  const pie = await tooltips('chart-distribution', ring(0.4, 0.5, 0.55 * Math.min(box.width, box.height) / 2 / box.height, box.height / box.width));
  for (const r of dist) {
    assert(pie.some((t) => t.includes(`${r.version}: ${r.clients} `)), `the distribution shows ${r.version}: ${r.clients}`, pie);
  }
  const regions = await call('GET', API + '/stats/regions?project=default', undefined, S.token);
  const bars = await tooltips('chart-regions', across(0.85));
  for (const r of regions) {
    assert(bars.some((t) => t.includes(r.region) && new RegExp(`\\b${r.clients}\\b`).test(t)), `the regions chart shows ${r.region}: ${r.clients}`, bars);
  }
  for (const period of ['24h', '30d', '7d']) {
    const resp = page.waitForResponse((r) => r.url().includes('/stats/trend') && r.url().includes(`period=${period}`), { timeout: 8000 });
    await page.click(T('stats-period-' + period));
    assertEq((await resp).status(), 200, `stats for ${period}`);
  }
  await page.waitForLoadState('networkidle').catch(() => {});
  await shot('en-stats');
});

test('simulator: its answer equals check-update\'s for the same client, shows the steps and the sanitized notes, and records nothing', async () => {
  await visit('/simulator', PAGE_READY.simulator);
  // a client never seen, inside the new version's cohort
  const client = sql(`SELECT id FROM (SELECT 'sim-probe-' || i AS id FROM generate_series(1, 1000) i) x
    WHERE rollout.rollout_bucket(id, 'default@${S.newVersion}') < ${Math.round(S.percentage * 100)} LIMIT 1`);
  const count = () => sql(`SELECT (SELECT count(*) FROM rollout.client_state) || ' ' ||
    (SELECT coalesce(sum(events), 0) FROM rollout.rollup_daily WHERE action = 'check') || ' ' || (SELECT count(*) FROM rollout.update_events)`);
  const before = count();
  await fill('sim-version', '1.0.0');
  await fill('sim-client', client);
  await choose('sim-channel', 'Stable');
  await fill('sim-region', 'cn');
  await fill('sim-os', 'linux');
  await fill('sim-arch', 'amd64');
  await page.click(T('sim-run'));
  await page.waitForSelector(T('sim-result'), { state: 'visible' });
  const answer = page.locator(T('sim-result')).first();
  const sim = { has_update: await answer.getAttribute('data-has-update'), latest_version: await answer.getAttribute('data-latest-version'),
    offered: await page.locator(T('sim-offered')).first().innerText({ timeout: 5000 }).catch(() => null) };
  assertEq(count(), before, 'client_state rows, checks counted, events: unchanged by the simulation');
  assertEq(sql(`SELECT count(*) FROM rollout.client_state WHERE client_id = '${client}'`), '0', 'no client_state row for the simulated client');
  const steps = await page.locator(`${T('sim-steps')} .el-timeline-item`).count();
  assert(steps >= 2, 'the simulator explains its steps', steps);
  const notesEl = page.locator(`${T('sim-answer')} .markdown`).first();
  const notes = await notesEl.innerHTML().catch(() => '');
  assert(/<strong>crash<\/strong>/.test(notes), 'the answer renders the release notes as markdown', notes);
  assertEq(JSON.stringify(await executable(notesEl)), '[]', 'script elements and event handlers in the rendered notes');
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss');
  await shot('en-simulator-answer');
  const real = await checkUpdate({ current_version: '1.0.0', client_id: client, channel: 'stable', region: 'cn', os: 'linux', arch: 'amd64' });
  assert(real.has_update === true, 'check-update offers the client an update', real);
  assertEq(sim.has_update, 'true', 'the simulator offers an update (data-has-update)');
  assertEq(sim.latest_version, real.latest_version, 'the version the simulator offers (data-latest-version) vs check-update');
  assertEq(sim.offered, real.latest_version, 'the version the simulator shows vs check-update');
  assertEq(sql(`SELECT count(*) FROM rollout.client_state WHERE client_id = '${client}'`), '1', 'the real check-update did record (the probe works)');
  // and a client outside the cohort: no update in both
  const outsider = sql(`SELECT client_id FROM rollout.client_state WHERE current_version = '1.0.0'::rollout.semver AND os = 'linux' AND channel = 'stable'
    AND rollout.rollout_bucket(client_id, 'default@${S.newVersion}') >= ${Math.round(S.percentage * 100)} ORDER BY client_id LIMIT 1`);
  await fill('sim-client', outsider);
  await page.click(T('sim-run'));
  await page.waitForSelector(T('sim-no-update'), { state: 'visible' });
  assertEq(await answer.getAttribute('data-has-update'), 'false', 'the simulator offers the outsider nothing (data-has-update)');
  const realOut = await checkUpdate({ current_version: '1.0.0', client_id: outsider, channel: 'stable', region: 'cn', os: 'linux', arch: 'amd64' });
  assertEq(realOut.has_update, false, 'check-update agrees: no update for the outsider');
});

test('pause and resume in the editor: check-update stops offering the version and offers it again', async () => {
  assert(S.versionId, 'needs the published version');
  const inside = sql(`SELECT client_id FROM rollout.client_state WHERE current_version = '1.0.0'::rollout.semver AND os = 'linux'
    AND channel = 'stable' AND rollout.rollout_bucket(client_id, 'default@${S.newVersion}') < ${Math.round(S.percentage * 100)}
    ORDER BY client_id LIMIT 1`);
  const ask = () => checkUpdate({ current_version: '1.0.0', client_id: inside, os: 'linux', arch: 'amd64', region: 'cn' });
  assertEq((await ask()).latest_version, S.newVersion, 'offered before the pause');
  await visit('/versions/' + S.versionId, 'page-version');
  await page.click(T('version-pause'));
  await page.waitForSelector(T('status-paused'), { state: 'visible' });
  assertEq(sql(`SELECT status FROM rollout.versions WHERE id = ${S.versionId}`), 'paused', 'paused in the database');
  assertEq((await ask()).has_update, false, 'a paused version is offered to nobody');
  await page.click(T('version-resume'));
  await page.waitForSelector(T('status-published'), { state: 'visible' });
  assertEq(sql(`SELECT status FROM rollout.versions WHERE id = ${S.versionId}`), 'published', 'published again in the database');
  assertEq((await ask()).latest_version, S.newVersion, 'offered again after the resume');
});

test('channels: a percentage saved in the UI is the channel\'s in the database', async () => {
  await visit('/channels', PAGE_READY.channels);
  await fill('channel-pct-beta', 40);
  await (await inputOf('channel-pct-beta')).press('Tab');
  await page.click(T('channel-save-beta'));
  const ok = await until(() => Number(sql(`SELECT c.rollout_percentage FROM rollout.channels c JOIN rollout.projects p ON p.id = c.project_id
    WHERE p.slug = 'default' AND c.name = 'beta'`)) === 40, 8000);
  assert(ok, 'beta is at 40 % in the database');
  const listed = (await call('GET', API + '/channels?project=default', undefined, S.token)).find((c) => c.name === 'beta');
  assertEq(Number(listed.rollout_percentage), 40, 'GET /channels agrees');
});

test('audit log: the newest rows are GET /audit\'s (actor, action, object), the UI\'s own changes among them', async () => {
  await visit('/audit', PAGE_READY.audit);
  const api = await call('GET', API + '/audit?project=default&page=1&limit=20', undefined, S.token);
  const items = Array.isArray(api) ? api : api.items;
  assert(items && items.length >= 3, 'the API lists audit entries', api);
  assert(items.some((r) => r.actor === 'admin' && r.object_type === 'channels'), 'the channel change is audited', items.slice(0, 3));
  const rows = await page.locator(`${T('audit-table')} tbody tr.el-table__row`).allInnerTexts();
  for (let i = 0; i < 3; i++) {
    const r = items[i];
    // the page names actions and object types in the UI language
    const want = [r.actor, en['ui.audit.a.' + r.action] || r.action,
      (en['ui.audit.o.' + r.object_type] || r.object_type) + (r.object_id ? ` #${r.object_id}` : '')];
    assert(rows[i] && want.every((w) => rows[i].includes(w)), `audit row ${i + 1} shows ${want.join(' / ')}`, rows[i]);
  }
});

// ---------------------------------------------------------------------------
// the pages that change settings: rules, mirrors, accounts, tokens, projects,
// approvals, the own password
// ---------------------------------------------------------------------------
const MAINT = { username: 'maint', password: 'maint-password-1' };	// a maintainer of 'default' (run-browser.sh)
const q = (s) => String(s).replace(/'/g, "''");
/** Waits for an Element Plus message (ElMessage) with exactly this text; fails otherwise. */
async function message(expected, p = page) {
  const box = p.locator('.el-message .el-message__content').filter({ hasText: expected }).first();
  const seen = await box.waitFor({ state: 'visible', timeout: 8000 }).then(() => true, () => false);
  const all = await p.locator('.el-message .el-message__content').allInnerTexts().catch(() => []);
  assert(seen && all.some((x) => x.trim() === expected), `the message "${expected}" is shown`, all);
}
/** The open dialog's footer button of the given type (primary, success, danger). */
const dialogButton = (p, type = 'primary') => p.locator(`.el-overlay-dialog:visible .el-dialog__footer .el-button--${type}`).last();
/** Confirms an ElMessageBox (delete, revoke). */
async function confirmBox(p = page) {
  await p.locator('.el-message-box:visible .el-message-box__btns .el-button--primary').click();
}
/** A table row (tr) of a hooked table that contains the text. */
const rowWith = (table, s, p = page) => p.locator(`${T(table)} tbody tr`).filter({ hasText: s }).first();
/** Logs a new context in as an account; returns {c, p}. */
async function loginAs(account, label) {
  const c = await newContext();
  const p = await c.newPage();
  watch(p, label);
  await visit('/login', 'page-login', p);
  await fill('login-username', account.username, p);
  await fill('login-password', account.password, p);
  await p.click(T('login-submit'));
  await p.waitForSelector(T('page-dashboard'), { state: 'visible' });
  return { c, p };
}
/** A client id never seen whose bucket of the new version is inside (true) or outside (false) its rollout. */
function probeClient(prefix, inside) {
  return sql(`SELECT id FROM (SELECT '${prefix}-' || i AS id FROM generate_series(1, 2000) i) x
    WHERE (rollout.rollout_bucket(id, 'default@${S.newVersion}') < ${Math.round(S.percentage * 100)}) = ${inside}
      AND NOT EXISTS (SELECT FROM rollout.client_state cs WHERE cs.client_id = x.id) LIMIT 1`);
}

test('rules: a block rule made in the UI is in GET /rules and SQL; a bad version range shows the server\'s error; check-update honours it until disabled; delete', async () => {
  assert(S.versionId, 'needs the published version');
  const client = probeClient('rule-probe', true);
  const ask = () => checkUpdate({ current_version: '1.0.0', client_id: client, os: 'linux', arch: 'amd64', region: 'eu' });
  assertEq((await ask()).latest_version, S.newVersion, 'the eu client is offered the new version before the rule');
  await visit('/rules', PAGE_READY.rules);
  await page.click(T('rule-create'));
  await page.waitForSelector(T('rule-name'), { state: 'visible' });
  await fill('rule-name', 'freeze eu 1.0');
  await fill('rule-priority', 100);
  await fill('rule-region', 'eu');
  await fill('rule-range', 'not a range');
  await page.click(T('rule-block'));
  await page.click(T('rule-save'));
  // what the server says about that range, and that the page shows the same
  const bad = await http('POST', API + '/rules', { project: 'default', name: 'x', target_version_range: 'not a range' }, { token: S.token, headers: { 'Accept-Language': 'en' } });
  assertEq(bad.status, 400, 'the API refuses the range');
  await message(bad.json.message);
  assertEq(sql("SELECT count(*) FROM rollout.update_rules WHERE name = 'freeze eu 1.0'"), '0', 'no rule stored after the error');
  assert(await page.locator(T('rule-name')).isVisible(), 'the form stays open to fix the range');
  await fill('rule-range', '>=1.0.0 <1.1.0');
  await page.click(T('rule-save'));
  await message(en['ui.common.saved']);
  const row = sql(`SELECT id, priority, target_region, target_version_range, rollout_config->>'block', enabled FROM rollout.update_rules
    WHERE name = 'freeze eu 1.0'`).split('|');
  assertEq(row.slice(1).join('|'), '100|eu|>=1.0.0 <1.1.0|true|t', 'the rule in SQL (priority, region, range, block, enabled)');
  const id = Number(row[0]);
  const listed = (await call('GET', API + '/rules?project=default', undefined, S.token)).find((r) => r.id === id);
  assert(listed && listed.name === 'freeze eu 1.0' && listed.rollout_config.block === true && listed.target_region === 'eu', 'GET /rules lists it', listed);
  const tr = rowWith('rules-table', 'freeze eu 1.0');
  await tr.waitFor({ state: 'visible' });
  const shown = await tr.innerText();
  assert(shown.includes(en['ui.rules.a_block']) && shown.includes('Region eu'), 'the row shows its target and action', shown);
  await shot('en-rules-created');
  let a = await ask();
  assert(a.has_update === false, 'check-update: the matching eu client is blocked', a);
  const us = await checkUpdate({ current_version: '1.0.0', client_id: client, os: 'linux', arch: 'amd64', region: 'us' });
  assertEq(us.latest_version, S.newVersion, 'the same client from another region is not matched');
  // disable it with the switch
  await page.click(T('rule-enabled-' + id));
  assert(await until(() => sql(`SELECT enabled FROM rollout.update_rules WHERE id = ${id}`) === 'f', 5000), 'disabled in SQL');
  a = await ask();
  assertEq(a.latest_version, S.newVersion, 'check-update offers the version again once the rule is disabled');
  // delete it
  await tr.locator('button', { hasText: en['ui.common.delete'] }).click();
  await confirmBox();
  assert(await until(() => sql(`SELECT count(*) FROM rollout.update_rules WHERE id = ${id}`) === '0', 5000), 'deleted in SQL');
  assert(!(await call('GET', API + '/rules?project=default', undefined, S.token)).some((r) => r.id === id), 'GET /rules no longer lists it');
  await page.locator(T('rules-table')).getByText(en['ui.rules.empty']).waitFor({ state: 'visible' });
}, { httpErrors: true });

test('mirrors: a region mirror added in the UI serves that region\'s relative download URLs; deleted, it does not', async () => {
  // a client on 0.9.0 outside the new version's cohort is offered 1.0.0, whose artifact URL is relative
  const client = probeClient('mirror-probe', false);
  const rel = sql(`SELECT a.file_url FROM rollout.artifacts a JOIN rollout.versions v ON v.id = a.version_id WHERE v.version = '1.0.0'::rollout.semver`);
  assert(!/^[a-z]+:\/\//.test(rel) && !rel.startsWith('/'), 'the 1.0.0 artifact URL is relative', rel);
  const ask = () => checkUpdate({ current_version: '0.9.0', client_id: client, os: 'linux', arch: 'amd64', region: 'mars' });
  const before = await ask();
  assertEq(before.latest_version, '1.0.0', 'the probe client is offered 1.0.0');
  const base0 = 'https://mirror-mars.example.test/releases/';
  assert(!String(before.download_url).startsWith(base0), 'not on the mirror before it exists', before.download_url);
  await visit('/mirrors', PAGE_READY.mirrors);
  await page.click(T('mirror-create'));
  await fill('mirror-region', 'mars');
  await fill('mirror-url', base0);
  await page.click(T('mirror-save'));
  await message(en['ui.common.saved']);
  assertEq(sql(`SELECT m.base_url FROM rollout.mirrors m JOIN rollout.projects p ON p.id = m.project_id WHERE p.slug = 'default' AND m.region = 'mars'`),
    base0, 'the mirror in SQL');
  assert((await call('GET', API + '/mirrors?project=default', undefined, S.token)).some((m) => m.region === 'mars' && m.base_url === base0), 'GET /mirrors lists it');
  await rowWith('mirrors-table', 'mars').waitFor({ state: 'visible' });
  await shot('en-mirrors-created');
  const after = await ask();
  assertEq(after.download_url, base0 + rel, 'check-update of a mars client: the download URL is on the mirror');
  const other = await checkUpdate({ current_version: '0.9.0', client_id: client, os: 'linux', arch: 'amd64', region: 'venus' });
  assert(!String(other.download_url).startsWith(base0), 'another region does not use it', other.download_url);
  await rowWith('mirrors-table', 'mars').locator('button', { hasText: en['ui.common.delete'] }).click();
  await confirmBox();
  assert(await until(() => sql(`SELECT count(*) FROM rollout.mirrors WHERE region = 'mars'`) === '0', 5000), 'deleted in SQL');
  const gone = await ask();
  assert(!String(gone.download_url).startsWith(base0), 'after the delete the download URL is not on the mirror', gone.download_url);
});

test('accounts: create, change role, disable (login refused with the server\'s message), reset password; the last admin is protected', async () => {
  const acct = { username: 'ops1', password: 'ops1-password-1' };
  await visit('/accounts', PAGE_READY.accounts);
  await page.click(T('account-create'));
  await fill('account-username', acct.username);
  await fill('account-password', acct.password);
  await page.locator('.el-overlay-dialog:visible .el-radio-button', { hasText: en['ui.role.viewer'] }).click();
  await page.click(T('account-save'));
  await message(en['ui.accounts.created']);
  assertEq(sql(`SELECT role || '|' || is_active FROM rollout.admins WHERE username = '${acct.username}'`), 'viewer|true', 'a viewer in SQL');
  const login = (pw) => http('POST', API + '/auth/login', { username: acct.username, password: pw }, { headers: { 'Accept-Language': 'en' } });
  assertEq((await login(acct.password)).json.data.role, 'viewer', 'it logs in as a viewer');
  // change its role to admin
  await rowWith('accounts-table', acct.username).waitFor({ state: 'visible' });
  await page.click(T('account-edit-' + acct.username));
  await page.locator('.el-overlay-dialog:visible .el-radio-button', { hasText: en['ui.role.admin'] }).click();
  await dialogButton(page).click();
  assert(await until(() => sql(`SELECT role FROM rollout.admins WHERE username = '${acct.username}'`) === 'admin', 5000), 'admin in SQL');
  assert(await until(async () => (await rowWith('accounts-table', acct.username).innerText()).includes(en['ui.role.admin']), 5000), 'the row says Admin');
  // disable it: a login is refused with the server's message, shown by the login page
  await page.click(T('account-active-' + acct.username));
  assert(await until(() => sql(`SELECT is_active FROM rollout.admins WHERE username = '${acct.username}'`) === 'f', 5000), 'disabled in SQL');
  const refused = await login(acct.password);
  assertEq(refused.status, 401, 'the API refuses the disabled account');
  const c = await newContext();
  try {
    const p = await c.newPage();
    watch(p, 'disabled-login');
    await visit('/login', 'page-login', p);
    await fill('login-username', acct.username, p);
    await fill('login-password', acct.password, p);
    await p.click(T('login-submit'));
    await p.waitForSelector(T('login-error'), { state: 'visible' });
    assertEq((await p.locator(T('login-error')).innerText()).trim(), refused.json.message, 'the login page shows the server\'s message');
    assert([en['error.account_disabled'], en['error.login_failed']].includes(refused.json.message), 'a known message', refused.json.message);
  } finally {
    await c.close();
  }
  // the last active admin: disabling "admin" now is refused with error.last_admin
  await page.click(T('account-active-admin'));
  await message(en['error.last_admin']);
  assertEq(sql("SELECT is_active FROM rollout.admins WHERE username = 'admin'"), 't', 'admin is still active in SQL');
  assertEq(await page.locator(`${T('account-active-admin')}`).first().evaluate((e) => e.classList.contains('is-checked')), true, 'its switch stays on');
  await shot('en-accounts-last-admin');
  // enable ops1 again and reset its password
  await page.click(T('account-active-' + acct.username));
  assert(await until(() => sql(`SELECT is_active FROM rollout.admins WHERE username = '${acct.username}'`) === 't', 5000), 'enabled again');
  await page.click(T('account-reset-' + acct.username));
  await fill('account-new-password', 'ops1-password-2');
  await dialogButton(page).click();
  await message(en['ui.accounts.password_reset']);
  assertEq((await login(acct.password)).status, 401, 'the old password is refused after the reset');
  assertEq((await login('ops1-password-2')).status, 200, 'the new password works');
  assertEq(sql(`SELECT count(*) > 0 FROM rollout.audit_log WHERE action = 'reset_password' AND actor = 'admin'`), 't', 'the reset is audited');
}, { httpErrors: true });

test('tokens: a new API token is shown once, works as a bearer token on GET /me, and is refused (401) once revoked', async () => {
  await visit('/tokens', PAGE_READY.tokens);
  await page.click(T('token-create'));
  await fill('token-name', 'ci-release');
  await page.click(T('token-save'));
  await page.waitForSelector(T('token-value'), { state: 'visible' });
  const token = (await text('token-value')).trim();
  assert(/^[0-9a-f]{64}$/.test(token), 'a token of 64 hex digits is shown', token);
  await shot('en-token-created');
  const me = await http('GET', API + '/me', undefined, { token });
  assertEq(me.status, 200, 'GET /me with the new token');
  assertEq(me.json.data.username, 'admin', 'it is the admin\'s token');
  await page.click(T('token-done'));
  await page.waitForSelector(T('token-value'), { state: 'hidden' });
  assert(!(await visibleText(page)).includes(token), 'the token is not shown again');
  const id = sql(`SELECT id FROM rollout.api_tokens WHERE name = 'ci-release' AND revoked_at IS NULL`);
  assert(/^\d+$/.test(id), 'the token in SQL', id);
  await page.click(T('token-revoke-' + id));
  await confirmBox();
  assert(await until(() => sql(`SELECT revoked_at IS NOT NULL FROM rollout.api_tokens WHERE id = ${id}`) === 't', 5000), 'revoked in SQL');
  assertEq((await http('GET', API + '/me', undefined, { token })).status, 401, 'GET /me with the revoked token');
});

test('projects: a project created in the UI; the header\'s switcher moves to it (empty versions page) and back', async () => {
  await visit('/projects', PAGE_READY.projects);
  await page.click(T('project-create'));
  await fill('project-slug', 'second');
  await fill('project-name', 'Second app');
  await page.click(T('project-save'));
  await message(en['ui.common.saved']);
  assertEq(sql("SELECT name FROM rollout.projects WHERE slug = 'second'"), 'Second app', 'the project in SQL');
  await rowWith('projects-table', 'Second app').waitFor({ state: 'visible' });
  const pick = async (label) => {
    await page.locator(T('project-switcher')).first().click();
    await page.locator('.el-select-dropdown__item:visible').filter({ hasText: label }).first().click();
  };
  await visit('/versions', PAGE_READY.versions);
  await pick('Second app');
  assert(await until(() => page.evaluate(() => localStorage.getItem('rollout.project') === 'second'), 5000), 'the switcher chose "second"');
  await page.waitForSelector(T(PAGE_READY.versions), { state: 'visible' });
  const empty = page.locator(`${T('versions-table')} .el-empty__description`);
  await empty.waitFor({ state: 'visible' });
  assertEq((await empty.innerText()).trim(), en['ui.versions.empty'], 'the empty state of the versions page');
  assertEq((await call('GET', API + '/versions?project=second', undefined, S.token)).total, 0, 'GET /versions of the new project');
  assertEq(await page.locator(`${T('versions-table')} [data-version]`).count(), 0, 'no version rows');
  await shot('en-versions-empty-project');
  await pick(sql("SELECT name FROM rollout.projects WHERE slug = 'default'"));
  assert(await until(() => page.evaluate(() => localStorage.getItem('rollout.project') === 'default'), 5000), 'back on "default"');
  await page.locator(`[data-version="${S.newVersion}"]`).first().waitFor({ state: 'visible' });
});

test('approvals: a maintainer\'s publish becomes a request; the admin sees it on the dashboard, approves one and rejects one (a comment is required)', async () => {
  // require approval for the default project, in its settings dialog
  await visit('/projects', PAGE_READY.projects);
  await page.click(T('project-edit-default'));
  await page.click(T('project-require-approval'));
  await page.click(T('project-save'));
  await message(en['ui.common.saved']);
  assert(await until(() => sql("SELECT require_approval FROM rollout.projects WHERE slug = 'default'") === 't', 5000), 'require_approval on in SQL');
  const m = await loginAs(MAINT, 'maintainer');
  try {
    /** The maintainer creates a draft and presses publish; returns its id. */
    const request = async (version) => {
      // from the list's "new version" button, as a person would
      await visit('/versions', PAGE_READY.versions, m.p);
      await m.p.click(T('version-create'));
      await m.p.waitForSelector(T('version-field-version'), { state: 'visible' });
      await fill('version-field-version', version, m.p);
      await fill('version-field-title', 'Needs approval ' + version, m.p);
      await m.p.click(T('version-publish'));
      await message(en['ui.versions.approval_requested'], m.p);
      const id = Number(sql(`SELECT id FROM rollout.versions WHERE version = '${version}'::rollout.semver`));
      assertEq(sql(`SELECT status || '|' || tag FROM rollout.versions WHERE id = ${id}`), 'draft|' + version, `${version} stays a draft in SQL`);
      assertEq(sql(`SELECT status || '|' || requested_by FROM rollout.approvals WHERE version_id = ${id}`), 'pending|maint', 'a pending request by maint');
      await m.p.waitForSelector(T('status-draft'), { state: 'visible' });
      return id;
    };
    const v1 = await request('1.2.0');
    await shot('en-approval-requested', m.p);
    const a1 = Number(sql(`SELECT id FROM rollout.approvals WHERE version_id = ${v1}`));
    // the admin: the dashboard counts it, the approvals page lists it
    await visit('/dashboard', PAGE_READY.dashboard);
    const d = await call('GET', API + '/dashboard?project=default', undefined, S.token);
    assertEq(d.pending_approvals, 1, 'GET /dashboard pending_approvals');
    const badge = page.locator(`${T('dashboard-pending')} sup`).first();
    await badge.waitFor({ state: 'visible' });
    assertEq(num(await badge.innerText()), 1, 'the dashboard shows 1 pending approval');
    await visit('/approvals', PAGE_READY.approvals);
    const row1 = rowWith('approvals-table', '1.2.0');
    await row1.waitFor({ state: 'visible' });
    assert((await row1.innerText()).includes('maint'), 'the row names the requester', await row1.innerText());
    await shot('en-approvals-pending');
    await page.click(T('approve-' + a1));
    await fill('approval-comment', 'looks good');
    await page.click(T('approval-confirm'));
    await message(en['ui.approvals.approved_msg']);
    assertEq(sql(`SELECT status FROM rollout.versions WHERE id = ${v1}`), 'published', '1.2.0 is published in SQL');
    assertEq(sql(`SELECT status || '|' || decided_by || '|' || comment FROM rollout.approvals WHERE id = ${a1}`), 'approved|admin|looks good', 'the request is approved');
    const steps = sql(`SELECT actor || ':' || action FROM rollout.audit_log WHERE object_type = 'approvals' AND object_id = ${a1} ORDER BY id`).split('\n');
    assertEq(steps.join(' '), 'maint:insert admin:update', 'the audit log has the request and the decision');
    assert(sql(`SELECT count(*) FROM rollout.audit_log WHERE object_type = 'versions' AND object_id = ${v1} AND action = 'update'
      AND after->>'status' = 'published'`) >= '1', 'the audit log has the publish of the version');
    // a second request (through the API this time: the answer carries the approval), rejected: not without a comment
    const mt = (await call('POST', API + '/auth/login', MAINT)).token;
    const v2 = (await call('POST', API + '/versions', { project: 'default', version: '1.3.0', channel: 'stable', title: 'Needs approval 1.3.0' }, mt)).id;
    const pub = await call('POST', `${API}/versions/${v2}/publish`, {}, mt);
    assert(pub.approval && pub.approval.status === 'pending' && pub.version.status === 'draft', 'the API answers with a pending approval and a draft', pub);
    const a2 = pub.approval.id;
    assertEq(sql(`SELECT status || '|' || requested_by FROM rollout.approvals WHERE id = ${a2} AND version_id = ${v2}`), 'pending|maint', 'pending in SQL');
    await visit('/approvals', PAGE_READY.approvals);
    await page.click(T('reject-' + a2));
    await page.click(T('approval-confirm'));
    const alert = page.locator('.el-overlay-dialog:visible .el-alert__title').first();
    await alert.waitFor({ state: 'visible' });
    assertEq((await alert.innerText()).trim(), en['error.required'].replace('{field}', en['ui.approvals.comment']), 'the dialog says the comment is required');
    await shot('en-approval-reject-no-comment');
    assertEq(sql(`SELECT status FROM rollout.approvals WHERE id = ${a2}`), 'pending', 'still pending');
    const noComment = await http('POST', `${API}/approvals/${a2}/reject`, {}, { token: S.token, headers: { 'Accept-Language': 'en' } });
    assert(noComment.status === 400 && noComment.json.error.field === 'comment', 'the server refuses a reject without a comment too', noComment.json);
    await fill('approval-comment', 'wait for the security fix');
    await page.click(T('approval-confirm'));
    await message(en['ui.approvals.rejected_msg']);
    assertEq(sql(`SELECT status || '|' || decided_by || '|' || comment FROM rollout.approvals WHERE id = ${a2}`), 'rejected|admin|wait for the security fix', 'rejected in SQL');
    assertEq(sql(`SELECT status FROM rollout.versions WHERE id = ${v2}`), 'draft', '1.3.0 stays a draft');
    await page.locator(`${T('approvals-status')} label`, { hasText: en['ui.approvals.rejected'] }).click();
    const row2 = rowWith('approvals-table', '1.3.0');
    await row2.waitFor({ state: 'visible' });
    assert((await row2.innerText()).includes('wait for the security fix'), 'the rejected list shows the comment', await row2.innerText());
    await shot('en-approvals-rejected');
    assertEq((await call('GET', API + '/dashboard?project=default', undefined, S.token)).pending_approvals, 0, 'nothing pending any more');
  } finally {
    await m.c.close();
    await call('PUT', API + '/projects/default', { require_approval: false }, S.token);
  }
}, { httpErrors: true, timeout: 90000 });

test('versions: "new version" opened from a version\'s page starts from an empty form', async () => {
  assert(S.versionId, 'needs the version');
  await visit('/versions/' + S.versionId, 'page-version');
  await page.waitForSelector(T('status-published'), { state: 'visible' });
  await visit('/versions/new', 'page-version');
  await sleep(300);
  const values = {};
  for (const f of ['version', 'tag', 'title']) values[f] = await (await inputOf('version-field-' + f)).inputValue();
  assertEq(JSON.stringify(values), JSON.stringify({ version: '', tag: '', title: '' }), 'the fields of the new version');
  assertEq(await page.locator(T('status-published')).count(), 0, 'no status of the previous version');
});

test('my password: a wrong current password shows the server\'s message and keeps the session; the right one changes it', async () => {
  const m = await loginAs(MAINT, 'password');
  try {
    await m.p.click(T('user-menu'));
    await m.p.click(T('menu-password'));
    await m.p.waitForSelector(T('page-password'), { state: 'visible' });
    await fill('password-current', 'not-my-password', m.p);
    await fill('password-new', 'maint-password-2', m.p);
    await fill('password-repeat', 'maint-password-2', m.p);
    await m.p.click(T('password-submit'));
    const shown = await until(() => m.p.locator(T('password-error')).isVisible(), 8000);
    if (!shown) await shot('FAILED-password', m.p);
    assert(shown, 'the password page shows an error', { url: m.p.url(), notice: await m.p.locator(T('login-notice')).allInnerTexts() });
    assertEq((await m.p.locator(T('password-error')).innerText()).trim(), en['error.login_failed'], 'the server\'s message (error.login_failed)');
    await sleep(500);
    assert(/#\/password/.test(m.p.url()), 'still on the password page, not logged out', m.p.url());
    const token = await m.p.evaluate(() => Object.values(sessionStorage).join(' ').match(/\b[0-9a-f]{64}\b/)?.[0]);
    assert(token, 'the session keeps its token');
    assertEq((await http('GET', API + '/me', undefined, { token })).status, 200, 'and the token still works');
    await shot('en-password-wrong', m.p);
    await fill('password-current', MAINT.password, m.p);
    await m.p.click(T('password-submit'));
    await message(en['ui.password.changed'], m.p);
    const login = (pw) => http('POST', API + '/auth/login', { username: MAINT.username, password: pw });
    assertEq((await login(MAINT.password)).status, 401, 'the old password is refused');
    assertEq((await login('maint-password-2')).status, 200, 'the new one works');
  } finally {
    await m.c.close();
  }
}, { httpErrors: true });

/** Every page, its screenshot as LANG-NAME.png, and what is wrong on it: raw keys, CSP violations, html lang, missing translation. */
async function everyPage(lang) {
  const cat = lang === 'en' ? en : zh;
  const problems = [];
  const list = NAV.map((name) => ({ name, hash: '/' + name, ready: PAGE_READY[name], label: cat[`ui.nav.${name}`] }));
  if (S.versionId) {
    for (const tab of ['details', 'artifacts', 'rollout']) list.push({ name: 'version-' + tab, hash: '/versions/' + S.versionId, ready: 'page-version', tab });
  }
  list.push({ name: 'version-new', hash: '/versions/new', ready: 'page-version', tab: 'details' });
  list.push({ name: 'password', hash: '/password', ready: 'page-password' });
  for (const p of list) {
    await visit(p.hash, p.ready);
    if (p.tab) await openTab(p.tab);
    await sleep(400);	// charts animate in
    const t = await visibleText(page);
    const raw = t.match(RAW_KEY);
    if (raw) problems.push({ page: p.name, rawKeys: [...new Set(raw)].slice(0, 10) });
    if (lang === 'zh-CN' && !/[\u4e00-\u9fff]/.test(t)) problems.push({ page: p.name, noChinese: t.slice(0, 200) });
    if (p.label && !t.includes(p.label)) problems.push({ page: p.name, missingTitle: p.label });
    const csp = await page.evaluate(() => window.__cspViolations);
    if (csp && csp.length) problems.push({ page: p.name, csp });
    const htmlLang = await page.evaluate(() => document.documentElement.lang);
    if (htmlLang !== lang) problems.push({ page: p.name, htmlLang });
    await shot(`${lang}-${p.name}`);
  }
  return problems;
}

test('every page in English: no raw message keys, no CSP violation, html lang="en"; screenshots', async () => {
  const problems = await everyPage('en');
  assertEq(JSON.stringify(problems), '[]', 'problems');
}, { timeout: 150000 });

test('switching to Chinese: html lang and Element Plus follow, the choice survives a reload, every page is in Chinese', async () => {
  await visit('/versions', PAGE_READY.versions);
  const totalEn = await page.locator(`${T('versions-pagination')} .el-pagination__total`).first().innerText();
  await page.click(T('lang-zh-CN'));
  assert(await until(() => page.evaluate(() => document.documentElement.lang === 'zh-CN'), 5000), 'html lang becomes zh-CN');
  assert(await until(async () => (await visibleText(page)).includes(zh['ui.nav.versions']), 5000), 'the navigation is in Chinese');
  // Element Plus's own texts (the pagination's total) follow
  const totalZh = await page.locator(`${T('versions-pagination')} .el-pagination__total`).first().innerText();
  // (the words come from Element Plus's own catalogs, as the UI loads them)
  const epTotal = (lang) => require(path.join(__dirname, '../../web/node_modules/element-plus/lib/locale/lang', `${lang}.js`))
    .default.el.pagination.total.split('{total}')[0].trim();
  const [wordEn, wordZh] = [epTotal('en'), epTotal('zh-cn')];
  assert(wordEn && wordZh && totalEn.includes(wordEn) && totalZh.includes(wordZh),
    'Element Plus locale follows (the pagination\'s total in its English, then Chinese words)', { totalEn, totalZh, wordEn, wordZh });
  await page.reload();
  await page.waitForSelector(T(PAGE_READY.versions), { state: 'visible' });
  assertEq(await page.evaluate(() => document.documentElement.lang), 'zh-CN', 'the language is remembered after a reload');
  // the server's messages follow too (Accept-Language)
  const problems = await everyPage('zh-CN');
  assertEq(JSON.stringify(problems), '[]', 'problems');
}, { timeout: 180000 });

test('in Chinese the server\'s messages are Chinese too (a failed login)', async () => {
  const p = await ctx.newPage();
  watch(p, 'zh-login');
  await p.goto(base + '/#/login');
  await p.waitForSelector(T('login-username'), { state: 'visible' });
  assertEq(await p.evaluate(() => document.documentElement.lang), 'zh-CN', 'the login page is Chinese (localStorage)');
  await shot('zh-CN-login', p);
  await fill('login-username', ADMIN.username, p);
  await fill('login-password', 'wrong-password', p);
  await p.click(T('login-submit'));
  await p.waitForSelector(T('login-error'), { state: 'visible' });
  assertEq((await p.locator(T('login-error')).innerText()).trim(), zh['error.login_failed'], 'error.login_failed in Chinese');
  await p.close();
  // back to English for the tests that follow
  await page.click(T('lang-en'));
  assert(await until(() => page.evaluate(() => document.documentElement.lang === 'en'), 5000), 'html lang back to en');
}, { httpErrors: true });

test('accessibility: axe-core finds no critical violation on any page (login included)', async () => {
  const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const p = await axeCtx.newPage();
  const scan = async (name) => {
    await p.addScriptTag({ content: axeSource });
    const r = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    return r.violations.map((v) => ({ page: name, id: v.id, impact: v.impact, nodes: v.nodes.length,
      target: v.nodes[0] && v.nodes[0].target.join(' '), html: v.nodes[0] && v.nodes[0].html.slice(0, 160) }));
  };
  const found = [];
  await visit('/login', 'page-login', p);
  found.push(...await scan('login'));
  await fill('login-username', ADMIN.username, p);
  await fill('login-password', ADMIN.password, p);
  await p.click(T('login-submit'));
  await p.waitForSelector(T(PAGE_READY.dashboard), { state: 'visible' });
  for (const name of NAV) {
    await visit('/' + name, PAGE_READY[name], p);
    found.push(...await scan(name));
  }
  if (S.versionId) {
    await visit('/versions/' + S.versionId, 'page-version', p);
    found.push(...await scan('version-edit'));
  }
  const serious = found.filter((v) => v.impact === 'serious');
  const byRule = {};
  for (const v of serious) (byRule[v.id] = byRule[v.id] || { pages: [], example: v.target }).pages.push(v.page);
  for (const [id, x] of Object.entries(byRule)) console.log(`# axe, serious (reported, not failing): ${id} on ${x.pages.join(', ')}; e.g. ${x.example}`);
  const critical = found.filter((v) => v.impact === 'critical');
  assertEq(JSON.stringify(critical), '[]', 'critical violations');
  await p.close();
}, { timeout: 150000 });

test('a reload keeps the session (sessionStorage)', async () => {
  await visit('/channels', PAGE_READY.channels);
  await page.reload();
  await page.waitForSelector(T(PAGE_READY.channels), { state: 'visible' });
  assert(/#\/channels/.test(page.url()), 'still on the channels page after a reload', page.url());
});

test('a revoked token sends the user back to the login page with the server\'s message', async () => {
  const token = await page.evaluate(() => Object.values(sessionStorage).join(' ').match(/\b[0-9a-f]{64}\b/)?.[0]);
  assert(token, 'the page has a token');
  assertEq(sql(`UPDATE rollout.api_tokens SET revoked_at = now() WHERE token_hash = sha256(convert_to('${token}', 'UTF8'))
    AND revoked_at IS NULL RETURNING 1`), '1', 'the UI\'s token was revoked in SQL');
  await visit('/rules', null);
  await page.waitForSelector(T('login-notice'), { state: 'visible', timeout: 10000 });
  assert(/#\/login/.test(page.url()), 'on the login page', page.url());
  assertEq(await text('login-notice'), en['error.token_revoked'], 'the login page says why (error.token_revoked)');
  assertEq(await page.evaluate(() => /\b[0-9a-f]{64}\b/.test(Object.values(sessionStorage).join(' '))), false, 'sessionStorage forgot the token');
}, { httpErrors: true });

test('logout returns to the login page and ends the token on the server', async () => {
  await fill('login-username', ADMIN.username);
  await fill('login-password', ADMIN.password);
  await page.click(T('login-submit'));
  await page.waitForSelector(T('user-menu'), { state: 'visible' });
  const token = await page.evaluate(() => Object.values(sessionStorage).join(' ').match(/\b[0-9a-f]{64}\b/)?.[0]);
  assert(token, 'a token in sessionStorage');
  assertEq((await http('GET', API + '/me', undefined, { token })).status, 200, 'the token works before logout');
  await page.click(T('user-menu'));
  await page.click(T('logout'));
  await page.waitForSelector(T('login-username'), { state: 'visible' });
  assert(/#\/login/.test(page.url()), 'on the login page', page.url());
  assertEq(await page.evaluate(() => /\b[0-9a-f]{64}\b/.test(Object.values(sessionStorage).join(' '))), false, 'sessionStorage forgot the token');
  assertEq((await http('GET', API + '/me', undefined, { token })).status, 401, 'the token is revoked on the server');
  await visit('/dashboard', null);
  await page.waitForSelector(T('login-username'), { state: 'visible' });
  assert(/#\/login/.test(page.url()), 'a protected page sends an anonymous visitor to the login page', page.url());
});

test('a viewer sees every page but can change nothing: no admin pages, no save, publish or apply', async () => {
  const c = await newContext();
  const p = await c.newPage();
  watch(p, 'viewer');
  try {
    await visit('/login', 'page-login', p);
    await fill('login-username', 'viewer', p);
    await fill('login-password', 'viewer-password-1', p);
    await p.click(T('login-submit'));
    await p.waitForSelector(T('page-dashboard'), { state: 'visible' });
    const names = await p.$$eval('[data-test^="nav-"]', (els) => els.map((e) => e.getAttribute('data-test').slice(4)));
    assertEq(names.join(' '), NAV.filter((n) => n !== 'approvals' && n !== 'accounts').join(' '), 'the navigation of a viewer');
    assert(S.versionId, 'needs the version');
    await visit('/versions/' + S.versionId, 'page-version', p);
    for (const hook of ['version-save', 'version-publish', 'version-pause', 'version-yank', 'version-delete']) {
      assertEq(await p.locator(T(hook)).count(), 0, `a viewer has no ${hook}`);
    }
    await p.click(T('version-tab-rollout'));
    await p.waitForSelector(T('cohort-count'), { state: 'visible' });
    assertEq(await p.locator(T('rollout-apply')).count(), 0, 'a viewer has no rollout-apply');
    assert(await p.locator(`${T('rollout-input')} input`).isDisabled(), 'the percentage input is disabled for a viewer');
    await p.goto(base + '/#/accounts');
    await sleep(1000);
    assertEq(await p.locator(T('page-accounts')).count(), 0, 'a viewer cannot open the accounts page');
  } finally {
    await c.close();
  }
}, { httpErrors: true });

test('no console error, uncaught exception or CSP violation on any page', async () => {
  const bad = consoleErrors.filter((e) => !e.httpError);
  assertEq(JSON.stringify(bad.slice(0, 10)), '[]', `${bad.length} console errors`);
});

test('rollout-http is still running', async () => {
  if (serverPid) {
    let alive = true;
    try { process.kill(serverPid, 0); } catch (e) { alive = false; }
    assert(alive, 'rollout-http process alive');
  }
  assertEq((await http('GET', '/healthz')).status, 200, 'healthz');
});

// ---------------------------------------------------------------------------
async function main() {
  fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  ctx = await newContext();
  axeCtx = await newContext({ bypassCSP: true });
  let n = 0;
  // ROLLOUT_UI_SKIP=REGEX leaves out the tests whose names match (while working on others)
  const skip = process.env.ROLLOUT_UI_SKIP ? new RegExp(process.env.ROLLOUT_UI_SKIP) : null;
  for (const t of tests) {
    n++;
    if (skip && skip.test(t.name)) {
      console.log(`ok ${n} - ${t.name} # SKIP ROLLOUT_UI_SKIP`);
      continue;
    }
    current = t;
    const started = Date.now();
    try {
      await withTimeout(t.fn(), t.opts.timeout || 60000);
      passed++;
      console.log(`ok ${n} - ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      if (t.opts.knownBug) console.log(`# test ${n} is marked knownBug but passes: the bug is fixed, remove the mark (${t.opts.knownBug})`);
    } catch (e) {
      if (t.opts.knownBug) {
        known++;
        console.log(`not ok ${n} - ${t.name} # TODO known bug: ${t.opts.knownBug}`);
      } else {
        failed++;
        console.log(`not ok ${n} - ${t.name}`);
      }
      const msg = e instanceof Failure ? e.message : (e && e.stack) || String(e);
      console.log(msg.split('\n').slice(0, 8).map((l) => '  # ' + l).join('\n'));
      if (page) await page.screenshot({ path: path.join(shots, `FAILED-${String(n).padStart(2, '0')}.png`) }).catch(() => {});
    }
  }
  current = null;
  await browser.close().catch(() => {});
  // what the server said, for a failed run
  if (failed && process.env.ROLLOUT_SERVER_LOG) {
    const log = fs.readFileSync(process.env.ROLLOUT_SERVER_LOG, 'utf8').split('\n');
    const notable = log.filter((l) => l && !/"status":\s*[23]\d\d/.test(l)).slice(-25);
    console.log('# rollout-http, its last lines other than 2xx/3xx access lines:');
    for (const l of notable) console.log('#   ' + l.slice(0, 300));
  }
}

if (!base || !db) {
  console.log('usage: ROLLOUT_URL=http://127.0.0.1:PORT ROLLOUT_DB=NAME node ui.test.js (test/run-browser.sh sets them)');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
main().catch((e) => {
  failed++;
  console.log('not ok - the suite itself failed: ' + ((e && e.stack) || e));
}).finally(() => {
  if (known) console.log(`# ${known} test(s) failed on known, reported bugs (# TODO above)`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
