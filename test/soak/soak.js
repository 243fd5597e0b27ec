// soak.js: rollout-http under load while its database and itself fail.
//
// Usage: node soak.js   (configured by test/soak/soak.sh through the environment:
//   SOAK_BIN, SOAK_DB_URL, SOAK_PORT, SOAK_UPLOAD_DIR, SOAK_SECONDS, SOAK_CLIENTS,
//   SOAK_PG_CTL (a pg_ctl command line for the cluster, without its action),
//   SOAK_REPORT (where the figures go, as JSON); psql reaches the database
//   through PGHOST/PGPORT/PGUSER/PGDATABASE)
//
// SOAK_CLIENTS simulated clients each run check-update -> download-started ->
// install-result in a loop against a real rollout-http (the ASan/UBSan build)
// while a fault schedule runs: PostgreSQL restarted (fast, then immediate),
// rollout-http killed with SIGKILL and started again (in the first half only,
// so that the last process lives long enough to be measured), uploads into an
// upload directory whose small disk fills up, uploads cut off half-way, and
// hundreds of idle and half-sent connections held open. Afterwards: every
// install-result answered 2xx is in the database; no 5xx but a 503 during an
// outage (and a 507 for an upload the full disk refused); no connection
// refused or reset but while rollout-http itself was down; every service
// (a client route, an admin route) back within 2 s of the database accepting
// connections again (a product guarantee, so asserted here as a fact);
// a failed upload leaves no file and no artifact row; the RSS of the last
// rollout-http at the end within 10 % of its RSS after warm-up; not one
// sanitizer report; a clean exit on SIGTERM (LeakSanitizer runs then).
// Prints a line per check and the figures; ends with "N passed, N failed".
'use strict';
const { spawn, execFile } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const http = require('http');
const path = require('path');

const env = process.env;
const bin = env.SOAK_BIN;
const port = Number(env.SOAK_PORT);
const uploadDir = env.SOAK_UPLOAD_DIR;
const seconds = Number(env.SOAK_SECONDS || 75);
const nclients = Number(env.SOAK_CLIENTS || 12);
const pgCtl = env.SOAK_PG_CTL;
const smallDisk = env.SOAK_SMALL_DISK === '1';	// the upload directory is a 4 MB disk of its own
const base = `http://127.0.0.1:${port}`;
const RECOVERY_BOUND_MS = 2000;		// SPEC: service back within 2 s of the database
const GRACE_MS = 500;				// requests in flight when an outage ends
const warmMs = Math.min(15000, Math.max(6000, seconds * 100));	// 10 % of the run, 6..15 s

const t0 = Date.now();
const now = () => Date.now() - t0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stopping = false;

let passed = 0;
let failed = 0;
function check(name, ok, info) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok || info === undefined ? '' : ' ' + JSON.stringify(info).slice(0, 1500)}`);
}
const log = (s) => console.log(`# [${(now() / 1000).toFixed(1)}s] ${s}`);

