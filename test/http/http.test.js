// http.test.js: rollout-http end to end, over real HTTP on loopback, against
// a real PostgreSQL. Usage: node http.test.js BINARY DATABASE_URL PORT
// Prints a line per check and ends with "N passed, N failed".
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

// the messages the server must use, from the same catalogs it reads
const zh = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'i18n', 'zh-CN.json'), 'utf8'));
const zhMsg = (key, field) => zh[key].replace('{field}', field || '');
const crypto = require('crypto');
const os = require('os');
const uploadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-uploads-'));
// a stand-in for the UI's build (web/dist): an index and a hashed asset, with a gzip copy
const webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-web-'));
const indexHtml = '<!doctype html><html><head><script type="module" src="/assets/x-abc123.js"></script></head><body></body></html>\n';
const assetJs = `export const x = ${JSON.stringify('abc'.repeat(600))};\n`;
fs.mkdirSync(path.join(webRoot, 'assets'));
fs.writeFileSync(path.join(webRoot, 'index.html'), indexHtml);
fs.writeFileSync(path.join(webRoot, 'assets', 'x-abc123.js'), assetJs);
fs.writeFileSync(path.join(webRoot, 'assets', 'x-abc123.js.gz'), require('zlib').gzipSync(assetJs));
fs.writeFileSync(path.join(os.tmpdir(), 'rollout-web-outside.txt'), 'outside the web root');

const [bin, dbUrl, port] = process.argv.slice(2);
const clientPort = Number(port) + 10;	// the main server's client address (startServer)
const base = `http://127.0.0.1:${port}`;
let passed = 0;
let failed = 0;
let serverLog = '';	// the main server's output
const responses = [];	// every body req() received: none may hold a private signing key
const secrets = [];	// the private signing keys seen in the database (hex and base64)

