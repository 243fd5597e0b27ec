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
let current = null;	// the running test
/** Declares a test; opts.httpErrors: the test provokes 4xx answers on purpose. */
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
  return execFileSync('psql', ['-d', db, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query], { encoding: 'utf8' }).trim();
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
let pages = [];	// [{name, hash}] of the nav, found after login

/** Records console errors, uncaught exceptions and failed requests of a page. */
function watch(p, label) {
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    consoleErrors.push({ test: current && current.name, page: label + ' ' + p.url(), text,
      httpError: /Failed to load resource: the server responded with a status of 4\d\d/.test(text) && current && current.opts.httpErrors });
  });
  p.on('pageerror', (e) => consoleErrors.push({ test: current && current.name, page: label + ' ' + p.url(), text: 'uncaught ' + e.message }));
}

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
      .filter((e) => e.offsetParent !== null || e.getClientRects().length)
      .flatMap((e) => ['placeholder', 'title', 'aria-label'].map((a) => e.getAttribute(a)).filter(Boolean));
    return document.body.innerText + '\n' + attrs.join('\n');
  });
}
const RAW_KEY = /\b(?:ui\.[a-z_.]+|error\.[a-z_]+)/g;

/** Goes to a page of the UI by its hash route and waits until its root element shows and the network is quiet. */
async function visit(hash, pageName) {
  await page.goto(base + '/#' + hash);
  if (pageName) await page.waitForSelector(T('page-' + pageName), { state: 'visible' });
  await page.waitForLoadState('networkidle').catch(() => {});
}

/** The element of a hook, or its first input when the hook is on a wrapper (Element Plus inputs). */
async function inputOf(hook) {
  const el = page.locator(T(hook)).first();
  const tag = await el.evaluate((e) => e.tagName);
  return tag === 'INPUT' || tag === 'TEXTAREA' ? el : el.locator('input, textarea').first();
}
async function fill(hook, value) {
  const el = await inputOf(hook);
  await el.fill(String(value));
}
const escapeRe = (s) => String(s).replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
/** Picks an option of an Element Plus select (or a native one) by its visible label or value. */
async function choose(hook, label) {
  const el = page.locator(T(hook)).first();
  if (await el.evaluate((e) => e.tagName === 'SELECT')) {
    await el.selectOption(label);
    return;
  }
  await el.click();
  const option = page.locator('.el-select-dropdown__item:visible, .el-select-dropdown li:visible, [role="option"]:visible')
    .filter({ hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) }).first();
  await option.click();
}
async function text(hook) {
  return (await page.locator(T(hook)).first().innerText()).trim();
}
const num = (s) => Number(String(s).replace(/[^0-9.\-]/g, ''));

/** Saves a screenshot of the tab as ROLLOUT_SCREENSHOTS/NAME.png. */
async function shot(name, p = page) {
  await p.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
}

/** Checks a chart container: an ECharts instance drawn on a canvas of real size, with data. */
async function chartInfo(hook) {
  return page.locator(T(hook)).first().evaluate((el) => {
    const root = el.hasAttribute('_echarts_instance_') ? el : el.querySelector('[_echarts_instance_]');
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
    const aria = root && root.getAttribute('aria-label');
    return { echarts: !!root, canvas: !!canvas, width: canvas ? canvas.width : 0, height: canvas ? canvas.height : 0, colored, aria };
  });
}