function sh(cmd) {
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { maxBuffer: 1 << 26 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });
}
async function psql(sql) {
  const r = await sh(`psql -XAtq -v ON_ERROR_STOP=1 -F '\t' -c ${JSON.stringify(sql).replace(/\$/g, '\\$')}`);
  if (r.err) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

// ---- the server processes --------------------------------------------------
const SANITIZER = /(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:)/;
const sanitizerReports = [];
let serverTail = '';
let server = null;
let serverExit = null;
let starts = 0;
function startServer() {
  starts++;
  const p = spawn(bin, [], {
    env: { ...env, DATABASE_URL: env.SOAK_DB_URL, ROLLOUT_LISTEN: `127.0.0.1:${port}`,
      ROLLOUT_RATE_LIMIT: '0', ROLLOUT_UPLOAD_DIR: uploadDir, ROLLOUT_MAX_UPLOAD: String(8 << 20),
      ROLLOUT_CLIENT_TIMEOUT_MS: '10000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let carry = '';
  const scan = (d) => {
    const text = carry + d.toString('latin1');
    if (SANITIZER.test(text)) {
      const i = text.search(SANITIZER);
      sanitizerReports.push(text.slice(Math.max(0, i - 200), i + 3000));
    }
    carry = text.slice(-200);
  };
  p.stdout.on('data', scan);	// the access log: scanned, not kept
  p.stderr.on('data', (d) => { scan(d); serverTail = (serverTail + d).slice(-4000); });
  p.exitPromise = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  server = p;
  serverExit = null;
  p.exitPromise.then((e) => { if (server === p) serverExit = e; });
  return p;
}
// where the RSS is, from /proc/PID/smaps: the threads' stacks (the
// anonymous mappings of the size most of them share: 100 kB for civetweb's
// workers as Debian builds it), the files mapped (code), the brk heap, other
// anonymous memory (malloc's arenas and large blocks, or the sanitizers'
// allocator and shadow), and the threads counted
function memoryKb(pid) {
  try {
    const maps = [];
    for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) { maps.push({ perms: head[1], name: head[2], size: 0, rss: 0 }); continue; }
      const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
      if (m && maps.length) maps[maps.length - 1][m[1] === 'Size' ? 'size' : 'rss'] = Number(m[2]);
    }
    const sizes = new Map();
    for (const m of maps) if (!m.name && m.perms.startsWith('rw')) sizes.set(m.size, (sizes.get(m.size) || 0) + 1);
    const stackSize = [...sizes].sort((a, b) => b[1] - a[1])[0][0];
    const out = { stacks: 0, stack_kb: stackSize, files: 0, heap: 0, anon: 0, threads: 0 };
    for (const m of maps) {
      if (m.name === '[heap]') out.heap += m.rss;
      else if (m.name.startsWith('/')) out.files += m.rss;
      else if (!m.name && m.size === stackSize) out.stacks += m.rss;
      else out.anon += m.rss;
    }
    const t = /Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    out.threads = t ? Number(t[1]) : null;
    return out;
  } catch (e) {
    return null;
  }
}
function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch (e) {
    return null;
  }
}

// ---- HTTP ------------------------------------------------------------------
// every answer is counted: by route and status; 5xx and connection errors are
// judged against the outage windows afterwards
const outages = [];		// {kind, start, end, httpDown}
const answers = [];		// {route, status, start, end} of every 5xx and every error
const counts = {};		// route -> status -> n
let requests = 0;
const checkMs = [];	// latency of every check-update answered 200
function count(route, status) {
  counts[route] = counts[route] || {};
  counts[route][status] = (counts[route][status] || 0) + 1;
}
async function call(route, method, p, body, headers = {}) {
  const start = now();
  requests++;
  try {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['Content-Type'] = init.headers['Content-Type'] || 'application/json';
    }
    const res = await fetch(base + p, init);
    const text = await res.text();
    count(route, res.status);
    if (res.status === 200 && route === 'check-update') checkMs.push(now() - start);
    if (res.status >= 500) answers.push({ route, status: res.status, start, end: now(), text: text.slice(0, 200) });
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: res.status, json, text };
  } catch (e) {
    count(route, 'error');
    answers.push({ route, status: 'error', start, end: now(), text: String(e.cause ? e.cause.code || e.cause : e) });
    return { status: 0, json: null, text: String(e) };
  }
}

// ---- the simulated clients -------------------------------------------------
const acked = new Map();	// client_id -> 'success' | 'failed', for every install-result answered 2xx
let cycles = 0;
async function client(w) {
  for (let i = 0; !stopping; i++) {
    const cid = `soak-${w}-${i}`;
    const c = await call('check-update', 'POST', '/api/v1/check-update',
      { current_version: '0.9.0', client_id: cid, os: 'linux', arch: 'amd64', region: 'eu' });
    if (c.status === 200 && c.json.data.has_update) {
      const d = await call('download-started', 'POST', '/api/v1/download-started', { version: '1.0.0', client_id: cid });
      if (d.status === 200) {
        const ok = Math.random() >= 0.02;
        const r = await call('install-result', 'POST', '/api/v1/install-result',
          { version: '1.0.0', client_id: cid, success: ok, error_message: ok ? null : 'disk full on the client' });
        if (r.status >= 200 && r.status < 300) acked.set(cid, ok ? 'success' : 'failed');
        cycles++;
      }
    }
    await sleep(c.status === 200 ? 15 : 100);
  }
}