function check(name, ok, info) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok ? '' : ' ' + JSON.stringify(info).slice(0, 600)}`);
}

async function req(method, path, body, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.lang) headers['Accept-Language'] = opts.lang;
  const init = { method, headers };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  responses.push(text);
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

async function expectStatus(name, status, method, path, body, opts, more) {
  const r = await req(method, path, body, opts);
  const envelopeOk = r.json && r.json.code === r.status && typeof r.json.message === 'string';
  const extra = more ? more(r) : true;
  check(`${name} -> ${status}`, r.status === status && envelopeOk && extra, { status: r.status, body: r.text });
  return r;
}

function startServer(listenPort, extraEnv) {
  return spawn(bin, [], {
    env: { ...process.env, DATABASE_URL: dbUrl, ROLLOUT_LISTEN: `127.0.0.1:${listenPort}`, ROLLOUT_MAX_BODY: '65536',
      ROLLOUT_CLIENT_LISTEN: `127.0.0.1:${Number(listenPort) + 10}`,
      ROLLOUT_THREADS: '16', ROLLOUT_DB_LANES: '1', ROLLOUT_RATE_LIMIT: '1000', ROLLOUT_UPLOAD_DIR: uploadDir,
      ROLLOUT_MAX_UPLOAD: String(1024 * 1024), ROLLOUT_WEB_ROOT: webRoot, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function waitHealthy(url) {
  for (let i = 0; i < 50; i++) {
    try { if ((await fetch(url + '/healthz')).ok) return true; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function main() {
  const server = startServer(port, {});
  let log = '';
  server.stdout.on('data', (d) => { log += d; });
  server.stderr.on('data', (d) => { log += d; serverLog += d; });
  let exitCode = null;
  server.on('exit', (code) => { exitCode = code; });
  try {
    await waitHealthy(base);
    await run();
    await signing();
    await operations();
    noPrivateKeys();
    // graceful shutdown: a request in flight at SIGTERM finishes, new ones get 503, then exit 0
    await shutdownWithRequestInFlight(server);
    for (let i = 0; i < 50 && exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    check('SIGTERM stops the server cleanly', exitCode === 0, { exitCode, log: log.slice(-400) });
    let refused = false;
    try { await fetch(base + '/healthz'); } catch (e) { refused = true; }
    check('nothing listens after shutdown', refused, {});
    check('no AddressSanitizer, LeakSanitizer or UBSan report', !/(AddressSanitizer|LeakSanitizer|runtime error:)/.test(log),
      log.slice(log.search(/(AddressSanitizer|LeakSanitizer|runtime error:)/), 3000));
    const lines = log.split('\n').filter((l) => l.startsWith('{'));
    const parsed = lines.map((l) => { try { return JSON.parse(l); } catch (e) { return null; } });
    check('one JSON access-log line per request', parsed.length > 50 && parsed.every((l) => l && l.method && l.path && l.status),
      { count: parsed.length });
  } finally {
    if (exitCode === null) server.kill('SIGKILL');
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

async function login(username, password) {
  const r = await req('POST', '/admin/api/v1/auth/login', { username, password });
  return r.json && r.json.data && r.json.data.token;
}

async function run() {
  await expectStatus('healthz', 200, 'GET', '/healthz', undefined, {},
    (r) => r.json.message === 'ok' && r.json.data.process === 'ok' && r.json.data.database === 'ok' && r.json.data.recorder === 'ok');
  await expectStatus('responses keep the connection and say for how long', 200, 'GET', '/healthz', undefined, {},
    (r) => r.headers.get('connection') === 'keep-alive' && /^timeout=\d+$/.test(r.headers.get('keep-alive')));
  const admin = await login('admin', 'admin-password-1');
  const maint = await login('maint', 'maint-password-1');
  const viewer = await login('viewer', 'viewer-password-1');
  check('login returns tokens for each account', [admin, maint, viewer].every((t) => /^[0-9a-f]{64}$/.test(t)), {});
  const A = { token: admin };

  // ---- success paths of every route ----
  const proj = await expectStatus('create project', 200, 'POST', '/admin/api/v1/projects', { slug: 'http-app', name: 'HTTP App' }, A,
    (r) => r.json.data.slug === 'http-app' && r.json.data.id > 0);
  await expectStatus('list projects', 200, 'GET', '/admin/api/v1/projects', undefined, A, (r) => r.json.data.length >= 2);
  await expectStatus('get project', 200, 'GET', '/admin/api/v1/projects/http-app', undefined, A, (r) => r.json.data.name === 'HTTP App');
  await expectStatus('update project', 200, 'PUT', '/admin/api/v1/projects/http-app', { name: 'HTTP App 2', failure_threshold: 30 }, A,
    (r) => r.json.data.name === 'HTTP App 2');
  const sqlish = "'); DROP TABLE rollout.versions; --";
  const v1 = await expectStatus('create version', 200, 'POST', '/admin/api/v1/versions',
    { project: 'default', version: 'v1.0.0', title: sqlish, file_url: 'pkg/app-1.0.0.tgz', file_size: 10,
      file_checksum: 'sha256:' + 'a'.repeat(64), title_i18n: { 'zh-CN': '\u7b2c\u4e00\u7248' } }, A,
    (r) => r.json.data.id > 0 && r.json.data.status === 'draft');
  const id1 = v1.json.data.id;
  await expectStatus('SQL-looking text is stored verbatim', 200, 'GET', `/admin/api/v1/versions/${id1}`, undefined, A,
    (r) => r.json.data.title === sqlish);
  // a body larger than the server's first read buffer (8 KB) arrives whole
  const longNotes = Array.from({ length: 2800 }, (_, i) => `line ${i}: \u2713 fixed`).join('\n');
  await expectStatus('a 60 KB body arrives whole', 200, 'PUT', `/admin/api/v1/versions/${id1}`, { release_notes: longNotes }, A,
    (r) => r.json?.data?.release_notes === longNotes && Buffer.byteLength(JSON.stringify({ release_notes: longNotes })) > 50000);
  await expectStatus('update version', 200, 'PUT', `/admin/api/v1/versions/${id1}`, { release_notes: '# Notes', is_forced: true }, A,
    (r) => r.json.data.release_notes === '# Notes' && r.json.data.is_forced === true);
  await expectStatus('add artifact', 200, 'POST', `/admin/api/v1/versions/${id1}/artifacts`,
    { os: 'linux', arch: 'amd64', file_url: 'pkg/app-1.0.0-linux.tgz', file_size: 7, file_checksum: 'sha256:' + 'b'.repeat(64) }, A,
    (r) => r.json.data.os === 'linux' && r.json.data.version_id === id1);
  await expectStatus('publish', 200, 'POST', `/admin/api/v1/versions/${id1}/publish`, undefined, A,
    (r) => r.json.data.version.status === 'published' && r.json.data.approval === null);
  await expectStatus('pause', 200, 'POST', `/admin/api/v1/versions/${id1}/pause`, undefined, A, (r) => r.json.data.status === 'paused');
  await expectStatus('resume', 200, 'POST', `/admin/api/v1/versions/${id1}/resume`, undefined, A, (r) => r.json.data.status === 'published');
  await expectStatus('list versions with filters and paging', 200, 'GET', '/admin/api/v1/versions?project=default&channel=stable&page=1&limit=20',
    undefined, A, (r) => r.json.data.total === 1 && r.json.data.items[0].id === id1);
  await expectStatus('list channels', 200, 'GET', '/admin/api/v1/channels?project=default', undefined, A, (r) => r.json.data.length === 3);
  await expectStatus('set channel', 200, 'PUT', '/admin/api/v1/channels/beta?project=default', { rollout_percentage: 25, is_active: true }, A,
    (r) => Number(r.json.data.rollout_percentage) === 25);
  await expectStatus('set mirror', 200, 'PUT', '/admin/api/v1/mirrors/cn', { project: 'default', base_url: 'https://cn.example.com/dl' }, A,
    (r) => r.json.data.region === 'cn');
  await expectStatus('list mirrors', 200, 'GET', '/admin/api/v1/mirrors?project=default', undefined, A, (r) => r.json.data.length === 1);
  const rule = await expectStatus('create rule', 200, 'POST', '/admin/api/v1/rules',
    { project: 'default', name: 'eu half', priority: 3, target_region: 'eu', rollout_config: { percentage: 50 } }, A,
    (r) => r.json.data.id > 0 && r.json.data.rollout_config.percentage === 50);
  const rid = rule.json.data.id;
  await expectStatus('get rule', 200, 'GET', `/admin/api/v1/rules/${rid}`, undefined, A, (r) => r.json.data.name === 'eu half');
  await expectStatus('update rule', 200, 'PUT', `/admin/api/v1/rules/${rid}`, { priority: 9, clear: ['target_region'] }, A,
    (r) => r.json.data.priority === 9 && r.json.data.target_region === null);
  await expectStatus('list rules', 200, 'GET', '/admin/api/v1/rules?project=default', undefined, A, (r) => r.json.data.length === 1);
  await expectStatus('delete rule', 200, 'DELETE', `/admin/api/v1/rules/${rid}`, undefined, A, (r) => r.json.data === true);

  // clients
  const cu = await expectStatus('check-update offers the release', 200, 'POST', '/api/v1/check-update',
    { current_version: '0.9.0', client_id: 'host-1', region: 'cn', os: 'linux', arch: 'amd64', locale: 'zh-CN' }, {},
    (r) => r.json.data.has_update === true && r.json.data.latest_version === 'v1.0.0' && r.json.data.title === '\u7b2c\u4e00\u7248'
      && r.json.data.download_url === 'https://cn.example.com/dl/pkg/app-1.0.0-linux.tgz' && r.json.data.is_forced === true);
  await expectStatus('check-update when up to date', 200, 'POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'host-2' }, {},
    (r) => r.json.data.has_update === false);
  await expectStatus('download-started', 200, 'POST', '/api/v1/download-started', { version: '1.0.0', client_id: 'host-1' }, {},
    (r) => r.json.data.recorded === true);
  await expectStatus('install-result', 200, 'POST', '/api/v1/install-result', { version: '1.0.0', client_id: 'host-1', success: true }, {},
    (r) => r.json.data.result === 'success');
  await expectStatus('client IP and User-Agent reach the database', 200, 'GET', '/admin/api/v1/audit?limit=5', undefined, A);

  // statistics and audit: the test cluster records checks in the background (as make run does)
  const queued = require('child_process').execFileSync('psql', [dbUrl, '-Atc',
    "SELECT (rollout.check_queue() ->> 'enabled') || ' ' || rollout.flush_checks()"]).toString().trim();
  check('checks went through the background recorder', /^true \d+$/.test(queued), { queued });
  await expectStatus('stats', 200, 'GET', '/admin/api/v1/stats?project=default&period=7d&action=all', undefined, A,
    (r) => r.json.data.total_clients === 2 && r.json.data.totals.success.events === 1);
  await expectStatus('stats/distribution', 200, 'GET', '/admin/api/v1/stats/distribution?project=default', undefined, A,
    (r) => r.json.data.some((d) => d.version === '1.0.0' && d.clients === 2));
  await expectStatus('stats/regions', 200, 'GET', '/admin/api/v1/stats/regions?project=default', undefined, A, (r) => r.json.data.length === 2);
  await expectStatus('stats/funnel', 200, 'GET', '/admin/api/v1/stats/funnel?project=default', undefined, A,
    (r) => r.json.data[0].succeeded === 1 && r.json.data[0].downloaded === 1);
  await expectStatus('stats/trend', 200, 'GET', '/admin/api/v1/stats/trend?project=default&period=30d&action=check', undefined, A,
    (r) => r.json.data.length === 30);
  await expectStatus('audit', 200, 'GET', '/admin/api/v1/audit?project=default&page=1&limit=10', undefined, A,
    (r) => r.json.data.items.length === 10 && r.json.data.items.some((i) => i.actor === 'admin'));
  await expectStatus('list admins', 200, 'GET', '/admin/api/v1/admins', undefined, A,
    (r) => r.json.data.length === 3 && !JSON.stringify(r.json.data).includes('password'));
  await expectStatus('create admin', 200, 'POST', '/admin/api/v1/admins', { username: 'eve', password: 'eve-password-1', role: 'viewer' }, A,
    (r) => r.json.data.username === 'eve' && !('password_hash' in r.json.data));
  const v2 = await expectStatus('create a draft to delete', 200, 'POST', '/admin/api/v1/versions', { project: 'default', version: '2.0.0' }, A);
  await expectStatus('delete version', 200, 'DELETE', `/admin/api/v1/versions/${v2.json.data.id}`, undefined, A, (r) => r.json.data === true);
  await expectStatus('yank', 200, 'POST', `/admin/api/v1/versions/${id1}/yank`, undefined, A, (r) => r.json.data.status === 'yanked');

  // many clients at once share one database connection (ROLLOUT_DB_LANES=1),
  // their requests sent in batches: each gets its own answer, the bad ones
  // their own error, exactly as when asked one at a time
  const crowd = await req('POST', '/admin/api/v1/versions', { project: 'http-app', version: '2.0.0', file_url: 'https://example.com/app-2.0.0.tgz',
    file_size: 10, file_checksum: 'sha256:' + 'c'.repeat(64), rollout_percentage: 50 }, A);
  await expectStatus('publish to half of the clients', 200, 'POST', `/admin/api/v1/versions/${crowd.json.data.id}/publish`, undefined, A);
  const asked = [];
  for (let i = 0; i < 60; i++) {
    const body = { project: 'http-app', current_version: `1.${i % 10}.${i}`, client_id: `crowd-${i}`, region: i % 2 ? 'cn' : 'us' };
    if (i % 7 === 3) body.current_version = '1.0';
    if (i % 11 === 5) body.project = 'nope';
    asked.push(body);
  }
  const appChecks = () => Number(require('child_process').execFileSync('psql', [dbUrl, '-At', '-c', 'SELECT rollout.flush_checks()', '-c',
    `SELECT coalesce(sum(r.events), 0) FROM rollout.rollup_daily r
     JOIN rollout.projects p ON p.id = r.project_id WHERE p.slug = 'http-app' AND r.action = 'check'`]).toString().trim().split('\n').pop());
  const checksBefore = appChecks();
  const alone = [];
  for (const body of asked) alone.push(await req('POST', '/api/v1/check-update', body));
  const together = await Promise.all(asked.map((body) => req('POST', '/api/v1/check-update', body)));
  // (a signed answer says when it was issued: the second may have turned between the two)
  const unstamped = (t) => t.replace(/"(issued_at|expires_at)": "[^"]*"/g, '');
  const same = together.every((r, i) => r.status === alone[i].status && unstamped(r.text) === unstamped(alone[i].text));
  check('concurrent check-updates each get their own answer', same
    && alone.filter((r) => r.status === 200).length > 30 && alone.some((r) => r.status === 400) && alone.some((r) => r.status === 404)
    && new Set(alone.filter((r) => r.status === 200).map((r) => r.json.data.has_update)).size === 2,
  { statuses: alone.map((r) => r.status).join(''), sample: alone.find((r) => r.status === 200)?.text });
  // neighbouring checks share a transaction on the lane; a bad one undoes the
  // others', which are run again: still each check is counted exactly once
  const counted = appChecks() - checksBefore;
  const answered = alone.filter((r) => r.status === 200).length + together.filter((r) => r.status === 200).length;
  check('each answered check is counted once', counted === answered, { counted, answered });

  // ---- bad requests: status, envelope, localized message ----
  const big = 'x'.repeat(70000);
  const bad = [
    ['POST', '/api/v1/check-update', '{', 400, 'not valid JSON'],
    ['POST', '/api/v1/check-update', '{"current_version": "1.0.0",}', 400],
    ['POST', '/api/v1/check-update', '[1, 2]', 400],
    ['POST', '/api/v1/check-update', '"1.0.0"', 400],
    ['POST', '/api/v1/check-update', 'null', 400],
    ['POST', '/api/v1/check-update', '', 400],
    ['POST', '/api/v1/check-update', '{"current_version": "1.0.0", "current_version": "2.0.0", "client_id": "x"}', 400],
    ['POST', '/api/v1/check-update', { client_id: 'x' }, 400, 'current_version'],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0' }, 400, 'client_id'],
    ['POST', '/api/v1/check-update', { current_version: 100, client_id: 'x' }, 400, 'current_version'],
    ['POST', '/api/v1/check-update', { current_version: '1.0', client_id: 'x' }, 400, 'current_version'],
    ['POST', '/api/v1/check-update', { current_version: '01.2.3', client_id: 'x' }, 400],
    ['POST', '/api/v1/check-update', { current_version: 'latest', client_id: 'x' }, 400],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x'.repeat(200) }, 400, 'client_id'],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'has space' }, 400],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', project: 'nope' }, 404, 'project'],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', channel: 'nightly' }, 404, 'channel'],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', region: "cn'; --" }, 400],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', os: ['linux'] }, 400],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', locale: 'x'.repeat(50) }, 400],
    ['POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: big }, 413],
    ['POST', '/api/v1/install-result', { version: '1.0.0', client_id: 'x' }, 400, 'success'],
    ['POST', '/api/v1/install-result', { version: '1.0.0', client_id: 'x', success: 'yes' }, 400],
    ['POST', '/api/v1/install-result', { version: '9.9.9', client_id: 'x', success: true }, 404],
    ['POST', '/api/v1/download-started', { version: 'one', client_id: 'x' }, 400],
    ['GET', '/api/v1/check-update', undefined, 405],
    ['DELETE', '/admin/api/v1/projects', undefined, 405],
    ['GET', '/api/v1/nothing-here', undefined, 404],
    ['GET', '/admin/api/v1/versions/abc', undefined, 400],
    ['GET', '/admin/api/v1/versions/999999', undefined, 404],
    ['GET', '/admin/api/v1/versions?project=default&limit=abc', undefined, 400],
    ['GET', '/admin/api/v1/versions?project=default&limit=5000', undefined, 400],
    ['GET', '/admin/api/v1/versions?project=nope', undefined, 404],
    ['GET', '/admin/api/v1/versions?project=default&bogus=1', undefined, 400, 'bogus'],
    ['POST', '/admin/api/v1/versions', { project: 'default' }, 400, 'version'],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '1.0.0' }, 409],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '3.0.0', file_checksum: 'md5:1' }, 400],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '3.0.0', file_size: 'big' }, 400],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '3.0.0', title: 'x'.repeat(600) }, 400],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '3.0.0', rollout_percentage: 101 }, 400],
    ['POST', `/admin/api/v1/versions/${id1}/pause`, undefined, 400],
    ['POST', '/admin/api/v1/projects', { slug: 'Bad Slug', name: 'x' }, 400, 'slug'],
    ['POST', '/admin/api/v1/projects', { slug: 'http-app', name: 'again' }, 409],
    ['POST', '/admin/api/v1/rules', { project: 'default', name: 'r', rollout_config: { percent: 5 } }, 400],
    ['POST', '/admin/api/v1/rules', { project: 'default', name: 'r', target_version_range: '>>1' }, 400],
    ['PUT', '/admin/api/v1/channels/gamma?project=default', { rollout_percentage: 5 }, 404],
    ['PUT', '/admin/api/v1/mirrors/eu', { project: 'default', base_url: 'ftp://x' }, 400],
    ['GET', '/admin/api/v1/stats?project=default&period=1y', undefined, 400],
    ['POST', '/admin/api/v1/auth/login', { username: 'admin', password: 'wrong' }, 401],
    ['POST', '/admin/api/v1/auth/login', { username: 'admin' }, 400, 'password'],
  ];
  for (const [method, path, body, status, mention] of bad) {
    const label = `${method} ${path} ${typeof body === 'string' ? body.slice(0, 40) : JSON.stringify(body || '').slice(0, 60)}`;
    await expectStatus(`bad: ${label}`, status, method, path, body, A,
      (r) => !mention || r.text.includes(mention));
  }
  check('at least 40 bad requests covered', bad.length >= 40, { n: bad.length });

  // ---- both languages ----
  await expectStatus('English message', 400, 'POST', '/api/v1/check-update', { client_id: 'x' }, { lang: 'en-US,en;q=0.9' },
    (r) => r.json.message === 'current_version is required' && r.json.error.field === 'current_version');
  await expectStatus('Chinese message', 400, 'POST', '/api/v1/check-update', { client_id: 'x' }, { lang: 'zh-CN,zh;q=0.9,en;q=0.8' },
    (r) => r.json.message === zhMsg('error.required', 'current_version'));
  await expectStatus('Chinese by q-value', 404, 'POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'x', project: 'nope' },
    { lang: 'en;q=0.5, zh;q=0.9' }, (r) => r.json.message === zhMsg('error.not_found', 'project'));
  await expectStatus('Chinese for a shim-level error', 400, 'POST', '/api/v1/check-update', '{', { lang: 'zh-CN' },
    (r) => r.json.message === zhMsg('error.bad_json'));

  // ---- authentication and roles ----
  const routesToTry = [
    ['GET', '/admin/api/v1/projects', undefined],
    ['POST', '/admin/api/v1/projects', { slug: 'role-test', name: 'x' }],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '7.0.0' }],
    ['PUT', '/admin/api/v1/channels/stable?project=default', { rollout_percentage: 100 }],
    ['GET', '/admin/api/v1/stats?project=default', undefined],
    ['GET', '/admin/api/v1/admins', undefined],
  ];
  for (const [method, path, body] of routesToTry) {
    await expectStatus(`no token: ${method} ${path}`, 401, method, path, body, {});
    await expectStatus(`bad token: ${method} ${path}`, 401, method, path, body, { token: 'f'.repeat(64) });
  }
  // viewer reads but cannot write; maintainer writes in its project, not projects or accounts
  const matrix = [
    [viewer, 'viewer', 'GET', '/admin/api/v1/projects', undefined, 200],
    [viewer, 'viewer', 'GET', '/admin/api/v1/stats?project=default', undefined, 200],
    [viewer, 'viewer', 'POST', '/admin/api/v1/versions', { project: 'default', version: '7.0.0' }, 403],
    [viewer, 'viewer', 'PUT', '/admin/api/v1/channels/stable?project=default', { rollout_percentage: 100 }, 403],
    [viewer, 'viewer', 'POST', '/admin/api/v1/projects', { slug: 'role-test', name: 'x' }, 403],
    [viewer, 'viewer', 'GET', '/admin/api/v1/admins', undefined, 403],
    [maint, 'maintainer', 'POST', '/admin/api/v1/versions', { project: 'default', version: '7.0.0' }, 200],
    [maint, 'maintainer', 'PUT', '/admin/api/v1/channels/stable?project=default', { rollout_percentage: 100 }, 200],
    [maint, 'maintainer', 'POST', '/admin/api/v1/versions', { project: 'http-app', version: '7.0.0' }, 403],
    [maint, 'maintainer', 'POST', '/admin/api/v1/projects', { slug: 'role-test', name: 'x' }, 403],
    [maint, 'maintainer', 'GET', '/admin/api/v1/admins', undefined, 403],
    [admin, 'admin', 'POST', '/admin/api/v1/projects', { slug: 'role-test', name: 'x' }, 200],
    [admin, 'admin', 'GET', '/admin/api/v1/admins', undefined, 200],
  ];
  for (const [token, who, method, path, body, status] of matrix) {
    await expectStatus(`${who}: ${method} ${path}`, status, method, path, body, { token });
  }
  // every admin route: no token and a bad token are 401; a viewer reads (200)
  // but never writes (403); a maintainer never does what only admins may (403)
  const viewer2 = await login('viewer', 'viewer-password-1');
  const every = [
    ['POST', '/admin/api/v1/auth/logout', undefined, 'write-self'],
    ['GET', '/admin/api/v1/admins', undefined, 'admin-read'],
    ['POST', '/admin/api/v1/admins', { username: 'zed', password: 'zed-password-1' }, 'admin'],
    ['GET', '/admin/api/v1/projects', undefined, 'read'],
    ['POST', '/admin/api/v1/projects', { slug: 'matrix', name: 'm' }, 'admin'],
    ['GET', '/admin/api/v1/projects/default', undefined, 'read'],
    ['PUT', '/admin/api/v1/projects/default', { name: 'Default' }, 'admin'],
    ['GET', '/admin/api/v1/versions?project=default', undefined, 'read'],
    ['POST', '/admin/api/v1/versions', { project: 'default', version: '11.0.0' }, 'write'],
    ['GET', `/admin/api/v1/versions/${id1}`, undefined, 'read'],
    ['PUT', `/admin/api/v1/versions/${id1}`, { title: 'x' }, 'write'],
    ['DELETE', `/admin/api/v1/versions/${id1}`, undefined, 'write'],
    ['POST', `/admin/api/v1/versions/${id1}/publish`, undefined, 'write'],
    ['POST', `/admin/api/v1/versions/${id1}/pause`, undefined, 'write'],
    ['POST', `/admin/api/v1/versions/${id1}/resume`, undefined, 'write'],
    ['POST', `/admin/api/v1/versions/${id1}/yank`, undefined, 'write'],
    ['POST', `/admin/api/v1/versions/${id1}/artifacts`, { os: 'linux', arch: 'amd64', file_url: 'x.tgz' }, 'write'],
    ['GET', '/admin/api/v1/channels?project=default', undefined, 'read'],
    ['PUT', '/admin/api/v1/channels/stable?project=default', { rollout_percentage: 100 }, 'write'],
    ['GET', '/admin/api/v1/mirrors?project=default', undefined, 'read'],
    ['PUT', '/admin/api/v1/mirrors/eu', { project: 'default', base_url: 'https://eu.example.com' }, 'admin'],
    ['GET', '/admin/api/v1/rules?project=default', undefined, 'read'],
    ['POST', '/admin/api/v1/rules', { project: 'default', name: 'm' }, 'write'],
    ['GET', '/admin/api/v1/rules/1', undefined, 'read-missing'],
    ['PUT', '/admin/api/v1/rules/1', { priority: 1 }, 'write'],
    ['DELETE', '/admin/api/v1/rules/1', undefined, 'write'],
    ['GET', '/admin/api/v1/stats?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/stats/distribution?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/stats/regions?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/stats/funnel?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/stats/trend?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/audit?project=default', undefined, 'read'],
    ['GET', '/admin/api/v1/me', undefined, 'read'],
    ['POST', '/admin/api/v1/auth/password', { current_password: 'not-it', new_password: 'whatever-123' }, 'write-self'],
    ['PUT', '/admin/api/v1/admins/1', { role: 'admin' }, 'admin'],
    ['POST', '/admin/api/v1/admins/1/password', { password: 'whatever-123' }, 'admin'],
    ['GET', `/admin/api/v1/versions/${id1}/cohort?percentage=10`, undefined, 'read'],
    ['DELETE', '/admin/api/v1/artifacts/999999', undefined, 'write'],
    ['GET', '/admin/api/v1/approvals?project=default', undefined, 'read'],
    ['POST', '/admin/api/v1/approvals/999999/approve', undefined, 'admin'],
    ['POST', '/admin/api/v1/approvals/999999/reject', { comment: 'no' }, 'admin'],
    ['DELETE', '/admin/api/v1/mirrors/eu?project=default', undefined, 'admin'],
    ['GET', '/admin/api/v1/dashboard?project=default', undefined, 'read'],
    ['POST', '/admin/api/v1/simulate', { current_version: '1.0.0', client_id: 'matrix' }, 'read'],
    ['POST', '/admin/api/v1/live/ticket', undefined, 'read'],
    ['GET', '/admin/api/v1/projects/default/signing', undefined, 'read'],
    ['PUT', '/admin/api/v1/projects/default/signing', { answer_lifetime: '7 days' }, 'admin'],
    ['POST', '/admin/api/v1/projects/default/keys/rotate', undefined, 'admin'],
    ['POST', '/admin/api/v1/projects/default/keys/0000000000000000/retire', undefined, 'admin'],
  ];
  for (const [method, path, body, kind] of every) {
    await expectStatus(`matrix no token: ${method} ${path}`, 401, method, path, body, {});
    await expectStatus(`matrix bad token: ${method} ${path}`, 401, method, path, body, { token: 'e'.repeat(64) });
    if (kind === 'read') {
      await expectStatus(`matrix viewer reads: ${method} ${path}`, 200, method, path, body, { token: viewer2 });
    } else if (kind !== 'write-self' && kind !== 'read-missing') {
      await expectStatus(`matrix viewer may not: ${method} ${path}`, 403, method, path, body, { token: viewer2 });
    }
    if (kind === 'admin' || kind === 'admin-read') {
      await expectStatus(`matrix maintainer may not: ${method} ${path}`, 403, method, path, body, { token: maint });
    }
  }
  // the table, as the server prints it: every admin route that needs a token
  const table = JSON.parse(require('child_process').execFileSync(bin, ['--routes']).toString());
  const tableRoutes = table.filter((r) => r.auth === 'token').length;
  const matches = (r, m, p) => r.method === m
    && new RegExp(`^${r.path.replace(/\{[a-z_]+\}/g, '[^/]+')}$`).test(p.split('?')[0]);
  const missing = table.filter((r) => r.auth === 'token' && !['list_api_tokens', 'create_api_token', 'revoke_api_token'].includes(r.function)
    && !every.some(([m, p]) => matches(r, m, p))).map((r) => `${r.method} ${r.path}`);
  // (the three token routes are checked below, by their own rules)
  check('the matrix covers every admin route of the table', tableRoutes === every.length + 3 && missing.length === 0,
    { every: every.length, tableRoutes, missing });

  // token management: long-lived tokens of one's own account, listed without secrets, revocable
  const made = await expectStatus('a viewer creates an API token', 200, 'POST', '/admin/api/v1/tokens',
    { name: 'ci pipeline', ttl: '30 days' }, { token: viewer2 }, (r) => /^[0-9a-f]{64}$/.test(r.json.data.token));
  const apiToken = made.json.data.token;
  await expectStatus('the API token works', 200, 'GET', '/admin/api/v1/projects', undefined, { token: apiToken });
  await expectStatus('tokens are listed without secrets', 200, 'GET', '/admin/api/v1/tokens', undefined, { token: viewer2 },
    (r) => r.json.data.some((t) => t.id === made.json.data.id && t.name === 'ci pipeline')
      && !r.text.includes(apiToken) && !r.text.includes('hash') && r.json.data.every((t) => t.username === 'viewer'));
  await expectStatus('an admin sees every account\'s tokens', 200, 'GET', '/admin/api/v1/tokens', undefined, A,
    (r) => r.json.data.some((t) => t.username === 'viewer') && r.json.data.some((t) => t.username === 'admin'));
  const adminTokens = (await req('GET', '/admin/api/v1/tokens', undefined, A)).json.data.filter((t) => t.username === 'admin');
  await expectStatus('a viewer cannot revoke someone else\'s token', 403, 'DELETE', `/admin/api/v1/tokens/${adminTokens[0].id}`,
    undefined, { token: viewer2 });
  await expectStatus('bad token requests', 400, 'POST', '/admin/api/v1/tokens', { name: '', ttl: '30 days' }, { token: viewer2 });
  await expectStatus('ttl is bounded', 400, 'POST', '/admin/api/v1/tokens', { name: 'x', ttl: '10 years' }, { token: viewer2 });
  await expectStatus('revoke an API token', 200, 'DELETE', `/admin/api/v1/tokens/${made.json.data.id}`, undefined, { token: viewer2 },
    (r) => r.json.data === true);
  await expectStatus('a revoked API token is refused', 401, 'GET', '/admin/api/v1/projects', undefined, { token: apiToken });

  await expectStatus('the actor is recorded in the audit log', 200, 'GET', '/admin/api/v1/audit?project=default&limit=50', undefined, A,
    (r) => r.json.data.items.some((i) => i.actor === 'maint' && i.object_type === 'versions'));
  // logout revokes; an expired token is refused
  await expectStatus('logout', 200, 'POST', '/admin/api/v1/auth/logout', undefined, { token: viewer }, (r) => r.json.data === true);
  await expectStatus('revoked token', 401, 'GET', '/admin/api/v1/projects', undefined, { token: viewer },
    (r) => r.json.error.detail === 'token revoked');
  const short = await req('POST', '/admin/api/v1/auth/login', { username: 'eve', password: 'eve-password-1', ttl: '1 minute' });
  check('a login with a short ttl', short.status === 200, short.text);
  process.env.EXPIRE_TOKEN = short.json.data.token;
  const { execFileSync } = require('child_process');
  execFileSync('psql', [dbUrl, '-qc', `UPDATE rollout.api_tokens SET expires_at = now() - interval '1 second'
    WHERE token_hash = sha256(convert_to('${short.json.data.token}', 'UTF8'))`]);
  await expectStatus('expired token', 401, 'GET', '/admin/api/v1/projects', undefined, { token: short.json.data.token },
    (r) => r.json.error.detail === 'token expired');
}

async function live() {
  const WebSocket = require('ws');
  const { execFileSync } = require('child_process');
  const wsUrl = `ws://127.0.0.1:${port}/admin/api/v1/live`;
  const refused = (query) => new Promise((resolve) => {
    const w = new WebSocket(`${wsUrl}${query}`);
    w.on('open', () => { w.close(); resolve(false); });
    w.on('error', () => resolve(true));
    w.on('unexpected-response', () => resolve(true));
  });
  const token = await login('admin', 'admin-password-1');
  check('live: a bearer token in the URL is refused (?token= is gone)', await refused(`?token=${token}`), {});
  check('live: a bad ticket is refused', await refused(`?ticket=${'f'.repeat(64)}`), {});
  check('live: no ticket is refused', await refused(''), {});
  await expectStatus('live ticket needs a token', 401, 'POST', '/admin/api/v1/live/ticket', undefined, {});
  await expectStatus('live ticket: random, valid 30 s', 200, 'POST', '/admin/api/v1/live/ticket', undefined, { token },
    (r) => /^[0-9a-f]{64}$/.test(r.json.data.ticket) && Math.abs(Date.parse(r.json.data.expires_at) - Date.now() - 30000) < 5000);
  const ticketOf = async (tok) => (await req('POST', '/admin/api/v1/live/ticket', undefined, { token: tok })).json.data.ticket;
  // a socket opened with a fresh ticket, collecting what it receives; resolves once greeted (or after 3 s)
  const open = async (tok) => {
    const received = [];
    const ticket = await ticketOf(tok);
    const ws = new WebSocket(`${wsUrl}?ticket=${ticket}`);
    await new Promise((resolve, reject) => {
      ws.on('message', (m) => { received.push(JSON.parse(m.toString())); resolve(); });
      ws.on('error', reject);
      setTimeout(resolve, 3000);
    });
    return [ws, received, ticket];
  };
  const [socket, messages, used] = await open(token);
  check('live: a socket opened with a ticket is greeted', messages.length > 0 && messages[0].type === 'hello', messages);
  check('live: a ticket opens one socket only', await refused(`?ticket=${used}`), {});
  const stale = await ticketOf(token);
  execFileSync('psql', [dbUrl, '-qc', `UPDATE rollout.live_tickets SET expires_at = clock_timestamp() - interval '1 second'
    WHERE ticket_hash = sha256(convert_to('${stale}', 'UTF8'))`]);
  check('live: an expired ticket is refused', await refused(`?ticket=${stale}`), {});

  const v = await req('POST', '/admin/api/v1/versions', { project: 'default', version: '8.0.0' }, { token });
  await req('POST', `/admin/api/v1/versions/${v.json.data.id}/publish`, undefined, { token });
  for (let i = 0; i < 30 && !messages.some((m) => m.type === 'versions.update' && m.status === 'published'); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  check('live: a publish is pushed to the socket', messages.some((m) => m.type === 'versions.update'
    && m.status === 'published' && m.id === v.json.data.id && m.actor === 'admin'), messages);

  // a maintainer of "default" hears about "default" only; the admin hears about both
  const [scoped, seen] = await open(await login('maint', 'maint-password-1'));
  const other = await req('POST', '/admin/api/v1/versions', { project: 'http-app', version: '8.1.0' }, { token });
  await req('POST', `/admin/api/v1/versions/${other.json.data.id}/publish`, undefined, { token });
  const mine = await req('POST', '/admin/api/v1/versions', { project: 'default', version: '8.2.0' }, { token });
  await req('POST', `/admin/api/v1/versions/${mine.json.data.id}/publish`, undefined, { token });
  const published = (list, id) => list.some((m) => m.type === 'versions.update' && m.status === 'published' && m.id === id);
  for (let i = 0; i < 30 && !(published(seen, mine.json.data.id) && published(messages, other.json.data.id)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  check('live: a project-scoped account gets its project\'s events', published(seen, mine.json.data.id), seen);
  check('live: and not other projects\' events', !seen.some((m) => m.id === other.json.data.id && m.type.startsWith('versions'))
    && published(messages, other.json.data.id), { seen, messages });

  // statistics: a stats event when checks (once per batch of the recorder) and downloads were recorded
  const defaultId = (await req('GET', '/admin/api/v1/projects/default', undefined, { token })).json.data.id;
  const statsSeen = async (action) => {
    messages.length = 0;
    await action();
    for (let i = 0; i < 60 && !messages.some((m) => m.type === 'stats' && m.project_id === defaultId); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return messages.filter((m) => m.type === 'stats' && m.project_id === defaultId).length;
  };
  const afterChecks = await statsSeen(() => Promise.all([1, 2, 3, 4, 5].map((i) => req('POST', '/api/v1/check-update',
    { current_version: '1.0.0', client_id: `live-stats-${i}` }))));
  check('live: recorded checks send a stats event, once per batch and project', afterChecks >= 1 && afterChecks <= 2,
    { afterChecks, messages });
  const afterDownload = await statsSeen(() => req('POST', '/api/v1/download-started', { version: '8.0.0', client_id: 'live-stats-1' }));
  check('live: a recorded download sends a stats event', afterDownload === 1, { afterDownload, messages });
  scoped.close();
  socket.close();
}

// Raw HTTP/1.x on one connection: send the chunks (a pause between them),
// collect what comes back until the server closes or `quietMs` pass.
function rawExchange(targetPort, chunks, { localAddress, quietMs = 600, gapMs = 0 } = {}) {
  const net = require('net');
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: targetPort, localAddress });
    let data = '';
    let closed = false;
    let timer;
    const finish = () => { clearTimeout(timer); sock.destroy(); resolve({ data, closed }); };
    const quiet = () => { clearTimeout(timer); timer = setTimeout(finish, quietMs); };
    sock.on('data', (d) => { data += d; quiet(); });
    sock.on('end', () => { closed = true; finish(); });
    sock.on('error', () => finish());
    sock.on('connect', async () => {
      for (const c of chunks) {
        sock.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      quiet();
    });
  });
}