// ---------------------------------------------------------------------------
// state shared by the tests
// ---------------------------------------------------------------------------
const S = {
  token: null,	// an API token of the admin for the test's own API reads
  clients: [],	// seeded clients {client_id, current_version, region, os, arch}
  newVersion: '1.1.0',
  versionId: null,
  percentage: null,
  artifact: null,	// {file, sha256, size}
};
const XSS_NOTES = '## Fixes\n\nThe **crash** on start is gone.\n\n<img src=x onerror=window.__xss=1>\n\n<script>window.__xss=2</script>\n';

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
    const c = { client_id: `host-${String(i).padStart(4, '0')}`, current_version: i <= 80 ? '0.9.0' : '1.0.0',
      channel: i % 16 === 0 ? 'beta' : 'stable', region: regions[i % regions.length],
      os: i % 10 === 0 ? 'windows' : 'linux', arch: 'amd64' };
    S.clients.push(c);
  }
  // in batches of 20 at once, like many clients would
  for (let i = 0; i < S.clients.length; i += 20) {
    const answers = await Promise.all(S.clients.slice(i, i + 20).map((c) => checkUpdate(c)));
    answers.forEach((a, j) => { S.clients[i + j].offered = a.has_update ? a.latest_version : null; });
  }
  const offered = S.clients.filter((c) => c.offered === 'v1.0.0');
  assert(offered.length > 40, 'linux clients on 0.9.0 are offered v1.0.0', offered.length);
  for (const c of offered.slice(0, 30)) await call('POST', '/api/v1/download-started', { version: '1.0.0', client_id: c.client_id });
  for (const [k, c] of offered.slice(0, 24).entries()) {
    await call('POST', '/api/v1/install-result', { version: '1.0.0', client_id: c.client_id, success: k % 6 !== 5,
      error_message: k % 6 === 5 ? 'disk full' : undefined });
  }
  assertEq(Number(sql("SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'host-%'")), 160, 'client_state rows');
  assertEq(Number(sql('SELECT count(*) FROM rollout.client_results')), 24, 'install results recorded');
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
  const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), 'index.html loads hashed JS and CSS from /assets/', assets);
  assert(!/<script(?![^>]*\bsrc=)[^>]*>/.test(index), 'index.html has no inline script (the CSP would block it)');
  for (const a of assets) {
    const r = await http('GET', a);
    assertEq(r.status, 200, `GET ${a}`);
    const cc = r.headers.get('cache-control') || '';
    assert(/immutable/.test(cc) && /max-age=31536000/.test(cc), `${a} Cache-Control immutable`, cc);
    assert(r.headers.get('content-security-policy'), `${a} carries the CSP`);
    if (a.endsWith('.js')) assert(/javascript/.test(r.headers.get('content-type') || ''), `${a} type`, r.headers.get('content-type'));
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
  await shot('en-login');
  await fill('login-username', ADMIN.username);
  await fill('login-password', 'wrong-password');
  await page.click(T('login-submit'));
  const msg = await until(async () => (await visibleText(page)).includes(en['error.login_failed']), 10000);
  assert(msg, 'the login page shows error.login_failed', await visibleText(page));
  assert(/#\/login/.test(page.url()), 'still on the login page', page.url());
  await fill('login-password', ADMIN.password);
  await page.click(T('login-submit'));
  await page.waitForSelector(T('page-dashboard'), { state: 'visible' });
  const stored = await page.evaluate(() => ({
    session: Object.values(sessionStorage).join(' '), local: Object.values(localStorage).join(' '), url: location.href }));
  assert(/\b[0-9a-f]{64}\b/.test(stored.session), 'the token is kept in sessionStorage', Object.keys(stored));
  assert(!/\b[0-9a-f]{64}\b/.test(stored.local), 'no token in localStorage');
  assert(!/[0-9a-f]{64}/.test(stored.url), 'no token in the URL');
  // the pages of the navigation
  pages = await page.$$eval('[data-test^="nav-"]', (els) => els.map((e) => ({
    name: e.getAttribute('data-test').slice(4),
    hash: (e.getAttribute('href') || e.querySelector('a')?.getAttribute('href') || e.getAttribute('index') || '').replace(/^#/, '') })));
  const names = pages.map((p) => p.name);
  for (const want of ['dashboard', 'versions', 'rollout', 'channels', 'rules', 'mirrors', 'stats', 'simulator', 'audit', 'accounts', 'projects']) {
    assert(names.includes(want), `the navigation has ${want}`, names);
  }
}, { httpErrors: true });

test('dashboard: stat cards equal GET /dashboard, the trend chart is drawn with data, channels list the latest release', async () => {
  await visit('/dashboard', 'dashboard');
  const d = await call('GET', API + '/dashboard?project=default', undefined, S.token);
  assertEq(num(await text('stat-total-clients')), d.total_clients, 'total clients');
  assertEq(num(await text('stat-active-24h')), d.active_24h, 'active 24 h');
  assertEq(num(await text('stat-checks-today')), d.checks_today, 'checks today');
  assert(d.total_clients === 160, 'the API counts the seeded clients', d);
  assert(d.install_success_rate !== null, 'the API has a success rate', d);
  const rate = num(await text('stat-install-success-rate'));
  assert(Math.abs(rate - Number(d.install_success_rate)) < 0.051, 'install success rate', { shown: rate, api: d.install_success_rate });
  const chart = await until(async () => { const c = await chartInfo('chart-trend'); return c.canvas && c.colored > 200 && c; }, 8000);
  assert(chart, 'the trend chart is an ECharts canvas with coloured series', await chartInfo('chart-trend'));
  const channels = await page.locator(T('channel-status')).allInnerTexts();
  assert(channels.join('\n').includes('1.0.0'), 'channel status shows the latest stable release', channels);
  await shot('en-dashboard');
});

test('dashboard: an install result reported through the client API updates a number without a reload', async () => {
  await page.evaluate(() => { window.__sameDocument = 'yes'; });
  const before = await text('stat-install-success-rate');
  // a failure from a client that has not reported yet moves the success rate
  const c = S.clients.filter((x) => x.offered === 'v1.0.0')[40];
  await call('POST', '/api/v1/download-started', { version: '1.0.0', client_id: c.client_id });
  await call('POST', '/api/v1/install-result', { version: '1.0.0', client_id: c.client_id, success: false, error_message: 'checksum mismatch' });
  const d = await call('GET', API + '/dashboard?project=default', undefined, S.token);
  const changed = await until(async () => {
    const t = await text('stat-install-success-rate');
    return t !== before && Math.abs(num(t) - Number(d.install_success_rate)) < 0.051 && t;
  }, 15000, 200);
  assert(changed, 'the success rate card follows the live event', { before, now: await text('stat-install-success-rate'), api: d.install_success_rate });
  assertEq(await page.evaluate(() => window.__sameDocument), 'yes', 'the page was not reloaded');
});

test('versions: a new version is saved as a draft; the notes preview renders markdown and keeps the XSS payload inert', async () => {
  await visit('/versions', 'versions');
  await page.click(T('version-new'));
  await page.waitForSelector(T('version-field-version'), { state: 'visible' });
  await fill('version-field-version', S.newVersion);
  await choose('version-field-channel', 'stable').catch(() => {});	// stable is the default
  await fill('version-field-title', 'Faster sync');
  await fill('version-field-notes', XSS_NOTES);
  if (await page.locator(T('version-notes-preview-toggle')).count()) await page.click(T('version-notes-preview-toggle'));
  const preview = page.locator(T('version-notes-preview')).first();
  await preview.waitFor({ state: 'visible' });
  await until(async () => (await preview.innerHTML()).includes('crash'), 5000);
  const html = await preview.innerHTML();
  assert(/<h2[^>]*>\s*Fixes/.test(html) && /<strong>crash<\/strong>/.test(html), 'the preview renders markdown', html);
  assert(!/onerror|<script/i.test(html), 'the preview has no script or event handler', html);
  await sleep(300);
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss after the preview');
  await shot('en-versions-edit');
  await page.click(T('version-save-draft'));
  await until(async () => sql(`SELECT status FROM rollout.versions WHERE version = '${S.newVersion}'`) === 'draft', 10000);
  const row = sql(`SELECT id, status, title, release_notes FROM rollout.versions WHERE version = '${S.newVersion}'`).split('|');
  assertEq(row[1], 'draft', 'the version is a draft in the database');
  assertEq(row[2], 'Faster sync', 'its title');
  assert(row.slice(3).join('|').includes('<img src=x onerror'), 'the notes are stored as typed (sanitized when shown)', row[3]);
  S.versionId = Number(row[0]);
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss after saving');
});

test('versions: uploading an artifact shows the progress bar reach 100 % and the sha256 of the file', async () => {
  assert(S.versionId, 'needs the version created by the previous test');
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-ui-')), `app-${S.newVersion}-linux-amd64.tgz`);
  fs.writeFileSync(file, bytes);
  S.artifact = { file, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
  // the edit form of the version (it may still be open after saving)
  if (!(await page.locator(T('artifact-file')).count())) {
    await visit('/versions/' + S.versionId, null);
    await page.waitForSelector(T('artifact-file'), { state: 'attached' });
  }
  if (await page.locator(T('artifact-os')).count()) await fill('artifact-os', 'linux').catch(() => choose('artifact-os', 'linux'));
  if (await page.locator(T('artifact-arch')).count()) await fill('artifact-arch', 'amd64').catch(() => choose('artifact-arch', 'amd64'));
  const input = page.locator(`${T('artifact-file')} input[type=file], input[type=file]${T('artifact-file')}`).first();
  // the progress the page shows while the upload runs
  const seen = [];
  const sampler = setInterval(async () => {
    const v = await page.locator(`${T('upload-progress')} [aria-valuenow], ${T('upload-progress')}[aria-valuenow]`).first()
      .getAttribute('aria-valuenow', { timeout: 50 }).catch(() => null);
    if (v !== null) seen.push(Number(v));
  }, 20);
  await input.setInputFiles(file);
  if (await page.locator(T('artifact-upload')).count()) await page.click(T('artifact-upload'));
  const shown = await until(async () => {
    const t = await page.locator(T('artifact-checksum')).first().innerText({ timeout: 200 });
    return /sha256:[0-9a-f]{64}/.test(t) && t;
  }, 30000, 100);
  clearInterval(sampler);
  assert(shown, 'the page shows a sha256 after the upload');
  assert(shown.includes('sha256:' + S.artifact.sha256), 'the checksum shown is the sha256 of the file', { shown, want: S.artifact.sha256 });
  const final = await page.locator(`${T('upload-progress')} [aria-valuenow], ${T('upload-progress')}[aria-valuenow]`).first()
    .getAttribute('aria-valuenow').catch(() => null);
  assert(Math.max(...seen, Number(final)) === 100, 'the progress bar reached 100', { seen: seen.slice(-5), final });
  const a = sql(`SELECT os, arch, file_size, file_checksum, file_url FROM rollout.artifacts WHERE version_id = ${S.versionId}`).split('|');
  assertEq(a[0] + '/' + a[1], 'linux/amd64', 'artifact platform in the database');
  assertEq(Number(a[2]), S.artifact.size, 'artifact size in the database');
  assertEq(a[3], 'sha256:' + S.artifact.sha256, 'artifact checksum in the database');
  S.artifact.url = a[4];
  await shot('en-versions-artifact');
});

test('versions: publish; the list shows it published and the database agrees', async () => {
  assert(S.versionId, 'needs the version');
  await page.click(T('version-publish'));
  // a confirmation box, when the UI asks
  const confirm = page.locator('.el-message-box__btns .el-button--primary');
  if (await confirm.isVisible({ timeout: 1000 }).catch(() => false)) await confirm.click();
  const ok = await until(() => sql(`SELECT status FROM rollout.versions WHERE id = ${S.versionId}`) === 'published', 10000);
  assert(ok, 'the version is published in the database', sql(`SELECT status FROM rollout.versions WHERE id = ${S.versionId}`));
  await visit('/versions', 'versions');
  const row = page.locator(`${T('version-row')}[data-version="${S.newVersion}"], ${T('version-row-' + S.newVersion)}`).first();
  await row.waitFor({ state: 'visible' });
  const rowText = await row.innerText();
  assert(rowText.includes(en['ui.status.published'] || 'Published'), 'the row says published', rowText);
  await shot('en-versions');
});

test('the published artifact downloads with the same bytes (sha256 equal)', async () => {
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

test('staged rollout: the cohort shown for a percentage equals the exact count from SQL; apply makes check-update follow', async () => {
  assert(S.versionId, 'needs the published version');
  await visit('/rollout', 'rollout');
  if (await page.locator(T('rollout-version')).count()) await choose('rollout-version', S.newVersion).catch(() => choose('rollout-version', 'v' + S.newVersion));
  await page.waitForSelector(T('rollout-input'), { state: 'visible' });
  // type a percentage
  S.percentage = 37.5;
  await fill('rollout-input', S.percentage);
  await (await inputOf('rollout-input')).press('Tab');
  const want = cohortFromSql(S.percentage);
  assert(want > 5 && want < 100, 'the seeded clients make a cohort of some size', want);
  let got = await until(async () => num(await text('cohort-inside')) === want, 8000);
  assert(got, `the cohort count for ${S.percentage} % equals SQL's ${want}`, await text('cohort-inside'));
  const api = await call('GET', `${API}/versions/${S.versionId}/cohort?percentage=${S.percentage}`, undefined, S.token);
  assertEq(api.inside, want, 'GET /cohort inside');
  if (await page.locator(T('cohort-audience')).count()) assertEq(num(await text('cohort-audience')), api.audience, 'the audience shown');
  // move the slider with the keyboard: the count follows
  const handle = page.locator(`${T('rollout-slider')} [role="slider"], ${T('rollout-slider')}[role="slider"]`).first();
  await handle.focus();
  for (let i = 0; i < 5; i++) await handle.press('ArrowRight');
  const moved = Number(await handle.getAttribute('aria-valuenow'));
  assert(moved > S.percentage, 'the slider moved up', moved);
  const inputValue = num(await (await inputOf('rollout-input')).inputValue());
  assertEq(inputValue, moved, 'the number input follows the slider');
  const want2 = cohortFromSql(moved);
  got = await until(async () => num(await text('cohort-inside')) === want2, 8000);
  assert(got, `the cohort count for ${moved} % equals SQL's ${want2}`, await text('cohort-inside'));
  await shot('en-rollout');
  // back to the typed percentage, and apply
  await fill('rollout-input', S.percentage);
  await (await inputOf('rollout-input')).press('Tab');
  await until(async () => num(await text('cohort-inside')) === want, 8000);
  await page.click(T('rollout-apply'));
  const confirm = page.locator('.el-message-box__btns .el-button--primary');
  if (await confirm.isVisible({ timeout: 1000 }).catch(() => false)) await confirm.click();
  const applied = await until(() => Number(sql(`SELECT rollout_percentage FROM rollout.versions WHERE id = ${S.versionId}`)) === S.percentage, 10000);
  assert(applied, 'the version\'s rollout_percentage is set in the database', sql(`SELECT rollout_percentage FROM rollout.versions WHERE id = ${S.versionId}`));
  // clients on 1.0.0 (linux, stable): inside the cohort get 1.1.0, outside get nothing newer
  const salt = `default@${S.newVersion}`;
  const rows = sql(`SELECT client_id, rollout.rollout_bucket(client_id, '${salt}') < ${Math.round(S.percentage * 100)}
    FROM rollout.client_state WHERE current_version = '1.0.0' AND os = 'linux' AND channel = 'stable' ORDER BY client_id`)
    .split('\n').map((l) => l.split('|'));
  const inside = rows.find((r) => r[1] === 't');
  const outside = rows.find((r) => r[1] === 'f');
  assert(inside && outside, 'clients on both sides of the threshold', rows.length);
  const aIn = await checkUpdate({ current_version: '1.0.0', client_id: inside[0], os: 'linux', arch: 'amd64', region: 'cn' });
  const aOut = await checkUpdate({ current_version: '1.0.0', client_id: outside[0], os: 'linux', arch: 'amd64', region: 'cn' });
  assert(aIn.has_update === true && aIn.latest_version === S.newVersion, 'a client inside the cohort is offered the new version', aIn);
  assert(aIn.file_checksum === 'sha256:' + S.artifact.sha256, 'with the uploaded file\'s checksum', aIn.file_checksum);
  assert(aOut.has_update === false, 'a client outside the cohort is offered nothing', aOut);
});

test('statistics: every chart is drawn with the API\'s data, and the period buttons reload it', async () => {
  await visit('/stats', 'stats');
  for (const c of ['chart-distribution', 'chart-regions', 'chart-funnel', 'chart-trend']) {
    const info = await until(async () => { const i = await chartInfo(c); return i.canvas && i.colored > 200 && i; }, 8000);
    assert(info, `${c} is an ECharts canvas with coloured series`, await chartInfo(c).catch((e) => e.message));
  }
  // the distribution the API reports: its versions appear in the chart's description or the page's table
  const dist = await call('GET', API + '/stats/distribution?project=default&period=7d', undefined, S.token);
  const shown = (await chartInfo('chart-distribution')).aria || '';
  const pageText = await visibleText(page);
  const versions = (Array.isArray(dist) ? dist : dist.items || []).map((r) => String(r.version || r.current_version));
  assert(versions.includes('1.0.0') && versions.includes('0.9.0'), 'the API reports both versions', dist);
  assert(versions.every((v) => shown.includes(v) || pageText.includes(v)), 'every version of the distribution is shown', { versions, aria: shown });
  for (const period of ['24h', '30d', '7d']) {
    const resp = page.waitForResponse((r) => r.url().includes('/stats') && r.url().includes(`period=${period}`), { timeout: 8000 });
    await page.click(T('period-' + period));
    assertEq((await resp).status(), 200, `stats for ${period}`);
  }
  await page.waitForLoadState('networkidle').catch(() => {});
  await shot('en-stats');
});

test('simulator: its answer equals check-update\'s for the same client, and it records nothing', async () => {
  await visit('/simulator', 'simulator');
  const client = 'sim-probe-0001';
  const count = () => sql(`SELECT (SELECT count(*) FROM rollout.client_state) || ' ' ||
    (SELECT coalesce(sum(checks), 0) FROM rollout.rollup_daily) || ' ' || (SELECT count(*) FROM rollout.update_events)`);
  const before = count();
  const req = { current_version: '1.0.0', client_id: client, channel: 'stable', region: 'cn', os: 'linux', arch: 'amd64' };
  for (const [k, v] of Object.entries(req)) {
    const hook = 'sim-' + k.replace('_', '-');
    if (k === 'channel') await choose(hook, 'stable').catch(() => fill(hook, v));
    else await fill(hook, v);
  }
  await page.click(T('sim-run'));
  const result = page.locator(T('sim-result')).first();
  await result.waitFor({ state: 'visible' });
  await until(async () => (await result.getAttribute('data-has-update')) !== null, 5000);
  const sim = {
    has_update: await result.getAttribute('data-has-update'),
    latest_version: await result.getAttribute('data-latest-version'),
    text: await result.innerText(),
  };
  assertEq(count(), before, 'client_state rows, checks counted, events: unchanged by the simulation');
  assertEq(sql(`SELECT count(*) FROM rollout.client_state WHERE client_id = '${client}'`), '0', 'no client_state row for the simulated client');
  const real = await checkUpdate(req);
  assertEq(sim.has_update, String(real.has_update), 'has_update shown vs check-update');
  if (real.has_update) assert(sim.latest_version === real.latest_version || sim.latest_version === 'v' + real.latest_version, 'latest_version shown vs check-update', { sim, real });
  const steps = await page.locator(T('sim-step')).count();
  assert(steps >= 2, 'the simulator explains its steps', steps);
  assertEq(sql(`SELECT count(*) FROM rollout.client_state WHERE client_id = '${client}'`), '1', 'the real check-update did record (the probe works)');
  await shot('en-simulator');
});

test('release notes are rendered sanitized where a version is shown (XSS payload inert)', async () => {
  assert(S.versionId, 'needs the version');
  await visit('/versions/' + S.versionId, null);
  const notes = page.locator(T('version-notes')).first();
  await notes.waitFor({ state: 'visible' });
  const html = await notes.innerHTML();
  assert(/<strong>crash<\/strong>/.test(html), 'the notes are rendered as markdown', html);
  assert(!/onerror|<script/i.test(html), 'no script or event handler in the rendered notes', html);
  await sleep(300);
  assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss');
  const dangerous = await page.evaluate(() => [...document.querySelectorAll('*')].filter((e) =>
    [...e.attributes].some((a) => /^on/i.test(a.name))).map((e) => e.outerHTML.slice(0, 120)));
  assertEq(dangerous.length, 0, 'elements with inline event handlers on the page');
});

/** Visits every page of the navigation; checks text, CSP and errors; screenshots as LANG-PAGE.png. */
async function everyPage(lang) {
  const cat = lang === 'en' ? en : zh;
  const problems = [];
  for (const p of pages) {
    await visit(p.hash || '/' + p.name, p.name);
    await sleep(300);	// charts animate in
    const t = await visibleText(page);
    const raw = t.match(RAW_KEY);
    if (raw) problems.push({ page: p.name, rawKeys: [...new Set(raw)].slice(0, 10) });
    if (lang === 'zh-CN' && !/[\u4e00-\u9fff]/.test(t)) problems.push({ page: p.name, noChinese: t.slice(0, 200) });
    const navLabel = cat[`ui.nav.${p.name}`];
    if (navLabel && !t.includes(navLabel)) problems.push({ page: p.name, missingNavLabel: navLabel });
    const csp = await page.evaluate(() => window.__cspViolations);
    if (csp && csp.length) problems.push({ page: p.name, csp });
    const lang_ = await page.evaluate(() => document.documentElement.lang);
    if (lang_ !== lang) problems.push({ page: p.name, htmlLang: lang_ });
    await shot(`${lang}-${p.name}`);
  }
  return problems;
}

test('every page in English: no raw message keys, no CSP violation, html lang="en"; screenshots', async () => {
  assert(pages.length >= 11, 'needs the navigation', pages);
  const problems = await everyPage('en');
  assertEq(JSON.stringify(problems), '[]', 'problems');
}, { timeout: 120000 });

test('switching to Chinese: html lang and Element Plus follow, the choice survives a reload, every page is in Chinese', async () => {
  await visit('/versions', 'versions');
  const totalEn = await page.locator('.el-pagination__total').first().innerText().catch(() => '');
  await page.click(T('lang-switch'));
  const zhOption = page.locator(T('lang-zh-CN')).first();
  if (await zhOption.isVisible({ timeout: 1000 }).catch(() => false)) await zhOption.click();
  assert(await until(() => page.evaluate(() => document.documentElement.lang === 'zh-CN'), 5000), 'html lang becomes zh-CN');
  assert(await until(async () => (await visibleText(page)).includes(zh['ui.nav.versions']), 5000), 'the navigation is in Chinese', zh['ui.nav.versions']);
  // Element Plus's own texts (pagination total) are Chinese too
  const totalZh = await page.locator('.el-pagination__total').first().innerText().catch(() => '');
  assert(/Total/.test(totalEn) && /共/.test(totalZh), 'Element Plus locale follows (pagination "Total" -> "共")', { totalEn, totalZh });
  await page.reload();
  await page.waitForSelector(T('page-versions'), { state: 'visible' });
  assertEq(await page.evaluate(() => document.documentElement.lang), 'zh-CN', 'the language is remembered after a reload');
  const problems = await everyPage('zh-CN');
  assertEq(JSON.stringify(problems), '[]', 'problems');
  // back to English for the tests that follow
  await page.click(T('lang-switch'));
  const enOption = page.locator(T('lang-en')).first();
  if (await enOption.isVisible({ timeout: 1000 }).catch(() => false)) await enOption.click();
  assert(await until(() => page.evaluate(() => document.documentElement.lang === 'en'), 5000), 'html lang back to en');
}, { timeout: 150000 });

test('accessibility: axe-core finds no critical violation on any page (login included)', async () => {
  const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const p = await axeCtx.newPage();
  const scan = async (name) => {
    await p.addScriptTag({ content: axeSource });
    const r = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    return r.violations.map((v) => ({ page: name, id: v.id, impact: v.impact, nodes: v.nodes.length,
      target: v.nodes[0] && v.nodes[0].target.join(' ') }));
  };
  const found = [];
  await p.goto(base + '/#/login');
  await p.waitForSelector(T('login-username'), { state: 'visible' });
  found.push(...await scan('login'));
  await p.locator(T('login-username')).locator('xpath=descendant-or-self::input').first().fill(ADMIN.username);
  await p.locator(T('login-password')).locator('xpath=descendant-or-self::input').first().fill(ADMIN.password);
  await p.click(T('login-submit'));
  await p.waitForSelector(T('page-dashboard'), { state: 'visible' });
  for (const pg of pages) {
    await p.goto(base + '/#' + (pg.hash || '/' + pg.name));
    await p.waitForSelector(T('page-' + pg.name), { state: 'visible' });
    await p.waitForLoadState('networkidle').catch(() => {});
    found.push(...await scan(pg.name));
  }
  const serious = found.filter((v) => v.impact === 'serious');
  if (serious.length) console.log('# axe, serious (not failing): ' + JSON.stringify(serious).slice(0, 1500));
  const critical = found.filter((v) => v.impact === 'critical');
  assertEq(JSON.stringify(critical), '[]', 'critical violations');
  await p.close();
}, { timeout: 120000 });

test('a reload keeps the session (sessionStorage)', async () => {
  await visit('/versions', 'versions');
  await page.reload();
  await page.waitForSelector(T('page-versions'), { state: 'visible' });
  assert(/#\/versions/.test(page.url()), 'still on the versions page after a reload', page.url());
});

test('a revoked token sends the user back to the login page with the server\'s message', async () => {
  const n = sql(`UPDATE rollout.api_tokens t SET revoked_at = now() FROM rollout.admins a
    WHERE a.id = t.admin_id AND a.username = 'admin' AND t.revoked_at IS NULL AND t.token_hash <> sha256(convert_to('${S.token}', 'UTF8'))
    RETURNING t.id`);
  assert(n.length > 0, 'the UI\'s token was revoked in SQL');
  await visit('/channels', null);
  await page.waitForSelector(T('login-username'), { state: 'visible', timeout: 10000 });
  assert(/#\/login/.test(page.url()), 'on the login page', page.url());
  const t = await visibleText(page);
  assert(t.includes(en['error.token_revoked']), 'the login page says why (error.token_revoked)', t.slice(0, 500));
}, { httpErrors: true });

test('logout returns to the login page and ends the token on the server', async () => {
  await fill('login-username', ADMIN.username);
  await fill('login-password', ADMIN.password);
  await page.click(T('login-submit'));
  await page.waitForSelector(T('page-dashboard'), { state: 'visible' });
  const token = await page.evaluate(() => Object.values(sessionStorage).join(' ').match(/\b[0-9a-f]{64}\b/)?.[0]);
  assert(token, 'a token in sessionStorage');
  assertEq((await http('GET', API + '/me', undefined, { token })).status, 200, 'the token works before logout');
  if (!(await page.locator(T('logout')).isVisible())) await page.click(T('user-menu'));
  await page.click(T('logout'));
  await page.waitForSelector(T('login-username'), { state: 'visible' });
  assert(/#\/login/.test(page.url()), 'on the login page', page.url());
  assertEq(await page.evaluate(() => /\b[0-9a-f]{64}\b/.test(Object.values(sessionStorage).join(' '))), false, 'sessionStorage forgot the token');
  assertEq((await http('GET', API + '/me', undefined, { token })).status, 401, 'the token is revoked on the server');
  await visit('/dashboard', null);
  await page.waitForSelector(T('login-username'), { state: 'visible' });
  assert(/#\/login/.test(page.url()), 'a protected page sends an anonymous visitor to the login page', page.url());
});

test('no console error, uncaught exception or CSP violation on any page', async () => {
  const bad = consoleErrors.filter((e) => !e.httpError);
  assertEq(JSON.stringify(bad.slice(0, 10)), '[]', `${bad.length} console errors`);
});

test('rollout-http is still running and logged no crash', async () => {
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
  for (const t of tests) {
    n++;
    current = t;
    const started = Date.now();
    try {
      await withTimeout(t.fn(), t.opts.timeout || 60000);
      passed++;
      console.log(`ok ${n} - ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} - ${t.name}`);
      const msg = e instanceof Failure ? e.message : (e && e.stack) || String(e);
      console.log(msg.split('\n').slice(0, 8).map((l) => '  # ' + l).join('\n'));
      if (page) await page.screenshot({ path: path.join(shots, `FAILED-${String(n).padStart(2, '0')}.png`) }).catch(() => {});
    }
  }
  current = null;
  await browser.close().catch(() => {});
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
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