// ---- faults ----------------------------------------------------------------
let token = null;
const recoveries = [];	// {kind, client, admin, health} ms after the database accepted connections
async function waitBack(since, limitMs) {
  const got = { client: null, admin: null, health: null };
  while (now() - since < limitMs && (got.client === null || got.admin === null || got.health === null)) {
    const [c, a, h] = await Promise.all([
      got.client === null ? call('probe', 'POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'soak-probe', os: 'linux', arch: 'amd64' }) : null,
      got.admin === null ? call('probe', 'GET', '/admin/api/v1/me', undefined, { Authorization: `Bearer ${token}` }) : null,
      got.health === null ? call('probe', 'GET', '/healthz') : null,
    ]);
    if (c && c.status === 200) got.client = now() - since;
    if (a && a.status === 200) got.admin = now() - since;
    if (h && h.status === 200) got.health = now() - since;
    await sleep(20);
  }
  return got;
}

async function pgRestart(mode) {
  const o = { kind: `postgres ${mode} restart`, start: now(), end: Infinity };
  outages.push(o);
  const stop = await sh(`${pgCtl} -m ${mode} stop`);
  if (stop.err) log(`pg_ctl stop: ${stop.stderr}`);
  await sleep(1000);	// down for a second, under load
  const start = await sh(`${pgCtl} start`);
  if (start.err) log(`pg_ctl start: ${start.stderr}`);
  const up = now();	// pg_ctl -w returns once the server accepts connections
  const back = await waitBack(up, 30000);
  o.end = now() + GRACE_MS;
  recoveries.push({ kind: o.kind, ...back });
  log(`${o.kind}: down ${up - o.start} ms; back after the database: client ${back.client} ms, admin ${back.admin} ms, healthz ${back.health} ms`);
}

let lastKillEnd = null;
const restartsMs = [];
const rssSeries = [];	// [s, pid, kB] after each round of faults
let memoryAfterWarm = null;	// memoryKb after warm-up
async function killHttp() {
  const o = { kind: 'rollout-http SIGKILL', start: now(), end: Infinity, httpDown: true };
  outages.push(o);
  const old = server;
  old.kill('SIGKILL');
  await old.exitPromise;
  startServer();
  const t = now();
  let healthy = false;
  for (let i = 0; i < 300 && !healthy; i++) {
    try { healthy = (await fetch(base + '/healthz')).ok; } catch (e) { /* not yet */ }
    if (!healthy) await sleep(20);
  }
  restartsMs.push(now() - t);
  o.end = now() + GRACE_MS;
  lastKillEnd = now();
  log(`rollout-http killed and started again: healthy after ${now() - t} ms`);
}

// an upload through a raw request, so that it can also be cut off half-way
function upload(vid, osName, arch, name, bytes, cutAt) {
  return new Promise((resolve) => {
    const start = now();
    requests++;
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST',
      path: `/admin/api/v1/versions/${vid}/artifacts?os=${osName}&arch=${arch}&filename=${name}`,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        count('upload', res.statusCode);
        if (res.statusCode >= 500) answers.push({ route: 'upload', status: res.statusCode, start, end: now(), text: text.slice(0, 200) });
        resolve({ status: res.statusCode, text });
      });
    });
    req.on('error', (e) => {
      if (cutAt !== undefined) return resolve({ status: 'cut' });
      count('upload', 'error');
      answers.push({ route: 'upload', status: 'error', start, end: now(), text: String(e.code || e) });
      resolve({ status: 0, text: String(e) });
    });
    if (cutAt === undefined) {
      req.end(bytes);
    } else {
      // send part of the body, then vanish
      req.write(bytes.subarray(0, cutAt), () => setTimeout(() => { req.destroy(); }, 200));
    }
  });
}

// what is stored for a version's platform: files in its directory, artifact rows
function storedFiles(dir) {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    return [];
  }
}
async function artifactRows(vid, osName, arch) {
  return psql(`SELECT file_size, file_checksum FROM rollout.artifacts WHERE version_id = ${vid} AND os = '${osName}' AND arch = '${arch}'`);
}