function rawPost(path, body, headers = '', version = '1.1') {
  const b = typeof body === 'string' ? body : JSON.stringify(body);
  return `POST ${path} HTTP/${version}\r\nHost: t\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
}

// A client's request takes one path (client_begin, a lane, client_end) from
// either address: the main one (civetweb) and the client address (event
// loops, --client-listen). Both must answer alike.
async function frontDoor() {
  const check1 = (id) => rawPost('/api/v1/check-update', { current_version: '1.0.0', client_id: id });
  const statusLines = (text) => text.match(/HTTP\/1\.1 \d{3}/g) || [];

  for (const [where, p] of [['main address', port], ['client address', clientPort]]) {
    const piped = await rawExchange(p, [check1('fd-p1') + check1('fd-p2') + check1('fd-p3')]);
    check(`${where}: pipelined client requests each get their answer, in order`,
      statusLines(piped.data).join() === 'HTTP/1.1 200,HTTP/1.1 200,HTTP/1.1 200'
      && (piped.data.match(/"has_update"/g) || []).length === 3, piped.data.slice(0, 300));

    const whole = check1('fd-split');
    const pieces = [];
    for (let i = 0; i < whole.length; i += 9) pieces.push(whole.slice(i, i + 9));
    const split = await rawExchange(p, pieces, { gapMs: 2 });
    check(`${where}: a request arriving a few bytes at a time is answered`, statusLines(split.data).join() === 'HTTP/1.1 200'
      && /"has_update"/.test(split.data), split.data.slice(0, 300));

    const old = await rawExchange(p, [rawPost('/api/v1/check-update', { current_version: '1.0.0', client_id: 'fd-10' }, '', '1.0')]);
    check(`${where}: an HTTP/1.0 client gets its answer and the connection closes`, old.closed
      && /^HTTP\/1\.1 200/.test(old.data) && /\r\nConnection: close\r\n/.test(old.data), old);

    const bad = await rawExchange(p, [rawPost('/api/v1/check-update', '{"client_id": ', 'Accept-Language: zh-CN\r\n')]);
    check(`${where}: malformed JSON is a 400 in the client's language, and the response says it closes`,
      /^HTTP\/1\.1 400/.test(bad.data) && /\r\nConnection: close\r\n/.test(bad.data)
      && bad.data.includes(JSON.stringify(zhMsg('error.bad_json')).slice(1, -1)), bad.data);

    const expect = await rawExchange(p, [rawPost('/api/v1/check-update', { current_version: '1.0.0', client_id: 'fd-e' },
      'Expect: 100-continue\r\n')]);
    check(`${where}: Expect: 100-continue is answered`, /HTTP\/1\.1 200/.test(expect.data) && /"has_update"/.test(expect.data),
      expect.data.slice(0, 300));
  }

  const mixed = await rawExchange(port, [check1('fd-m1'), 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n', check1('fd-m2')], { gapMs: 300 });
  const parts = mixed.data.split(/(?=HTTP\/1\.1 )/);
  check('main address: client, admin and client requests on one connection all answered, in order',
    parts.length === 3 && parts.every((x) => x.startsWith('HTTP/1.1 200')) && /"has_update"/.test(parts[0])
    && /"database":"ok"/.test(parts[1]) && /"has_update"/.test(parts[2]), mixed.data.slice(0, 600));

  const query = await rawExchange(port, [rawPost('/api/v1/check-update?via=query', { current_version: '1.0.0', client_id: 'fd-q' })]);
  check('main address: a client request with a query string is answered', /HTTP\/1\.1 200/.test(query.data)
    && /"has_update"/.test(query.data), query.data.slice(0, 300));

  // the client address answers the clients' routes only, and says where the rest goes
  for (const [what, raw] of [
    ['an admin route', 'GET /admin/api/v1/me HTTP/1.1\r\nHost: t\r\nAccept-Language: zh-CN\r\n\r\n'],
    ['a query string', rawPost('/api/v1/check-update?via=query', { current_version: '1.0.0', client_id: 'fd-q2' }, 'Accept-Language: zh-CN\r\n')],
    ['the admin UI', 'GET / HTTP/1.1\r\nHost: t\r\nAccept-Language: zh-CN\r\n\r\n'],
  ]) {
    const r = await rawExchange(clientPort, [raw]);
    check(`client address: ${what} is refused with 404 pointing to the main address, and closes`,
      /^HTTP\/1\.1 404/.test(r.data) && r.closed && r.data.includes(JSON.stringify(zhMsg('error.client_port_only')).slice(1, -1)),
      r.data.slice(0, 400));
  }

  // the client's address, on both paths: X-Forwarded-For only from a trusted proxy
  const port4 = Number(port) + 3;
  const proxied = startServer(port4, { ROLLOUT_TRUSTED_PROXIES: '127.0.0.2' });
  try {
    await waitHealthy(`http://127.0.0.1:${port4}`);
    const report = (id, q) => rawPost(`/api/v1/download-started${q}`, { version: '1.0.0', client_id: id });
    const cases = [
      ['fd-ip-1', '', '127.0.0.2', 'X-Forwarded-For: 10.1.1.1, 198.51.100.7\r\n', '198.51.100.7'],
      ['fd-ip-2', '?tunnel=1', '127.0.0.2', 'X-Forwarded-For: 198.51.100.8\r\n', '198.51.100.8'],
      ['fd-ip-3', '', '127.0.0.3', 'X-Forwarded-For: 198.51.100.9\r\n', '127.0.0.3'],
      ['fd-ip-4', '?tunnel=1', '127.0.0.3', 'X-Forwarded-For: 198.51.100.9\r\n', '127.0.0.3'],
    ];
    const statuses = [];
    for (const [id, q, from, xff] of cases) {
      const r = await rawExchange(port4, [report(id, q).replace('\r\n\r\n', `\r\n${xff}\r\n`)], { localAddress: from });
      statuses.push(statusLines(r.data).join());
    }
    const { execFileSync } = require('child_process');
    const ips = execFileSync('psql', [dbUrl, '-At', '-F', ' ', '-c',
      "SELECT client_id, host(ip_address) FROM rollout.update_events WHERE client_id LIKE 'fd-ip-%' ORDER BY client_id"]).toString().trim();
    const want = cases.map((c) => `${c[0]} ${c[4]}`).join('\n');
    check('the client address reaches SQL on both paths, X-Forwarded-For only from a trusted proxy',
      statuses.every((s) => s === 'HTTP/1.1 200') && ips === want, { statuses, ips, want });
  } finally {
    proxied.kill('SIGKILL');
  }
}

// An upload whose body arrives in two halves, SIGTERM sent between them.
async function shutdownWithRequestInFlight(server) {
  const http = require('http');
  const token = await login('admin', 'admin-password-1');
  const v = await req('POST', '/admin/api/v1/versions', { project: 'default', version: '9.9.0' }, { token });
  const data = crypto.randomBytes(200000);
  const done = new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, method: 'POST',
      path: `/admin/api/v1/versions/${v.json.data.id}/artifacts?os=linux&arch=riscv64&filename=slow.tgz`,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length,
                 Authorization: `Bearer ${token}`, Connection: 'close' } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('error', (e) => resolve({ status: 0, text: String(e) }));
    r.write(data.subarray(0, 100000));
    setTimeout(() => {
      server.kill('SIGTERM');
      setTimeout(async () => {
        const during = await fetch(base + '/healthz', { headers: { 'Accept-Language': 'en' } })
          .then(async (x) => ({ status: x.status, json: await x.json() }), (e) => ({ status: 0, json: String(e) }));
        check('during shutdown new requests get 503 and a message', during.status === 503
          && /shutting down/.test(during.json.message), during);
        // the server polls for the signal every second: the body's rest comes well after
        setTimeout(() => r.end(data.subarray(100000)), 1000);
      }, 1500);
    }, 300);
  });
  const res = await done;
  let json = null;
  try { json = JSON.parse(res.text); } catch (e) { /* not JSON */ }
  check('a request in flight at SIGTERM finishes', res.status === 200 && json && json.data.file_size === data.length,
    { status: res.status, text: res.text.slice(0, 300) });
}

// The routes the admin UI added: one round trip each, with their errors and roles.
async function adminUi() {
  const { execFileSync } = require('child_process');
  const psql = (sql) => execFileSync('psql', [dbUrl, '-At', '-c', sql]).toString().trim();
  const admin = await login('admin', 'admin-password-1');
  const maint = await login('maint', 'maint-password-1');
  const viewer = await login('viewer', 'viewer-password-1');
  const A = { token: admin };
  const M = { token: maint };
  const V = { token: viewer };

  await expectStatus('me', 200, 'GET', '/admin/api/v1/me', undefined, A,
    (r) => r.json.data.username === 'admin' && r.json.data.role === 'admin' && r.json.data.project === null && r.json.data.admin_id > 0);
  await expectStatus('me as a maintainer', 200, 'GET', '/admin/api/v1/me', undefined, M,
    (r) => r.json.data.role === 'maintainer' && r.json.data.project === 'default');
  const gone = await login('maint', 'maint-password-1');
  await req('POST', '/admin/api/v1/auth/logout', undefined, { token: gone });
  await expectStatus('me after logout: 401 token_revoked', 401, 'GET', '/admin/api/v1/me', undefined, { token: gone, lang: 'zh-CN' },
    (r) => r.json.message === zhMsg('error.token_revoked') && r.json.error.detail === 'token revoked');

  await expectStatus('dashboard (default project)', 200, 'GET', '/admin/api/v1/dashboard', undefined, V,
    (r) => r.json.data.project === 'default' && r.json.data.trend.length === 7 && r.json.data.channels.length === 3
      && typeof r.json.data.total_clients === 'number' && typeof r.json.data.pending_approvals === 'number'
      && 'install_success_rate' in r.json.data && 'active_24h' in r.json.data);

  // the simulator answers as check-update would, step by step, and records nothing
  const ask = { current_version: '0.1.0', client_id: 'sim-http', os: 'linux', arch: 'amd64' };
  const sim = await expectStatus('simulate', 200, 'POST', '/admin/api/v1/simulate', ask, V,
    (r) => Array.isArray(r.json.data.steps) && r.json.data.steps[0].step === 'request' && 'has_update' in r.json.data
      && r.json.data.steps.some((st) => st.step === 'candidate') && r.json.data.steps.at(-1).detail.recorded === false);
  psql('SELECT rollout.flush_checks()');
  check('simulate records nothing', psql("SELECT count(*) FROM rollout.client_state WHERE client_id = 'sim-http'") === '0', {});
  const real = await req('POST', '/api/v1/check-update', ask);
  const { steps, ...simulated } = (sim.json && sim.json.data) || {};
  // the signed answer's own fields aside
  const { issued_at, expires_at, metadata_version, project, ...decided } = (real.json && real.json.data) || {};
  // (and the client's bucket, which a signed answer leaves out and the simulator shows)
  const simBucket = simulated.reason && simulated.reason.bucket;
  if (simulated.reason) delete simulated.reason.bucket;
  check('simulate answers what check-update answers', real.json && Number.isInteger(simBucket) && JSON.stringify(simulated) === JSON.stringify(decided),
    { simulated, real: real.text });
  await expectStatus('simulate needs current_version', 400, 'POST', '/admin/api/v1/simulate', { client_id: 'x' }, V,
    (r) => r.json.error.field === 'current_version');
  await expectStatus('simulate: unknown project', 404, 'POST', '/admin/api/v1/simulate', { project: 'nope', current_version: '1.0.0', client_id: 'x' }, V);

  // a version without "project" goes to the default project; search by q
  const made = await expectStatus('create a version without project', 200, 'POST', '/admin/api/v1/versions',
    { version: '12.0.0', title: 'Twelve searchable' }, A, (r) => r.json.data.project === 'default');
  const vid = made.json.data.id;
  await expectStatus('versions?q= finds by title', 200, 'GET', '/admin/api/v1/versions?q=SEARCHABLE', undefined, V,
    (r) => r.json.data.total === 1 && r.json.data.items[0].id === vid);
  await expectStatus('cohort of a percentage', 200, 'GET', `/admin/api/v1/versions/${vid}/cohort?percentage=50`, undefined, V,
    (r) => r.json.data.version_id === vid && ['audience', 'inside', 'inside_now', 'current_percentage'].every((k) => k in r.json.data)
      && r.json.data.inside <= r.json.data.audience && r.json.data.audience > 0);
  await expectStatus('cohort: percentage above 100', 400, 'GET', `/admin/api/v1/versions/${vid}/cohort?percentage=150`, undefined, V,
    (r) => r.json.error.field === 'percentage' && r.json.error.sqlstate === '22023');
  await expectStatus('staged rollout applied with PUT', 200, 'PUT', `/admin/api/v1/versions/${vid}`, { rollout_percentage: 25 }, A,
    (r) => Number(r.json.data.rollout_percentage) === 25);

  // approvals: a maintainer's publish becomes a request
  await expectStatus('require approval', 200, 'PUT', '/admin/api/v1/projects/default', { require_approval: true }, A,
    (r) => r.json.data.require_approval === true);
  const asked = await expectStatus('a maintainer publishes: a request', 200, 'POST', `/admin/api/v1/versions/${vid}/publish`, undefined, M,
    (r) => r.json.data.approval.status === 'pending' && r.json.data.version.status === 'draft' && r.json.data.approval.requested_by === 'maint');
  const approvalId = asked.json && asked.json.data.approval.id;
  await expectStatus('list pending approvals', 200, 'GET', '/admin/api/v1/approvals?status=pending', undefined, V,
    (r) => r.json.data.some((a) => a.id === approvalId && a.version === '12.0.0'));
  await expectStatus('a maintainer cannot approve', 403, 'POST', `/admin/api/v1/approvals/${approvalId}/approve`, undefined, M);
  await expectStatus('a rejection needs a comment', 400, 'POST', `/admin/api/v1/approvals/${approvalId}/reject`, {}, A,
    (r) => r.json.error.field === 'comment');
  await expectStatus('an admin approves: published', 200, 'POST', `/admin/api/v1/approvals/${approvalId}/approve`, { comment: 'ok' }, A,
    (r) => r.json.data.approval.status === 'approved' && r.json.data.approval.decided_by === 'admin' && r.json.data.version.status === 'published');
  await expectStatus('approved twice', 400, 'POST', `/admin/api/v1/approvals/${approvalId}/approve`, undefined, A,
    (r) => r.json.error.sqlstate === '22023');
  const v2 = await req('POST', '/admin/api/v1/versions', { version: '12.1.0' }, M);
  const asked2 = await req('POST', `/admin/api/v1/versions/${v2.json.data.id}/publish`, { at: '2031-01-01T00:00:00Z' }, M);
  await expectStatus('an admin rejects with a comment', 200, 'POST', `/admin/api/v1/approvals/${asked2.json.data.approval.id}/reject`,
    { comment: 'too early' }, A, (r) => r.json.data.approval.status === 'rejected' && r.json.data.version.status === 'draft');
  await expectStatus('each step is audited', 200, 'GET', '/admin/api/v1/audit?project=default&object_type=approvals', undefined, A,
    (r) => r.json.data.total === 4 && r.json.data.items.every((i) => i.object_type === 'approvals'));
  await expectStatus('approval off again', 200, 'PUT', '/admin/api/v1/projects/default', { require_approval: false }, A);

  // accounts
  const admins = (await req('GET', '/admin/api/v1/admins', undefined, A)).json.data;
  const adminId = admins.find((a) => a.username === 'admin').id;
  const eveId = admins.find((a) => a.username === 'eve').id;
  await expectStatus('the last admin cannot be demoted', 400, 'PUT', `/admin/api/v1/admins/${adminId}`, { role: 'viewer' }, A,
    (r) => r.json.error.field === 'role' && r.json.error.sqlstate === '22023');
  await expectStatus('the last admin cannot be disabled', 400, 'PUT', `/admin/api/v1/admins/${adminId}`, { is_active: false }, A,
    (r) => r.json.error.field === 'is_active');
  await expectStatus('update an account', 200, 'PUT', `/admin/api/v1/admins/${eveId}`, { role: 'maintainer', project: 'http-app' }, A,
    (r) => r.json.data.role === 'maintainer' && r.json.data.project === 'http-app' && !('password_hash' in r.json.data));
  const eveToken = await login('eve', 'eve-password-1');
  await expectStatus('reset a password', 200, 'POST', `/admin/api/v1/admins/${eveId}/password`, { password: 'eve-password-2' }, A,
    (r) => r.json.data.revoked_tokens >= 1);
  await expectStatus('the reset ends the account\'s sessions', 401, 'GET', '/admin/api/v1/me', undefined, { token: eveToken });
  const eve2 = await login('eve', 'eve-password-2');
  await expectStatus('change one\'s password: the current one must be right', 401, 'POST', '/admin/api/v1/auth/password',
    { current_password: 'wrong-one', new_password: 'eve-password-3' }, { token: eve2 }, (r) => r.json.error.sqlstate === '28P01');
  await expectStatus('change one\'s password', 200, 'POST', '/admin/api/v1/auth/password',
    { current_password: 'eve-password-2', new_password: 'eve-password-3' }, { token: eve2 }, (r) => r.json.data.changed === true);
  check('the new password logs in', /^[0-9a-f]{64}$/.test(await login('eve', 'eve-password-3') || ''), {});

  // mirrors and artifacts can be deleted
  await req('PUT', '/admin/api/v1/mirrors/temp', { base_url: 'https://temp.example.com' }, A);
  await expectStatus('delete a mirror', 200, 'DELETE', '/admin/api/v1/mirrors/temp?project=default', undefined, A, (r) => r.json.data === true);
  const art = await req('POST', `/admin/api/v1/versions/${vid}/artifacts`, { os: 'linux', arch: 's390x', file_url: 'x.tgz' }, A);
  await expectStatus('delete an artifact', 200, 'DELETE', `/admin/api/v1/artifacts/${art.json.data.id}`, undefined, M, (r) => r.json.data === true);
  await expectStatus('delete it again', 404, 'DELETE', `/admin/api/v1/artifacts/${art.json.data.id}`, undefined, M);

  // audit filters
  await expectStatus('audit filters', 200, 'GET', '/admin/api/v1/audit?actor=admin&action=update&object_type=versions&limit=100',
    undefined, A, (r) => r.json.data.total > 0
      && r.json.data.items.every((i) => i.actor === 'admin' && i.action === 'update' && i.object_type === 'versions'));
  await expectStatus('audit by time', 200, 'GET', `/admin/api/v1/audit?from=${encodeURIComponent(new Date(Date.now() + 3600e3).toISOString())}`,
    undefined, A, (r) => r.json.data.total === 0);
}