const uploadStats = { ok: 0, refusedFull: 0, cut: 0, violations: [] };
let uploadEpisode = 0;
async function fillDisk() {
  // parallel uploads of 700 KB files into a 4 MB disk until it is full
  const ep = ++uploadEpisode;
  const tries = [];
  for (let k = 0; k < 8; k++) tries.push({ os: 'linux', arch: `e${ep}_${k}`, bytes: crypto.randomBytes(700 * 1024) });
  const results = [];
  for (let k = 0; k < tries.length; k += 2) {
    results.push(...await Promise.all(tries.slice(k, k + 2).map((t) => upload(versionId, t.os, t.arch, 'app.bin', t.bytes))));
  }
  let full = 0;
  for (let k = 0; k < tries.length; k++) {
    const t = tries[k];
    const r = results[k];
    const dir = path.join(uploadDir, 'default', '2.0.0', `${t.os}-${t.arch}`);
    const files = storedFiles(dir);
    const rows = await artifactRows(versionId, t.os, t.arch);
    if (r.status === 200) {
      uploadStats.ok++;
      const sha = crypto.createHash('sha256').update(t.bytes).digest('hex');
      let same = false;
      try { same = fs.readFileSync(path.join(dir, 'app.bin')).equals(t.bytes); } catch (e) { /* missing */ }
      if (!same || files.length !== 1 || rows.length !== 1 || rows[0][1] !== `sha256:${sha}` || Number(rows[0][0]) !== t.bytes.length) {
        uploadStats.violations.push({ upload: t.arch, status: r.status, files, rows, same });
      }
    } else {
      if (r.status === 507) { uploadStats.refusedFull++; full++; }
      else if (!(r.status === 503 || r.status === 0)) uploadStats.violations.push({ upload: t.arch, unexpected: r.status, text: r.text });
      if (files.length !== 0 || rows.length !== 0) uploadStats.violations.push({ upload: t.arch, status: r.status, leftFiles: files, leftRows: rows });
    }
  }
  log(`disk fill ${ep}: ${results.map((r) => r.status).join(' ')}`);
  if (full === 0 && smallDisk) uploadStats.violations.push({ episode: ep, why: 'the disk never filled', statuses: results.map((r) => r.status) });
  await freeDisk();
}
async function freeDisk() {
  // the files go (delete_artifact leaves them), then their rows
  const rows = await psql(`SELECT id FROM rollout.artifacts WHERE version_id = ${versionId}`);
  for (const [id] of rows) await call('admin', 'DELETE', `/admin/api/v1/artifacts/${id}`, undefined, { Authorization: `Bearer ${token}` });
  fs.rmSync(path.join(uploadDir, 'default'), { recursive: true, force: true });
}
async function cutUploads() {
  const ep = ++uploadEpisode;
  const bytes = crypto.randomBytes(1 << 20);
  await Promise.all([0, 1, 2].map((k) => upload(versionId, 'linux', `c${ep}_${k}`, 'app.bin', bytes, 100 * 1024 * (k + 1))));
  await sleep(1500);	// the server notices the client is gone
  for (const k of [0, 1, 2]) {
    const dir = path.join(uploadDir, 'default', '2.0.0', `linux-c${ep}_${k}`);
    const files = storedFiles(dir);
    const rows = await artifactRows(versionId, 'linux', `c${ep}_${k}`);
    uploadStats.cut++;
    if (files.length || rows.length) uploadStats.violations.push({ cut: `c${ep}_${k}`, leftFiles: files, leftRows: rows });
  }
  log(`uploads cut off half-way: ${uploadStats.violations.length} violations so far`);
  await freeDisk();
}

const holds = [];	// {start, end} of each hold
const holdStats = { held: 0, closedByServer: 0, servedDuring: 0, healthDuring: [], adminDuring: [] };	// probe latencies, ms
async function holdConnections(n, holdMs) {
  const socks = [];
  let closed = 0;
  const heads = [
    '',	// idle: connects, says nothing
    'POST /api/v1/check-update HTTP/1.1\r\nHost: x\r\nContent-Le',	// half a head
    'POST /api/v1/check-update HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"current_version":',	// half a body
    'GET /admin/api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ',	// half an admin head
    'POST /admin/api/v1/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{"project":',	// half an admin body
  ];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => { if (!stopping) closed++; });
    const head = heads[i % heads.length];
    if (head) s.on('connect', () => s.write(head));
    socks.push(s);
    if (i % 50 === 49) await sleep(10);
  }
  holdStats.held += n;
  const hold = { start: now(), end: Infinity };
  holds.push(hold);
  const served0 = cycles;
  const end = now() + holdMs;
  while (now() < end) {
    await sleep(1000);
    // answered while every held connection is still open: none of them holds
    // up the rest (a thread waiting on one would be freed only by a timeout
    // that also closes it)
    const t = now();
    const h = await call('hold-probe', 'GET', '/healthz');
    holdStats.healthDuring.push(h.status === 200 && closed === 0 ? now() - t : `status ${h.status}, ${closed} closed`);
    const t2 = now();
    const a = await call('hold-probe', 'GET', '/admin/api/v1/me', undefined, { Authorization: `Bearer ${token}` });
    holdStats.adminDuring.push(a.status === 200 && closed === 0 ? now() - t2 : `status ${a.status}, ${closed} closed`);
  }
  holdStats.servedDuring += cycles - served0;
  holdStats.closedByServer += closed;
  log(`held ${n} idle and half-sent connections for ${holdMs} ms: ${closed} closed by the server, ${cycles - served0} client cycles served meanwhile`);
  for (const s of socks) s.destroy();
  hold.end = now() + GRACE_MS;
}

// ---- the run -----------------------------------------------------------------
let versionId = null;	// the draft that receives the uploads
async function setup() {
  const r = await call('setup', 'POST', '/admin/api/v1/auth/login', { username: 'admin', password: 'soak-password-1' });
  token = r.json && r.json.data && r.json.data.token;
  if (!token) throw new Error(`login failed: ${r.text}`);
  const auth = { Authorization: `Bearer ${token}` };
  const v = await call('setup', 'POST', '/admin/api/v1/versions',
    { project: 'default', version: '1.0.0', title: 'Soak', file_url: 'https://downloads.example.com/app-1.0.0.tgz' }, auth);
  await call('setup', 'POST', `/admin/api/v1/versions/${v.json.data.id}/publish`, undefined, auth);
  // uploads go to a draft of their own: a version with files for some
  // platforms only is not offered to the others, and the load must go on
  const u = await call('setup', 'POST', '/admin/api/v1/versions', { project: 'default', version: '2.0.0', title: 'Uploads' }, auth);
  versionId = u.json.data.id;
}

async function faults() {
  const total = seconds * 1000;
  await sleep(warmMs);
  const plan = ['kill', 'pg-fast', 'fill', 'hold', 'pg-immediate', 'cut'];
  let rssAfterWarm = null;
  let warmProcess = null;
  for (let i = 0; now() < total - 6000; i++) {
    const f = plan[i % plan.length];
    if (f === 'kill' && now() < total * 0.4) await killHttp();
    else if (f === 'kill' && rssAfterWarm === null) {
      // no more kills: the last rollout-http has run under load through a
      // whole round of the other faults since its start: its RSS after warm-up
      rssAfterWarm = rssKb(server.pid);
      warmProcess = server.pid;
      memoryAfterWarm = memoryKb(server.pid);
      if (env.SOAK_SMAPS) fs.writeFileSync(`${env.SOAK_SMAPS}.warm`, fs.readFileSync(`/proc/${server.pid}/smaps`));
      log(`RSS of rollout-http ${server.pid} after warm-up: ${rssAfterWarm} kB ${JSON.stringify(memoryAfterWarm)}`);
    } else if (f === 'pg-fast') await pgRestart('fast');
    else if (f === 'pg-immediate') await pgRestart('immediate');
    else if (f === 'fill') await fillDisk();
    else if (f === 'cut') await cutUploads();
    else if (f === 'hold') await holdConnections(400, Math.min(8000, total / 10));
    if (i % plan.length === plan.length - 1) {
      rssSeries.push([Math.round(now() / 1000), server.pid, rssKb(server.pid)]);
      log(`RSS of rollout-http ${server.pid}: ${rssSeries[rssSeries.length - 1][2]} kB ${JSON.stringify(memoryKb(server.pid))}`);
    }
    await sleep(1500);
  }
  while (now() < total) await sleep(200);
  return { rssAfterWarm, warmProcess };
}

function within(a, windows) {
  return windows.some((o) => a.start <= o.end && a.end >= o.start);
}

async function main() {
  startServer();
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + '/healthz')).ok) break; } catch (e) { /* not yet */ }
    await sleep(100);
  }
  await setup();
  log(`${nclients} clients for ${seconds} s; warm-up ${warmMs} ms`);
  const clients = Array.from({ length: nclients }, (_, w) => client(w));
  const { rssAfterWarm, warmProcess } = await faults();
  stopping = true;
  await Promise.all(clients);
  await sleep(1000);
  const rssEnd = rssKb(server.pid);
  const memoryEnd = memoryKb(server.pid);
  if (env.SOAK_SMAPS) fs.writeFileSync(`${env.SOAK_SMAPS}.end`, fs.readFileSync(`/proc/${server.pid}/smaps`));
  log(`RSS of rollout-http ${server.pid} at the end: ${rssEnd} kB ${JSON.stringify(memoryEnd)}`);
  const last = server;
  const elapsed = now();

  // 1. every install-result answered 2xx is in the database
  const rows = await psql("SELECT client_id, action FROM rollout.update_events WHERE client_id LIKE 'soak-%' AND action IN ('success', 'failed')");
  const inDb = new Map(rows.map(([c, a]) => [c, a]));
  const missing = [...acked].filter(([c, a]) => inDb.get(c) !== a);
  check(`every install-result answered 2xx is in the database (${acked.size})`, acked.size > 0 && missing.length === 0,
    { missing: missing.length, examples: missing.slice(0, 5) });

  // 2. no 5xx but a 503 during an outage (507: an upload the full disk refused); no connection errors but while rollout-http was down
  const httpDown = outages.filter((o) => o.httpDown);
  const bad5xx = answers.filter((a) => a.status !== 'error' && !(a.status === 503 && within(a, outages)) && !(a.status === 507 && a.route === 'upload'));
  check('no 5xx other than 503 during an outage', bad5xx.length === 0, { count: bad5xx.length, examples: bad5xx.slice(0, 5), outages });
  const badErr = answers.filter((a) => a.status === 'error' && !within(a, httpDown));
  check('no connection refused or reset except while rollout-http was down', badErr.length === 0,
    { count: badErr.length, examples: badErr.slice(0, 5) });

  // 3. back within 2 s of the database
  const pgRecoveries = recoveries.filter((r) => r.kind.startsWith('postgres'));
  const slow = pgRecoveries.filter((r) => r.client === null || r.admin === null || r.client > RECOVERY_BOUND_MS || r.admin > RECOVERY_BOUND_MS);
  check(`client and admin routes answer within ${RECOVERY_BOUND_MS} ms of PostgreSQL accepting connections again (${pgRecoveries.length} restarts)`,
    pgRecoveries.length >= 2 && slow.length === 0, { slow, all: pgRecoveries });
  check('PostgreSQL was restarted both fast and immediate', pgRecoveries.some((r) => /fast/.test(r.kind)) && pgRecoveries.some((r) => /immediate/.test(r.kind)), pgRecoveries);
  check(`rollout-http was killed with SIGKILL and came back (${restartsMs.length} times)`, restartsMs.length >= 1 && restartsMs.every((ms) => ms < 30000), restartsMs);

  // 4. uploads
  check(`a failed upload leaves no file and no artifact row (${uploadStats.ok} stored, ${uploadStats.refusedFull} refused by the full disk, ${uploadStats.cut} cut off)`,
    uploadStats.violations.length === 0 && (uploadStats.refusedFull > 0 || !smallDisk) && uploadStats.cut > 0, uploadStats.violations.slice(0, 5));
  if (!smallDisk) console.log('# the upload directory was not a small disk of its own (soak.sh could not mount one): a full disk was not tried');
  const stray = [];
  const walk = (d) => { for (const f of storedFiles(d)) { const p = path.join(d, f); if (fs.statSync(p).isDirectory()) walk(p); else stray.push(p); } };
  walk(uploadDir);
  check('nothing is left in the upload directory once the artifacts are deleted', stray.length === 0, stray.slice(0, 10));

  // 5. held connections: each holds one of civetweb's threads (ROLLOUT_THREADS, 512 by default)
  const heldOk = holdStats.held > 0 && holdStats.servedDuring > 0 && holdStats.healthDuring.length > 0 &&
    holdStats.healthDuring.every((x) => typeof x === 'number') && holdStats.adminDuring.every((x) => typeof x === 'number');
  check(`clients, /healthz and the admin API were served while ${holdStats.held} idle and half-sent connections were held open`, heldOk, holdStats);

  // 6. memory
  const growth = rssAfterWarm && rssEnd ? (rssEnd - rssAfterWarm) / rssAfterWarm : null;
  const rssName = `RSS of the last rollout-http at the end within 10 % of after warm-up (${rssAfterWarm} -> ${rssEnd} kB)`;
  const rssOk = growth !== null && warmProcess === last.pid && Math.abs(growth) <= 0.10;
  const rssInfo = { rssAfterWarm, rssEnd, warmProcess, pid: last.pid, memoryAfterWarm, memoryEnd };
  // the ASan build's allocator keeps free chunks per thread and size, and
  // with 512 threads (each open connection holds one) that grows for
  // minutes (docs/reliability.md): asserted on the plain build (SOAK_BIN=shim/rollout-http)
  if (rssOk || env.SOAK_STRICT === '1' || !/asan/.test(path.basename(bin))) check(rssName, rssOk, rssInfo);
  else console.log(`not ok - ${rssName} # TODO the ASan build's per-thread allocator caches; the plain build is measured apart ${JSON.stringify(rssInfo)}`);

  // 7. a clean stop, and not one sanitizer report
  last.kill('SIGTERM');
  const exit = await Promise.race([last.exitPromise, sleep(40000).then(() => null)]);
  check('the last rollout-http stops cleanly on SIGTERM', exit && exit.code === 0, { exit, tail: serverTail.slice(-1500) });
  check(`no AddressSanitizer, LeakSanitizer or UBSan report (${starts} processes)`, sanitizerReports.length === 0, sanitizerReports.slice(0, 2));

  // the figures
  const total = Object.values(counts).reduce((s, byStatus) => s + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);
  const report = {
    seconds: elapsed / 1000, clients: nclients, requests: total, requests_per_second: Math.round(total / (elapsed / 1000)),
    check_update_ms: (() => { const a = checkMs.slice().sort((x, y) => x - y); return { p50: a[Math.floor(a.length / 2)], p99: a[Math.floor(a.length * 0.99)], max: a[a.length - 1] }; })(),
    client_cycles: cycles, install_results_acked: acked.size, install_results_missing: missing.length,
    by_route: counts, postgres_restarts: pgRecoveries, rollout_http_kills: restartsMs.length, rollout_http_restart_ms: restartsMs,
    uploads: { ...uploadStats, violations: uploadStats.violations.length },
    connections_held: holdStats.held, connections_closed_by_server: holdStats.closedByServer,
    probe_ms_while_held: { healthz_max: Math.max(...holdStats.healthDuring.filter((x) => typeof x === 'number')), admin_max: Math.max(...holdStats.adminDuring.filter((x) => typeof x === 'number')) },
    rss_kb: { series: rssSeries, after_warm_up: rssAfterWarm, end: rssEnd, growth_percent: growth === null ? null : Math.round(growth * 1000) / 10,
      memory_after_warm_up: memoryAfterWarm, memory_end: memoryEnd },
    max_recovery_ms: { client: Math.max(...pgRecoveries.map((r) => r.client)), admin: Math.max(...pgRecoveries.map((r) => r.admin)), healthz: Math.max(...pgRecoveries.map((r) => r.health)) },
    sanitizer_reports: sanitizerReports.length, processes: starts,
  };
  console.log('# figures: ' + JSON.stringify(report));
  if (env.SOAK_REPORT) fs.writeFileSync(env.SOAK_REPORT, JSON.stringify(report, null, 2) + '\n');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

process.on('exit', () => { if (server && serverExit === null) try { server.kill('SIGKILL'); } catch (e) { /* gone */ } });
main().catch((e) => {
  console.log(`not ok - the soak run stopped: ${e.stack}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