// One GET or HEAD with exactly these headers (no decompression): status, headers, body bytes.
function rawGet(pathname, headers = {}, method = 'GET') {
  const http = require('http');
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, path: pathname, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.from(String(e)) }));
    r.end();
  });
}

// The admin UI's files: the cache rules of Vite's output, the CSP and friends, pre-compressed copies.
async function webFiles() {
  const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    + "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";
  const uiHeaders = (h) => h['content-security-policy'] === csp && h['x-content-type-options'] === 'nosniff'
    && h['referrer-policy'] === 'no-referrer';
  for (const p of ['/', '/index.html']) {
    const r = await rawGet(p);
    check(`web: ${p} is index.html, revalidated, with the CSP`, r.status === 200 && r.body.toString() === indexHtml
      && r.headers['cache-control'] === 'no-cache' && /^text\/html/.test(r.headers['content-type']) && uiHeaders(r.headers),
    { status: r.status, headers: r.headers });
  }
  const plain = await rawGet('/assets/x-abc123.js');
  check('web: a hashed asset is cached for a year, immutable, with the CSP', plain.status === 200
    && plain.body.toString() === assetJs && plain.headers['cache-control'] === 'public, max-age=31536000, immutable'
    && /javascript/.test(plain.headers['content-type']) && !plain.headers['content-encoding'] && uiHeaders(plain.headers),
  { status: plain.status, headers: plain.headers });
  const gz = await rawGet('/assets/x-abc123.js', { 'Accept-Encoding': 'gzip, deflate, br' });
  let unzipped = '';
  try { unzipped = require('zlib').gunzipSync(gz.body).toString(); } catch (e) { /* not gzip */ }
  check('web: a client accepting gzip gets the .gz copy', gz.status === 200 && gz.headers['content-encoding'] === 'gzip'
    && unzipped === assetJs && /javascript/.test(gz.headers['content-type']) && gz.headers.vary === 'Accept-Encoding'
    && Number(gz.headers['content-length']) === gz.body.length && uiHeaders(gz.headers), { status: gz.status, headers: gz.headers });
  const refusing = await rawGet('/assets/x-abc123.js', { 'Accept-Encoding': 'gzip;q=0, identity' });
  check('web: gzip;q=0 gets the plain file', refusing.status === 200 && !refusing.headers['content-encoding']
    && refusing.body.toString() === assetJs, refusing.headers);
  const again = await rawGet('/assets/x-abc123.js', { 'If-None-Match': plain.headers.etag });
  check('web: a matching ETag is a 304', again.status === 304 && again.body.length === 0
    && again.headers['cache-control'] === 'public, max-age=31536000, immutable', again.headers);
  const head = await rawGet('/index.html', {}, 'HEAD');
  check('web: HEAD has the headers and no body', head.status === 200 && head.body.length === 0
    && Number(head.headers['content-length']) === Buffer.byteLength(indexHtml), head.headers);
  for (const bad of ['/assets/missing.js', '/versions', '/../rollout-web-outside.txt', '/%2e%2e/rollout-web-outside.txt',
    '/assets/..%2f..%2frollout-web-outside.txt', '/.hidden', '/assets/.x-abc123.js']) {
    const r = await rawGet(bad);
    check(`web: ${bad} is a 404 with the CSP`, r.status === 404 && !r.body.toString().includes('outside')
      && uiHeaders(r.headers), { status: r.status, headers: r.headers });
  }
  const post = await rawGet('/index.html', {}, 'POST');
  check('web: POST is not allowed', post.status === 405, post.status);
  const api = await rawGet('/healthz');
  check('web: the API still answers beside the UI', api.status === 200 && /"database":"ok"/.test(api.body.toString()), api.status);
}

async function upload(id, query, data, token) {
  const r = await fetch(`${base}/admin/api/v1/versions/${id}/artifacts?${query}`, {
    method: 'POST', body: data, headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` } });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: r.status, json, text };
}

async function artifacts() {
  const { execFileSync } = require('child_process');
  const token = await login('admin', 'admin-password-1');
  const v = await req('POST', '/admin/api/v1/versions', { project: 'default', version: '9.0.0' }, { token });
  const id = v.json.data.id;
  await req('POST', `/admin/api/v1/versions/${id}/publish`, undefined, { token });
  const data = crypto.randomBytes(300000);
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  const up = await upload(id, 'os=linux&arch=arm64&filename=app-9.0.0.tgz', data, token);
  check('upload: the server computes size and sha256', up.status === 200 && up.json.data.file_size === 300000
    && up.json.data.file_checksum === `sha256:${sha}`
    && up.json.data.file_url === '/download/default/9.0.0/linux-arm64/app-9.0.0.tgz', up.text);
  const url = up.json && up.json.data.file_url;
  const dl = await fetch(base + url);
  const got = Buffer.from(await dl.arrayBuffer());
  check('download is byte-identical', dl.status === 200 && got.equals(data)
    && dl.headers.get('content-length') === '300000', { status: dl.status, length: got.length });
  const part = await fetch(base + url, { headers: { Range: 'bytes=100-199' } });
  const pbytes = Buffer.from(await part.arrayBuffer());
  check('Range gives 206 and exactly those bytes', part.status === 206 && pbytes.equals(data.subarray(100, 200))
    && (part.headers.get('content-range') || '').startsWith('bytes 100-199/300000'), { status: part.status, len: pbytes.length });
  const cu = await req('POST', '/api/v1/check-update', { current_version: '8.5.0', client_id: 'arm-1', os: 'linux', arch: 'arm64' });
  check('check-update serves the stored file', cu.json.data.latest_version === '9.0.0' && cu.json.data.download_url === url
    && cu.json.data.file_checksum === `sha256:${sha}`, cu.text);
  const counted = execFileSync('psql', [dbUrl, '-Atc', `SELECT coalesce(sum(events), 0) FROM rollout.rollup_daily
    WHERE action = 'download' AND version OPERATOR(rollout.=) '9.0.0'::rollout.semver`]).toString().trim();
  check('downloads are counted', Number(counted) >= 2, counted);
  for (const bad of ['/download/../../etc/passwd', '/download/default/9.0.0/../../../etc/passwd',
    '/download/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/download/default/9.0.0/linux-arm64/..%2f..%2f..%2fsecret',
    '/download/.hidden', '/download/default/9.0.0/linux-arm64/missing.tgz', '/download/default']) {
    const r = await fetch(base + bad);
    const t = await r.text();
    check(`download refuses ${bad}`, r.status === 404 && !t.includes('root:'), { status: r.status });
  }
  // a re-upload under the same name that the database refuses (here a trigger
  // standing in for any failure of add_artifact) leaves the old file and row
  const psqlc = (q) => execFileSync('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-Atc', q]).toString().trim();
  psqlc(`CREATE FUNCTION public.refuse_artifact() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'refused by test'; END$$;
    CREATE TRIGGER refuse_artifact BEFORE INSERT OR UPDATE ON rollout.artifacts FOR EACH ROW EXECUTE FUNCTION public.refuse_artifact()`);
  let again;
  try {
    again = await upload(id, 'os=linux&arch=arm64&filename=app-9.0.0.tgz', crypto.randomBytes(1000), token);
  } finally {
    psqlc('DROP TRIGGER refuse_artifact ON rollout.artifacts; DROP FUNCTION public.refuse_artifact()');
  }
  const kept = fs.readFileSync(path.join(uploadDir, 'default', '9.0.0', 'linux-arm64', 'app-9.0.0.tgz'));
  const stray = fs.readdirSync(path.join(uploadDir, 'default', '9.0.0', 'linux-arm64')).filter((f) => f !== 'app-9.0.0.tgz');
  check('a re-upload the database refuses keeps the artifact\'s file and row', again.status >= 400 && kept.equals(data) && stray.length === 0
    && psqlc(`SELECT file_checksum FROM rollout.artifacts WHERE version_id = ${id} AND arch = 'arm64'`) === `sha256:${sha}`,
  { status: again.status, body: again.text, size: kept.length, stray });
  const badNames = await upload(id, 'os=linux&arch=arm64&filename=..%2Fevil', Buffer.from('x'), token);
  check('upload refuses a path in the file name', badNames.status === 400 && badNames.json.error.field === 'filename', badNames.text);
  const dotName = await upload(id, 'os=linux&arch=arm64&filename=.htaccess', Buffer.from('x'), token);
  check('upload refuses a hidden file name', dotName.status === 400, dotName.text);
  const badOs = await upload(id, 'os=Linux%20OS&arch=arm64&filename=a.tgz', Buffer.from('x'), token);
  check('upload refuses a bad os', badOs.status === 400 && badOs.json.error.field === 'os', badOs.text);
  const viewer = await login('viewer', 'viewer-password-1');
  const asViewer = await upload(id, 'os=linux&arch=arm64&filename=v.tgz', Buffer.from('x'), viewer);
  check('a viewer cannot upload', asViewer.status === 403, asViewer.text);
  const noToken = await fetch(`${base}/admin/api/v1/versions/${id}/artifacts?os=linux&arch=arm64&filename=a.tgz`, {
    method: 'POST', body: 'x', headers: { 'Content-Type': 'application/octet-stream' } });
  check('upload needs a token', noToken.status === 401, noToken.status);
  const tooBig = await upload(id, 'os=linux&arch=amd64&filename=big.tgz', crypto.randomBytes(1024 * 1024 + 10), token);
  const leftovers = fs.readdirSync(path.join(uploadDir, 'default', '9.0.0'), { recursive: true }).filter((f) => /upload-|big/.test(f));
  check('an oversized upload gets 413 and leaves nothing behind', tooBig.status === 413 && leftovers.length === 0,
    { status: tooBig.status, leftovers });
}

// the check recorder terminated: /healthz says "degraded" (still 200) and
// /metrics rollout_recorder_up 0 until it is back, then ok with one more restart
async function recorderRestart() {
  const { execFileSync } = require('child_process');
  const restarts = async () => Number(((await (await fetch(base + '/metrics')).text())
    .match(/^rollout_recorder_restarts_total (\d+)$/m) || [])[1]);
  const before = await restarts();
  execFileSync('psql', [dbUrl, '-Atc', "SELECT pg_terminate_backend((rollout.check_queue() ->> 'worker_pid')::int)"]);
  let degraded = null;
  let down = false;
  for (let i = 0; i < 100 && !(degraded && down); i++) {
    const hz = await req('GET', '/healthz');
    if (hz.json && hz.json.message === 'degraded') degraded = degraded || hz;
    if (/^rollout_recorder_up 0$/m.test(await (await fetch(base + '/metrics')).text())) down = true;
    await new Promise((r) => setTimeout(r, 20));
  }
  check('healthz: recorder terminated -> 200 "degraded", the database ok', degraded && degraded.status === 200
    && degraded.json.code === 200 && degraded.json.data.recorder === 'unavailable' && degraded.json.data.database === 'ok',
    degraded && degraded.text);
  check('metrics: rollout_recorder_up 0 while it is gone', down, {});
  let back = null;
  for (let i = 0; i < 100; i++) {
    const hz = await req('GET', '/healthz');
    if (hz.json && hz.json.message === 'ok' && hz.json.data.recorder === 'ok') { back = hz; break; }
    await new Promise((r) => setTimeout(r, 100));
  }
  check('healthz: the recorder is back within seconds', back && back.status === 200, back && back.text);
  check('metrics: the restart is counted', await restarts() === before + 1, { before });
}

// A server started on a database whose extension is older (0.3.0, without
// begin_request) answers the admin API 503 with what to do; after
// ALTER EXTENSION rollout UPDATE it serves it, with no restart: the update
// sends NOTIFY rollout_schema and the server reads the signatures again.
async function schemaReload() {
  const { execFileSync } = require('child_process');
  const db = `rollout_reload_${process.pid}`;
  const reloadUrl = dbUrl.replace(/\/[^/]*$/, `/${db}`);
  const psql = (url, sql) => execFileSync('psql', [url, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', sql]).toString().trim();
  psql(dbUrl, `CREATE DATABASE ${db}`);
  const port5 = Number(port) + 4;
  let srv = null;
  let log = '';
  try {
    psql(reloadUrl, "SET client_min_messages = warning; CREATE EXTENSION rollout VERSION '0.3.0'");
    psql(reloadUrl, "SELECT rollout.create_admin('reload', 'reload-password-1', 'admin')");
    srv = spawn(bin, [], { env: { ...process.env, DATABASE_URL: reloadUrl, ROLLOUT_LISTEN: `127.0.0.1:${port5}`,
      ROLLOUT_UPLOAD_DIR: uploadDir, ROLLOUT_WEB_ROOT: webRoot, ROLLOUT_RATE_LIMIT: '1000' }, stdio: ['ignore', 'ignore', 'pipe'] });
    srv.stderr.on('data', (d) => { log += d; });
    await waitHealthy(`http://127.0.0.1:${port5}`);
    const loginAt = () => fetch(`http://127.0.0.1:${port5}/admin/api/v1/auth/login`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': 'zh-CN' },
      body: JSON.stringify({ username: 'reload', password: 'reload-password-1' }) })
      .then(async (r) => ({ status: r.status, json: await r.json().catch(() => null) }));
    const before = await loginAt();
    const check0 = await fetch(`http://127.0.0.1:${port5}/api/v1/check-update`, { method: 'POST',
      body: JSON.stringify({ current_version: '1.0.0', client_id: 'reload-1' }) });
    check('an older extension: the admin API answers 503 saying to update it (in the client\'s language)',
      // the first function of 0.4.0 it misses: the login route's (try_login) or the pre-request's
      before.status === 503 && before.json && ['begin_request', 'try_login'].some((f) => before.json.message === zhMsg('error.outdated_extension', f))
      && /lacks rollout\.(begin_request|try_login)/.test(log), { before, log: log.slice(0, 600) });
    check('an older extension: clients are still answered', check0.status === 200, { status: check0.status });
    psql(reloadUrl, 'ALTER EXTENSION rollout UPDATE');
    let after = null;
    for (let i = 0; i < 50; i++) {
      after = await loginAt();
      if (after.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    check('after ALTER EXTENSION rollout UPDATE the same server logs in, without a restart',
      after && after.status === 200 && /^[0-9a-f]{64}$/.test(after.json.data.token) && /signatures reloaded/.test(log),
      { after, log: log.slice(-600) });
  } finally {
    if (srv) srv.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    try { psql(dbUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); } catch (e) { /* reported by the checks */ }
  }
}

async function operations() {
  const { execSync } = require('child_process');
  await live();
  await adminUi();
  await webFiles();
  await artifacts();
  // metrics: requests by route and status, latency histogram, connections
  const m = await fetch(base + '/metrics');
  const text = await m.text();
  check('GET /metrics is Prometheus text', m.status === 200 && (m.headers.get('content-type') || '').startsWith('text/plain'), {});
  check('metrics count requests by route and status',
    /rollout_http_requests_total\{method="POST",route="\/api\/v1\/check-update",status="200"\} \d+/.test(text)
    && /rollout_http_requests_total\{method="POST",route="\/api\/v1\/check-update",status="400"\} \d+/.test(text), text.slice(0, 800));
  check('metrics have a latency histogram', /rollout_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+/.test(text)
    && /rollout_http_request_duration_seconds_count \d+/.test(text), {});
  check('metrics show the connection pool', /rollout_http_db_connections [1-9]/.test(text) && /rollout_http_worker_threads 16/.test(text) && /rollout_http_db_lanes 1/.test(text), {});
  check('metrics show the check recorder', /^rollout_recorder_up 1$/m.test(text) && /^rollout_recorder_expected 1$/m.test(text)
    && /^rollout_recorder_queue_depth \d+$/m.test(text) && /^rollout_recorder_recorded_total [1-9]\d*$/m.test(text)
    && /^rollout_recorder_lag_seconds \d+(\.\d+)?$/m.test(text) && /^rollout_recorder_restarts_total \d+$/m.test(text)
    && /# TYPE rollout_recorder_recorded_total counter/.test(text), text.split('\n').filter((l) => l.includes('recorder')));
  await recorderRestart();

  await frontDoor();
  await schemaReload();

  // rate limit: a second server allowing 1 request per second (bursts of 2)
  const port2 = Number(port) + 1;
  const limited = startServer(port2, { ROLLOUT_RATE_LIMIT: '1' });
  try {
    await waitHealthy(`http://127.0.0.1:${port2}`);
    // all at once, so that a slow machine cannot refill the bucket between them
    const answers = await Promise.all(Array.from({ length: 6 }, () => fetch(`http://127.0.0.1:${port2}/api/v1/check-update`,
      { method: 'POST', headers: { 'Accept-Language': 'zh-CN' }, body: JSON.stringify({ current_version: '1.0.0', client_id: 'rl' }) })));
    const statuses = answers.map((r) => r.status).sort();
    const last = answers.find((r) => r.status === 429) || answers[answers.length - 1];
    const body = await last.json();
    check('clients above the rate limit get 429', statuses.includes(200) && statuses.includes(429)
      && statuses.every((x) => x === 200 || x === 429), statuses);
    check('429 says when to retry, in the client\'s language', last.headers.get('retry-after') === '1'
      && body.message === zhMsg('error.rate_limited'), body);
    const admin = await fetch(`http://127.0.0.1:${port2}/admin/api/v1/projects`);
    check('admin routes are not rate limited per client address', admin.status === 401, admin.status);
  } finally {
    limited.kill('SIGKILL');
  }

  // a client request held up in the database past ROLLOUT_CLIENT_TIMEOUT_MS: 503,
  // Retry-After, "busy" in the client's language; the lane serves the next one
  const port3 = Number(port) + 2;
  const strict = startServer(port3, { ROLLOUT_CLIENT_TIMEOUT_MS: '300' });
  const { spawn: spawnLock } = require('child_process');
  const locker = spawnLock('psql', [dbUrl, '-qAt'], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    await waitHealthy(`http://127.0.0.1:${port3}`);
    const locked = new Promise((resolve) => locker.stdout.on('data', (d) => { if (/locked/.test(String(d))) resolve(true); }));
    locker.stdin.write("BEGIN;\nSELECT 'locked' FROM rollout.client_state WHERE client_id = 'host-1' FOR UPDATE;\n");
    await Promise.race([locked, new Promise((r) => setTimeout(r, 5000))]);
    // released after 3 s whatever happens, so that a missing timeout fails rather than hangs
    setTimeout(() => locker.stdin.writable && locker.stdin.write('ROLLBACK;\n'), 3000);
    const t0 = Date.now();
    const slow = await fetch(`http://127.0.0.1:${port3}/api/v1/install-result`, { method: 'POST', headers: { 'Accept-Language': 'zh-CN' },
      body: JSON.stringify({ version: '1.0.0', client_id: 'host-1', success: false }) });
    const slowBody = await slow.json();
    check('a client request past the timeout gets 503 "busy" with Retry-After', slow.status === 503
      && slow.headers.get('retry-after') === '5' && slowBody.message === zhMsg('error.busy')
      && slowBody.error.sqlstate === '57014' && Date.now() - t0 < 4000, { status: slow.status, body: slowBody });
    const next = await fetch(`http://127.0.0.1:${port3}/api/v1/check-update`, { method: 'POST',
      body: JSON.stringify({ current_version: '1.0.0', client_id: 'after-timeout' }) });
    check('and the next request on that connection is served', next.status === 200, next.status);
  } finally {
    locker.stdin.end('ROLLBACK;\n');
    strict.kill('SIGKILL');
  }

  // database restart: 503 with Retry-After while it is down, then recovery
  if (process.env.PG_STOP_CMD && process.env.PG_START_CMD) {
    execSync(process.env.PG_STOP_CMD, { stdio: 'ignore' });
    try {
      const down = await req('POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'restart' });
      check('503 while the database is down', down.status === 503 && down.headers.get('retry-after') === '5'
        && down.json && down.json.code === 503, { status: down.status, text: down.text });
      const hz = await req('GET', '/healthz');
      check('healthz reports the database down', hz.status === 503 && hz.json.data.database === 'unavailable', hz.text);
    } finally {
      // whatever happened, the other suites need their database back
      execSync(process.env.PG_START_CMD, { stdio: 'ignore' });
    }
    let up;
    for (let i = 0; i < 20; i++) {
      up = await req('POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'restart' });
      if (up.status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    check('requests succeed again once the database is back', up.status === 200, { status: up.status, text: up.text });
  } else {
    check('database restart test has its commands (PG_STOP_CMD, PG_START_CMD)', false, {});
  }
}

// ---- signed answers (SIGNING.md): the header, the keys routes, rotation, retirement ----
const { execFileSync } = require('child_process');
const sql = (q) => execFileSync('psql', [dbUrl, '-AtXc', q]).toString().trim();

function recordSecrets() {
  for (const line of sql("SELECT encode(private_key, 'hex') || ' ' || encode(private_key, 'base64') FROM rollout.signing_secrets").split('\n')) {
    for (const form of line.split(' ')) if (form && !secrets.includes(form)) secrets.push(form);
  }
}

// verify body (text) against a "keyid=...,sig=..." value with a PEM, in node and with the openssl command line
function verifies(body, header, pem) {
  const sig = Buffer.from(header.replace(/^keyid=[0-9a-f]{16},sig=/, ''), 'base64');
  const inNode = crypto.verify(null, Buffer.from(body, 'utf8'), crypto.createPublicKey(pem), sig);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-sig-'));
  fs.writeFileSync(path.join(dir, 'key.pem'), pem);
  fs.writeFileSync(path.join(dir, 'body.json'), body);
  fs.writeFileSync(path.join(dir, 'sig.bin'), sig);
  let withOpenssl = true;
  try {
    execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', path.join(dir, 'key.pem'), '-rawin',
      '-in', path.join(dir, 'body.json'), '-sigfile', path.join(dir, 'sig.bin')], { stdio: 'ignore' });
  } catch (e) { withOpenssl = false; }
  fs.rmSync(dir, { recursive: true, force: true });
  return inNode && withOpenssl;
}

async function signing() {
  recordSecrets();
  const A = { token: await login('admin', 'admin-password-1') };
  const M = { token: await login('maint', 'maint-password-1') };
  const V = { token: await login('viewer', 'viewer-password-1') };
  const ask = { current_version: '0.9.0', client_id: 'signed-1', os: 'linux', arch: 'amd64' };
  const pemRes = await req('GET', '/api/v1/projects/default/public-key');
  check('public-key is the active key as PEM', pemRes.status === 200 && pemRes.headers.get('content-type') === 'application/x-pem-file'
    && /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]+\n-----END PUBLIC KEY-----\n$/.test(pemRes.text), { status: pemRes.status, text: pemRes.text });
  const pem1 = pemRes.text;
  const keys = await expectStatus('keys of the default project, no login', 200, 'GET', '/api/v1/projects/default/keys', undefined, {},
    (r) => r.json.data.project === 'default' && r.json.data.keys.length === 1 && r.json.data.keys[0].status === 'active'
      && r.json.data.keys[0].algorithm === 'ed25519' && r.json.data.keys[0].public_key_pem === pem1);
  const k1 = keys.json.data.keys[0];
  const raw = Buffer.from(k1.public_key, 'base64');
  check('keyid is the first 8 bytes of SHA-256 over the raw public key', raw.length === 32
    && crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16) === k1.keyid, k1);
  await expectStatus('keys of an unknown project', 404, 'GET', '/api/v1/projects/nope/keys');
  await expectStatus('public-key of an unknown project', 404, 'GET', '/api/v1/projects/nope/public-key');

  const a1 = await req('POST', '/api/v1/check-update', ask);
  const h1 = a1.headers.get('x-rollout-signature') || '';
  check('check-update carries X-Rollout-Signature', a1.status === 200
    && new RegExp(`^keyid=${k1.keyid},sig=[A-Za-z0-9+/]{86}==$`).test(h1), { header: h1 });
  check('the signature verifies over the exact body (node crypto and openssl pkeyutl)', verifies(a1.text, h1, pem1), { body: a1.text, h1 });
  check('a changed byte does not verify', !verifies(a1.text.replace('"code":200', '"code":201'), h1, pem1), {});
  const d = a1.json && a1.json.data;
  check('the signed data: issued_at, expires_at 7 days later, metadata_version, project', d
    && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(d.issued_at) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(d.expires_at)
    && Date.parse(d.expires_at) - Date.parse(d.issued_at) === 7 * 86400 * 1000 && Number.isInteger(d.metadata_version)
    && d.metadata_version >= 1 && d.project === 'default' && a1.json.code === 200 && a1.json.message === 'ok', a1.text);
  const z = await req('POST', '/api/v1/check-update', ask, { lang: 'zh-CN' });
  check('a Chinese envelope is signed too', z.json && z.json.message === zh.ok
    && verifies(z.text, z.headers.get('x-rollout-signature') || '', pem1), z.text);
  // nothing of the client's own is signed: two clients in the same situation
  // get the same bytes within a second (one signature serves both), unless
  // the second turned between the two answers
  let twins = null;
  for (let i = 0; i < 5 && !twins; i++) {
    const [t1, t2] = await Promise.all([req('POST', '/api/v1/check-update', { ...ask, client_id: `twin-a-${i}` }),
      req('POST', '/api/v1/check-update', { ...ask, client_id: `twin-b-${i}` })]);
    if (t1.json && t2.json && t1.json.data.issued_at === t2.json.data.issued_at) twins = [t1, t2];
  }
  check('a signed answer has no bucket: clients in the same situation get the same bytes and signature', twins
    && twins[0].text === twins[1].text && twins[0].headers.get('x-rollout-signature') === twins[1].headers.get('x-rollout-signature')
    && !('bucket' in twins[0].json.data.reason) && 'percentage' in twins[0].json.data.reason, twins && twins.map((t) => t.text));
  const bad = await req('POST', '/api/v1/check-update', { client_id: 'x' });
  check('an error answer carries no signature', bad.status === 400 && bad.headers.get('x-rollout-signature') === null, bad.text);
  // a signed answer rollout-http cannot take apart (a check_update_wire
  // replaced by one returning a bare body) is a 500, never passed on unsigned
  execFileSync('psql', [dbUrl, '-qc', `CREATE OR REPLACE FUNCTION rollout.check_update_wire(request jsonb, lang text DEFAULT NULL) RETURNS text
    LANGUAGE sql VOLATILE AS $$ SELECT '{"code":200,"message":"ok","data":{"has_update":true,"forged":1}}' $$`]);
  const broken = await req('POST', '/api/v1/check-update', ask);
  execFileSync('psql', [dbUrl, '-qc', `CREATE OR REPLACE FUNCTION rollout.check_update_wire(request jsonb, lang text DEFAULT NULL) RETURNS text
    AS '$libdir/rollout', 'rollout_check_update_wire' LANGUAGE C VOLATILE`]);
  check('a signed answer that cannot be read is a 500 with no signature, not an unsigned answer', broken.status === 500
    && broken.headers.get('x-rollout-signature') === null && !broken.text.includes('forged'), { status: broken.status, body: broken.text });
  const mended = await req('POST', '/api/v1/check-update', ask);
  check('signed answers again once check_update_wire is back', mended.status === 200
    && verifies(mended.text, mended.headers.get('x-rollout-signature') || '', pem1), mended.text);

  // the original service's request: no project, the fields of SPEC §9
  const orig = await req('POST', '/api/v1/check-update',
    { current_version: '0.9.0', channel: 'stable', client_id: 'orig-1', region: 'cn', arch: 'amd64', os: 'linux' });
  check('the original client request works unchanged (default project)', orig.status === 200 && orig.json.data.project === 'default'
    && typeof orig.json.data.has_update === 'boolean' && 'latest_version' in orig.json.data && 'download_url' in orig.json.data, orig.text);

  // and the original service's admin requests (SPEC §9), no project named: the default project
  const origV = await expectStatus('original: create a version without a project', 200, 'POST', '/admin/api/v1/versions',
    { version: '1.0.7', title: 'orig', file_url: 'https://example.com/app-1.0.7.tgz' }, A, (r) => r.json.data.project === 'default');
  await expectStatus('original: list versions', 200, 'GET', '/admin/api/v1/versions?channel=stable&page=1&limit=20', undefined, A,
    (r) => r.json.data.items.some((x) => x.id === origV.json.data.id));
  await expectStatus('original: update a version', 200, 'PUT', `/admin/api/v1/versions/${origV.json.data.id}`, { title: 'orig 2' }, A);
  await expectStatus('original: channels', 200, 'GET', '/admin/api/v1/channels', undefined, A, (r) => r.json.data.length === 3);
  await expectStatus('original: set a channel', 200, 'PUT', '/admin/api/v1/channels/stable', { rollout_percentage: 100, is_active: true }, A);
  await expectStatus('original: stats', 200, 'GET', '/admin/api/v1/stats?period=7d&action=all', undefined, A);
  await expectStatus('original: delete the draft', 200, 'DELETE', `/admin/api/v1/versions/${origV.json.data.id}`, undefined, A);

  // metadata_version grows with a change
  const v = await expectStatus('a version to publish', 200, 'POST', '/admin/api/v1/versions',
    { project: 'default', version: 'v1.0.5', file_url: 'pkg/app-1.0.5.tgz' }, A);
  await expectStatus('publish it', 200, 'POST', `/admin/api/v1/versions/${v.json.data.id}/publish`, undefined, A);
  const a2 = await req('POST', '/api/v1/check-update', ask);
  check('metadata_version grew with the publish', a2.json.data.metadata_version > d.metadata_version, { before: d.metadata_version, after: a2.json.data.metadata_version });

  // the answer lifetime
  await expectStatus('a viewer reads the signing settings', 200, 'GET', '/admin/api/v1/projects/default/signing', undefined, V,
    (r) => r.json.data.keys.length === 1 && Number.isInteger(r.json.data.metadata_version));
  await expectStatus('a maintainer may not change the lifetime', 403, 'PUT', '/admin/api/v1/projects/default/signing', { answer_lifetime: '1 day' }, M);
  await expectStatus('an admin sets the lifetime', 200, 'PUT', '/admin/api/v1/projects/default/signing', { answer_lifetime: '1 day' }, A);
  await expectStatus('a lifetime out of bounds', 400, 'PUT', '/admin/api/v1/projects/default/signing', { answer_lifetime: '5 seconds' }, A);
  const a3 = await req('POST', '/api/v1/check-update', ask);
  check('expires_at follows the lifetime', Date.parse(a3.json.data.expires_at) - Date.parse(a3.json.data.issued_at) === 86400 * 1000, a3.text);
  await expectStatus('lifetime back to 7 days', 200, 'PUT', '/admin/api/v1/projects/default/signing', { answer_lifetime: '7 days' }, A);

  // rotation and retirement
  await expectStatus('a maintainer may not rotate', 403, 'POST', '/admin/api/v1/projects/default/keys/rotate', undefined, M);
  await expectStatus('rotate', 200, 'POST', '/admin/api/v1/projects/default/keys/rotate', undefined, A,
    (r) => r.json.data.keys.length === 2 && r.json.data.keys[0].status === 'active' && r.json.data.keys[1].keyid === k1.keyid
      && r.json.data.keys[1].status === 'trusted');
  recordSecrets();
  const pem2 = (await req('GET', '/api/v1/projects/default/public-key')).text;
  const a4 = await req('POST', '/api/v1/check-update', ask);
  const h4 = a4.headers.get('x-rollout-signature') || '';
  check('the new key signs after a rotation', !h4.startsWith(`keyid=${k1.keyid},`) && verifies(a4.text, h4, pem2) && !verifies(a4.text, h4, pem1), h4);
  check('an answer of the old key still verifies with it', verifies(a1.text, h1, pem1), {});
  await expectStatus('the active key cannot be retired', 400, 'POST',
    `/admin/api/v1/projects/default/keys/${h4.slice(6, 22)}/retire`, undefined, A);
  await expectStatus('a maintainer may not retire', 403, 'POST', `/admin/api/v1/projects/default/keys/${k1.keyid}/retire`, undefined, M);
  await expectStatus('retire the old key', 200, 'POST', `/admin/api/v1/projects/default/keys/${k1.keyid}/retire`, undefined, A,
    (r) => r.json.data.keys.length === 1 && r.json.data.keys[0].keyid !== k1.keyid);
  await expectStatus('a retired key is not listed', 200, 'GET', '/api/v1/projects/default/keys', undefined, {},
    (r) => r.json.data.keys.every((k) => k.keyid !== k1.keyid));
  await expectStatus('retiring it twice', 404, 'POST', `/admin/api/v1/projects/default/keys/${k1.keyid}/retire`, undefined, A);
  await expectStatus('both audited', 200, 'GET', '/admin/api/v1/audit?object_type=signing_keys', undefined, A,
    (r) => JSON.stringify(r.json.data).includes('rotate_key') && JSON.stringify(r.json.data).includes('retire_key'));
  // a project of its own has a key of its own
  const own = await expectStatus('another project\'s keys', 200, 'GET', '/api/v1/projects/http-app/keys', undefined, {},
    (r) => r.json.data.keys.length === 1 && r.json.data.keys[0].keyid !== k1.keyid);
  const a5 = await req('POST', '/api/v1/check-update', { ...ask, project: 'http-app' });
  check('its answers are signed by its key', (a5.headers.get('x-rollout-signature') || '').startsWith(`keyid=${own.json.data.keys[0].keyid},`)
    && verifies(a5.text, a5.headers.get('x-rollout-signature'), own.json.data.keys[0].public_key_pem), a5.text);
  recordSecrets();
}

// no answer of any route this suite called holds a private key, in hex or base64
function noPrivateKeys() {
  const leaked = responses.filter((t) => secrets.some((s) => t.includes(s)));
  check(`no route returned a private signing key (${secrets.length / 2} keys, ${responses.length} answers)`,
    secrets.length >= 6 && responses.length > 100 && leaked.length === 0, leaked.slice(0, 2));
}

main().catch((e) => { console.error(e); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });
