// security.test.js: rollout-http under attack, over real HTTP on loopback,
// against a real PostgreSQL. Usage: node security.test.js BINARY DATABASE_URL PORT
// (test/run-security.sh prepares the database). Prints a line per check and
// ends with "N passed, N failed".
//
// - the auth matrix: every route of the route table (rollout-http --routes,
//   or the routes[] array of the shim's sources until that exists) × every
//   kind of caller: no token, malformed, expired, revoked, viewer, maintainer
//   of another project, admin. A route without an entry in POLICY fails.
// - the login throttle over HTTP: lockout per username and per address,
//   audited, in /metrics, the owner back after the window, an unknown
//   username answered exactly like a wrong password.
// - passwords and tokens never in the access log nor in the PostgreSQL log
//   (log_statement = all for the test database).
// - SQL- and script-looking text stored and returned verbatim.
// - upload file names that could escape or deceive refused.
// - response headers: nosniff, no server version, Cache-Control on API answers.
// - no downgrade but a yank's rollback (downgrade_property.sql) over fixed
//   and random seeds.
'use strict';
const { spawn, spawnSync, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const en = JSON.parse(fs.readFileSync(path.join(root, 'i18n', 'en.json'), 'utf8'));
const [bin, dbUrl, port] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
let passed = 0;
let failed = 0;

function check(name, ok, info) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok ? '' : ' ' + JSON.stringify(info).slice(0, 800)}`);
}

// SQL of the test itself (fixtures with passwords in them): kept out of the server log
function sql(query) {
  return execFileSync('psql', ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', dbUrl, '-c', query],
    { encoding: 'utf8', env: { ...process.env, PGOPTIONS: '-c log_statement=none' } }).trim();
}

async function req(method, p, body, opts = {}) {
  const headers = { 'Accept-Language': 'en', ...(opts.headers || {}) };
  if (opts.token !== undefined) headers.Authorization = opts.token;
  const init = { method, headers };
  if (body !== undefined) {
    init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}
const bearer = (t) => `Bearer ${t}`;

// The route table: from the binary when it can print it, else from the
// shim's sources (a stopgap until rollout-http --routes exists).
function loadRoutes() {
  const r = spawnSync(bin, ['--routes'], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
  if (r.status === 0) {
    try {
      const t = JSON.parse(r.stdout);
      const list = Array.isArray(t) ? t : t.routes;
      if (Array.isArray(list) && list.length > 0) {
        return { source: '--routes', routes: list.map((x) => ({
          method: x.method, path: x.path || x.pattern, fn: x.function,
          auth: /none/i.test(String(x.auth)) ? 'none' : 'token' })) };
      }
    } catch (e) { /* fall back to the sources */ }
  }
  const routes = [];
  for (const f of fs.readdirSync(path.join(root, 'shim')).filter((n) => n.endsWith('.c'))) {
    const src = fs.readFileSync(path.join(root, 'shim', f), 'utf8');
    const table = src.match(/Route\s+routes\[\]\s*=\s*\{([\s\S]*?)\n\};/);
    if (!table) continue;
    const re = /\{\s*"([A-Z]+)",\s*"([^"]+)",\s*"([^"]+)",\s*(?:NULL|"[^"]*"),\s*(AUTH_[A-Z_]+)/g;
    let m;
    while ((m = re.exec(table[1])) !== null) {
      routes.push({ method: m[1], path: m[2], fn: m[3], auth: m[4] === 'AUTH_NONE' ? 'none' : 'token' });
    }
  }
  return { source: 'shim sources', routes };
}

// Who may call each token route: 'any' account, 'viewer' (reads), 'maintainer',
// 'admin'; scoped: a project-scoped account of another project may not touch
// the default project's objects through it.
const POLICY = {
  'POST /admin/api/v1/auth/logout': { role: 'any' },
  'POST /admin/api/v1/auth/password': { role: 'any' },
  'GET /admin/api/v1/me': { role: 'any' },
  'GET /admin/api/v1/admins': { role: 'admin' },
  'POST /admin/api/v1/admins': { role: 'admin' },
  'PUT /admin/api/v1/admins/{admin_id}': { role: 'admin' },
  'POST /admin/api/v1/admins/{admin_id}/password': { role: 'admin' },
  'GET /admin/api/v1/tokens': { role: 'any' },
  'POST /admin/api/v1/tokens': { role: 'any' },
  'DELETE /admin/api/v1/tokens/{token_id}': { role: 'admin', owner: true },
  'GET /admin/api/v1/projects': { role: 'viewer' },
  'POST /admin/api/v1/projects': { role: 'admin' },
  'GET /admin/api/v1/projects/{project}': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/projects/{project}': { role: 'admin' },
  'GET /admin/api/v1/versions': { role: 'viewer', scoped: true },
  'POST /admin/api/v1/versions': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/versions/{version_id}': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/versions/{version_id}': { role: 'maintainer', scoped: true },
  'DELETE /admin/api/v1/versions/{version_id}': { role: 'maintainer', scoped: true },
  'POST /admin/api/v1/versions/{version_id}/publish': { role: 'maintainer', scoped: true },
  'POST /admin/api/v1/versions/{version_id}/pause': { role: 'maintainer', scoped: true },
  'POST /admin/api/v1/versions/{version_id}/resume': { role: 'maintainer', scoped: true },
  'POST /admin/api/v1/versions/{version_id}/yank': { role: 'maintainer', scoped: true },
  'POST /admin/api/v1/versions/{version_id}/artifacts': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/versions/{version_id}/cohort': { role: 'viewer', scoped: true },
  'DELETE /admin/api/v1/artifacts/{artifact_id}': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/approvals': { role: 'viewer', scoped: true },
  'POST /admin/api/v1/approvals/{approval_id}/approve': { role: 'admin' },
  'POST /admin/api/v1/approvals/{approval_id}/reject': { role: 'admin' },
  'GET /admin/api/v1/channels': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/channels/{channel}': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/mirrors': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/mirrors/{region}': { role: 'admin' },
  'DELETE /admin/api/v1/mirrors/{region}': { role: 'admin' },
  'GET /admin/api/v1/rules': { role: 'viewer', scoped: true },
  'POST /admin/api/v1/rules': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/rules/{rule_id}': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/rules/{rule_id}': { role: 'maintainer', scoped: true },
  'DELETE /admin/api/v1/rules/{rule_id}': { role: 'maintainer', scoped: true },
  'GET /admin/api/v1/stats': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/stats/distribution': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/stats/regions': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/stats/funnel': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/stats/trend': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/audit': { role: 'viewer', scoped: true },
  'GET /admin/api/v1/dashboard': { role: 'viewer', scoped: true },
  'POST /admin/api/v1/simulate': { role: 'viewer', scoped: true },
  'POST /admin/api/v1/live/ticket': { role: 'any' },
  'GET /admin/api/v1/projects/{project}/signing': { role: 'viewer', scoped: true },
  'PUT /admin/api/v1/projects/{project}/signing': { role: 'admin' },
  'POST /admin/api/v1/projects/{project}/keys/rotate': { role: 'admin' },
  'POST /admin/api/v1/projects/{project}/keys/{keyid}/retire': { role: 'admin' },
};
const RANK = { viewer: 0, maintainer: 1, admin: 2 };

function startServer(extraEnv, uploadDir) {
  return spawn(bin, [], {
    env: { ...process.env, DATABASE_URL: dbUrl, ROLLOUT_LISTEN: `127.0.0.1:${port}`, ROLLOUT_THREADS: '8',
      ROLLOUT_DB_LANES: '1', ROLLOUT_RATE_LIMIT: '1000', ROLLOUT_UPLOAD_DIR: uploadDir, ROLLOUT_MAX_UPLOAD: '65536',
      ROLLOUT_WEB_ROOT: webRoot, ROLLOUT_TRUSTED_PROXIES: '127.0.0.1', ROLLOUT_I18N_DIR: path.join(root, 'i18n'), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function waitHealthy() {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + '/healthz')).ok) return true; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// a stand-in for the UI's build
const webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-sec-web-'));
fs.writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>x</title>\n');
// the upload directory inside a parent of its own: nothing may appear beside it
const uploadParent = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-sec-up-'));
const uploadDir = path.join(uploadParent, 'uploads');

function listTree(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...listTree(p));
  }
  return out;
}

async function login(username, password, xff) {
  const r = await req('POST', '/admin/api/v1/auth/login', { username, password },
    { headers: xff ? { 'X-Forwarded-For': xff } : {} });
  return r;
}

async function main() {
  const secrets = [];	// every password and token used: none may be logged
  const pw = (name) => { const p = `${name}-Pw-${crypto.randomBytes(6).toString('hex')}`; secrets.push(p); return p; };
  const P = { admin: pw('admin'), viewer: pw('viewer'), maint: pw('maint'), other: pw('other'), expired: pw('expired'),
    revoked: pw('revoked'), locky: pw('locky'), logger: pw('logger') };
  sql(`SELECT rollout.create_project('other', 'Other project');
       SELECT rollout.create_admin('admin', '${P.admin}', 'admin');
       SELECT rollout.create_admin('viewer', '${P.viewer}', 'viewer');
       SELECT rollout.create_admin('maint', '${P.maint}', 'maintainer', 'default');
       SELECT rollout.create_admin('other', '${P.other}', 'maintainer', 'other');
       SELECT rollout.create_admin('expired', '${P.expired}', 'admin');
       SELECT rollout.create_admin('revoked', '${P.revoked}', 'admin');
       SELECT rollout.create_admin('locky', '${P.locky}', 'viewer');
       SELECT rollout.create_admin('logger', '${P.logger}', 'admin');
       SELECT rollout.create_admin('target', '${pw('target')}', 'viewer');`);

  let out = '';
  let server = startServer({}, uploadDir);
  server.stdout.on('data', (d) => { out += d; });
  server.stderr.on('data', (d) => { out += d; });
  check('server starts', await waitHealthy(), out);

  // ---- tokens of every kind of caller
  const tok = {};
  for (const who of ['admin', 'viewer', 'other', 'expired', 'revoked', 'maint']) {
    const r = await login(who, P[who]);
    tok[who] = r.json && r.json.data && r.json.data.token;
    check(`${who} logs in`, /^[0-9a-f]{64}$/.test(tok[who] || ''), r.text);
    secrets.push(tok[who]);
  }
  sql(`UPDATE rollout.api_tokens SET expires_at = now() - interval '1 second'
       WHERE token_hash = sha256(convert_to('${tok.expired}', 'UTF8'))`);
  check('revoked token logged out', (await req('POST', '/admin/api/v1/auth/logout', {}, { token: bearer(tok.revoked) })).status === 200);

  // ---- fixtures of the default project, for path parameters
  // (ids looked up, not taken from what the create functions return)
  sql(`SELECT rollout.create_version(project => 'default', version => '1.0.0', title => 'fixture', file_url => 'https://example.com/a.tgz');
       SELECT rollout.create_rule(project => 'default', name => 'fixture rule');
       SELECT rollout.set_mirror('default', 'cn', 'https://cn.example.com/');`);
  const ids = JSON.parse(sql(`SELECT jsonb_build_object(
      'version_id', (SELECT id FROM rollout.versions WHERE version::text = '1.0.0' AND project_id = (SELECT id FROM rollout.projects WHERE slug = 'default')),
      'rule_id', (SELECT id FROM rollout.update_rules WHERE name = 'fixture rule'),
      'region', 'cn', 'admin_id', (SELECT id FROM rollout.admins WHERE username = 'target'),
      'project', 'default', 'channel', 'stable')`));
  sql(`SELECT rollout.add_artifact(${ids.version_id}, 'linux', 'amd64', 'https://example.com/a-linux.tgz')`);
  ids.artifact_id = Number(sql(`SELECT id FROM rollout.artifacts WHERE version_id = ${ids.version_id}`));
  ids.token_id = Number(sql(`SELECT id FROM rollout.api_tokens WHERE token_hash = sha256(convert_to('${tok.maint}', 'UTF8'))`));
  ids.approval_id = 999999;
  const BODY = {
    'POST /admin/api/v1/auth/password': { current_password: 'not-the-password', new_password: 'whatever-123' },
    'POST /admin/api/v1/admins': { username: 'made-by-matrix', password: 'long-enough-1', role: 'viewer' },
    'PUT /admin/api/v1/admins/{admin_id}': { role: 'viewer' },
    'POST /admin/api/v1/admins/{admin_id}/password': { password: 'long-enough-2' },
    'POST /admin/api/v1/tokens': { name: 'matrix' },
    'POST /admin/api/v1/projects': { slug: 'matrix', name: 'Matrix' },
    'PUT /admin/api/v1/projects/{project}': { name: 'Default' },
    'POST /admin/api/v1/versions': { project: 'default', version: '2.0.0', title: 'matrix' },
    'PUT /admin/api/v1/versions/{version_id}': { title: 'matrix' },
    'POST /admin/api/v1/versions/{version_id}/artifacts': { os: 'linux', arch: 'arm64', file_url: 'https://example.com/b.tgz' },
    'PUT /admin/api/v1/channels/{channel}': { project: 'default', rollout_percentage: 100 },
    'PUT /admin/api/v1/mirrors/{region}': { project: 'default', base_url: 'https://cn2.example.com/' },
    'POST /admin/api/v1/rules': { project: 'default', name: 'matrix rule' },
    'PUT /admin/api/v1/rules/{rule_id}': { name: 'matrix rule 2' },
    'POST /admin/api/v1/simulate': { project: 'default', current_version: '0.1.0', client_id: 'c1' },
    'POST /admin/api/v1/approvals/{approval_id}/reject': { comment: 'no' },
  };
  const QUERY = { 'GET /admin/api/v1/versions/{version_id}/cohort': 'percentage=10', 'DELETE /admin/api/v1/mirrors/{region}': 'project=default' };

  // ---- the auth matrix
  const { source, routes } = loadRoutes();
  check(`route table read (${source}): ${routes.length} routes`, routes.length >= 40, routes.length);
  const tokenRoutes = routes.filter((r) => r.auth === 'token');
  for (const r of tokenRoutes) {
    const key = `${r.method} ${r.path}`;
    check(`route ${key} has an expected policy`, POLICY[key] !== undefined, 'add it to POLICY in test/security/security.test.js');
  }
  // the functions that take a project: GETs of those name the default project
  const withProject = new Set(sql(`SELECT string_agg(DISTINCT proname, ',') FROM pg_proc
      WHERE pronamespace = 'rollout'::regnamespace AND 'project' = ANY (proargnames)`).split(','));
  const url = (r) => {
    const key = `${r.method} ${r.path}`;
    let p = r.path.replace(/\{(\w+)\}/g, (_, n) => encodeURIComponent(ids[n] !== undefined ? ids[n] : '1'));
    const q = QUERY[key] || (r.method === 'GET' && withProject.has(r.fn) ? 'project=default' : '');
    return q ? `${p}?${q}` : p;
  };
  const call = (r, token) => {
    const key = `${r.method} ${r.path}`;
    const body = r.method === 'POST' || r.method === 'PUT' ? (BODY[key] || {}) : undefined;
    return req(r.method, url(r), body, { token });
  };
  // a caller without a valid token: 401, with the reason, whatever the route
  const invalid = [
    ['no token', undefined, 'invalid_token'],
    ['malformed token', 'Bearer not-a-token', 'invalid_token'],
    ['malformed scheme', `Basic ${Buffer.from('admin:' + P.admin).toString('base64')}`, 'invalid_token'],
    ['expired token', bearer(tok.expired), 'token_expired'],
    ['revoked token', bearer(tok.revoked), 'token_revoked'],
  ];
  for (const r of tokenRoutes) {
    for (const [who, token, keyName] of invalid) {
      const res = await call(r, token);
      check(`${r.method} ${r.path} ${who} -> 401 ${keyName}`, res.status === 401 && res.json && res.json.message === en[`error.${keyName}`],
        { status: res.status, body: res.text });
    }
  }
  // nor does a bad body tell a caller without a valid token what the route takes
  for (const r of tokenRoutes.filter((x) => x.method === 'POST' || x.method === 'PUT')) {
    for (const [who, token, keyName] of invalid.slice(1)) {
      const res = await req(r.method, url(r), { no_such_argument: 1 }, { token });
      check(`${r.method} ${r.path} ${who}, unknown field -> 401 ${keyName}`, res.status === 401 && res.json
        && res.json.message === en[`error.${keyName}`] && !/no_such_argument/.test(res.text), { status: res.status, body: res.text });
    }
  }
  // denied callers first (nothing they do may change anything), then the admin
  const before = sql(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (
      SELECT v::text AS t FROM rollout.versions v UNION ALL SELECT r::text FROM rollout.update_rules r
      UNION ALL SELECT a::text FROM rollout.artifacts a UNION ALL SELECT m::text FROM rollout.mirrors m
      UNION ALL SELECT p::text FROM rollout.projects p UNION ALL SELECT c::text FROM rollout.channels c
      UNION ALL SELECT (x.id, x.username, x.role, x.project_id, x.is_active, x.password_hash)::text FROM rollout.admins x) s`);
  const roles = [['viewer', 'viewer', null], ['maintainer of another project', 'maintainer', 'other']];
  // deletions late, logout (which ends the caller's session) last
  const order = (r) => (r.method === 'DELETE' ? 2 : /logout/.test(r.path) ? 3 : 0);
  const ordered = [...tokenRoutes].sort((a, b) => order(a) - order(b));
  // the route ran: not refused for who called (a wrong current password is the route's own 401)
  const ran = (res) => (res.status !== 401 || (res.json && res.json.error && res.json.error.sqlstate === '28P01'))
    && res.status !== 403 && res.status < 500;
  const matrix = [];
  for (const r of ordered) {
    const pol = POLICY[`${r.method} ${r.path}`];
    if (!pol) continue;
    for (const [who, role, project] of roles) {
      const allowed = pol.role === 'any' || (pol.role !== 'admin' && RANK[role] >= RANK[pol.role] && !(pol.scoped && project));
      // a denied write or read: 403 (or a request error decided by the shim before any SQL ran)
      const res = await call(r, bearer(role === 'viewer' ? tok.viewer : tok.other));
      const shimOnly = res.status === 400 && res.json && res.json.error && res.json.error.sqlstate === null;
      matrix.push(`${r.method} ${r.path} ${who}: ${res.status}`);
      if (allowed) {
        check(`${r.method} ${r.path} ${who} is allowed`, ran(res), { status: res.status, body: res.text });
      } else {
        check(`${r.method} ${r.path} ${who} -> 403`, res.status === 403 || shimOnly || (pol.owner && res.status === 403),
          { status: res.status, body: res.text });
      }
    }
  }
  const after = sql(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (
      SELECT v::text AS t FROM rollout.versions v UNION ALL SELECT r::text FROM rollout.update_rules r
      UNION ALL SELECT a::text FROM rollout.artifacts a UNION ALL SELECT m::text FROM rollout.mirrors m
      UNION ALL SELECT p::text FROM rollout.projects p UNION ALL SELECT c::text FROM rollout.channels c
      UNION ALL SELECT (x.id, x.username, x.role, x.project_id, x.is_active, x.password_hash)::text FROM rollout.admins x) s`);
  check('denied callers changed nothing (versions, rules, artifacts, mirrors, projects, channels, accounts)', before === after);
  // the admin: every route
  for (const r of ordered) {
    const res = await call(r, bearer(tok.admin));
    check(`${r.method} ${r.path} admin is allowed`, ran(res), { status: res.status, body: res.text });
  }
  // routes without a token: reachable by anyone, never a 5xx
  for (const r of routes.filter((x) => x.auth === 'none')) {
    const res = await req(r.method, r.path.replace(/\{\w+\}/g, 'default'), r.method === 'GET' ? undefined : {}, {});
    check(`${r.method} ${r.path} without a token is not refused for it`, res.status !== 401 && res.status !== 403 && res.status < 500,
      { status: res.status, body: res.text });
  }
  tok.admin = (await login('admin', P.admin)).json.data.token;
  secrets.push(tok.admin);

  // ---- the login throttle (3 failures per username, 6 per address, within 10 s)
  const wrong = [];
  for (let i = 1; i <= 3; i++) {
    const w = `locky-wrong-${i}-${crypto.randomBytes(4).toString('hex')}`;
    secrets.push(w);
    wrong.push(await login('locky', w, `198.51.100.${i}`));
  }
  check('three wrong passwords: 401 login_failed', wrong.every((r) => r.status === 401 && r.json.message === en['error.login_failed']),
    wrong.map((r) => r.text));
  const lockedRight = await login('locky', P.locky, '198.51.100.10');
  const lockedWrong = await login('locky', 'another-wrong-one', '198.51.100.11');
  check('locked: the right password is refused with login_locked', lockedRight.status === 401 && lockedRight.json.message === en['error.login_locked'],
    lockedRight.text);
  const strip = (j) => JSON.stringify({ ...j, error: { ...j.error, detail: null } });
  check('locked: a wrong password gets the same answer', lockedWrong.status === lockedRight.status && strip(lockedWrong.json) === strip(lockedRight.json),
    [lockedRight.text, lockedWrong.text]);
  // an unknown username and a wrong password: the same answer, byte for byte
  const unknown = await login('nobody-here', 'some-password', '198.51.100.20');
  const wrongPw = await login('viewer', 'some-password', '198.51.100.21');
  check('unknown username and wrong password: same status and body', unknown.status === 401 && unknown.text === wrongPw.text,
    [unknown.text, wrongPw.text]);
  check('the body\'s ip is not the client\'s address', sql(`SELECT count(*) FROM rollout.login_failures WHERE ip = '203.0.113.77'`) === '0'
    && (await req('POST', '/admin/api/v1/auth/login', { username: 'viewer', password: 'x-wrong', ip: '203.0.113.77' })).status === 401
    && sql(`SELECT count(*) FROM rollout.login_failures WHERE ip = '203.0.113.77'`) === '0');
  const audit = await req('GET', '/admin/api/v1/audit?action=login_failed&actor=locky&limit=50', undefined, { token: bearer(tok.admin) });
  const items = audit.json && audit.json.data && (audit.json.data.items || audit.json.data);
  const reasons = Array.isArray(items) ? items.map((e) => e.after && e.after.reason) : [];
  check('audited: three password failures and two locked attempts of locky', reasons.filter((x) => x === 'password').length === 3
    && reasons.filter((x) => x === 'locked').length === 2, audit.text.slice(0, 600));
  const locks = await req('GET', '/admin/api/v1/audit?action=login_locked&limit=50', undefined, { token: bearer(tok.admin) });
  check('audited: the lockout of locky', /"lock": ?"account"/.test(locks.text) && /locky/.test(locks.text), locks.text.slice(0, 400));
  let metrics = await (await fetch(base + '/metrics')).text();
  const metric = (name) => { const m = metrics.match(new RegExp(`^${name} (\\d+)$`, 'm')); return m ? Number(m[1]) : -1; };
  check('/metrics: failed logins, refusals, lockouts and one locked username',
    metric('rollout_login_failures_total') >= 5 && metric('rollout_login_refused_total') >= 2 && metric('rollout_login_lockouts_total') >= 1
    && metric('rollout_login_locked_usernames') >= 1, metrics.split('\n').filter((l) => /login/.test(l)));
  // the owner after the window (10 s): polled, no timing asserted
  let back = null;
  for (let i = 0; i < 60 && !(back && back.status === 200); i++) {
    await sleep(500);
    back = await login('locky', P.locky, '198.51.100.30');
  }
  check('the owner gets in with the right password after the window', back.status === 200 && back.json.data.username === 'locky', back.text);
  metrics = await (await fetch(base + '/metrics')).text();
  check('/metrics: no username locked any more', metric('rollout_login_locked_usernames') === 0, metrics.split('\n').filter((l) => /login_locked/.test(l)));
  // an address: six failures, whatever the usernames, lock it for everyone
  const fromOne = [];
  for (let i = 1; i <= 6; i++) fromOne.push((await login(`guess${i}`, 'guess-password', '192.0.2.99')).status);
  const adminFromLocked = await login('admin', P.admin, '192.0.2.99');
  const adminElsewhere = await login('admin', P.admin, '192.0.2.100');
  check('six failures from one address lock it, even for the right password', fromOne.every((s) => s === 401)
    && adminFromLocked.status === 401 && adminFromLocked.json.message === en['error.login_locked'], [fromOne, adminFromLocked.text]);
  check('another address is not locked', adminElsewhere.status === 200, adminElsewhere.text);
  if (adminElsewhere.json && adminElsewhere.json.data) secrets.push(adminElsewhere.json.data.token);
  metrics = await (await fetch(base + '/metrics')).text();
  check('/metrics: one locked address', metric('rollout_login_locked_addresses') >= 1, metrics.split('\n').filter((l) => /locked_addresses/.test(l)));

  // ---- secrets never logged
  const lw = `logger-wrong-${crypto.randomBytes(6).toString('hex')}`;
  secrets.push(lw);
  await login('logger', lw);
  const lt = (await login('logger', P.logger)).json.data.token;
  secrets.push(lt);
  await req('GET', '/admin/api/v1/me', undefined, { token: bearer(lt) });
  const apiTok = await req('POST', '/admin/api/v1/tokens', { name: 'automation' }, { token: bearer(lt) });
  const at = apiTok.json && apiTok.json.data && apiTok.json.data.token;
  check('an API token is made', /^[0-9a-f]{64}$/.test(at || ''), apiTok.text);
  secrets.push(at);
  await req('GET', '/admin/api/v1/projects', undefined, { token: bearer(at) });
  await req('POST', '/admin/api/v1/auth/password', { current_password: P.logger, new_password: pw('logger-new') }, { token: bearer(lt) });
  await req('POST', '/admin/api/v1/auth/logout', {}, { token: bearer(lt) });
  await sleep(1500);	// the access log is flushed every second
  const pgLogFile = process.env.ROLLOUT_TEST_PG_LOG;
  const pgLog = pgLogFile && fs.existsSync(pgLogFile) ? fs.readFileSync(pgLogFile, 'utf8') : null;
  check('the PostgreSQL log logged this test\'s statements (log_statement = all)', pgLog !== null && /try_login/.test(pgLog),
    pgLogFile || 'ROLLOUT_TEST_PG_LOG is not set');
  const leaks = (text) => secrets.filter((s) => s && text.includes(s));
  check('the access log has the requests, and no password or token', /auth\/login/.test(out) && leaks(out).length === 0,
    leaks(out).map((s) => s.slice(0, 12)));
  check('the PostgreSQL log has no password or token', pgLog !== null && leaks(pgLog).length === 0,
    pgLog === null ? 'no log' : leaks(pgLog).map((s) => s.slice(0, 12) + ': ' + pgLog.split('\n').find((l) => l.includes(s)).slice(0, 200)));

  // ---- text stored and returned verbatim
  const payloads = [
    "'; DROP TABLE rollout.versions; --",
    "Robert'); DELETE FROM rollout.admins WHERE ('1'='1",
    '1 OR 1=1; SELECT pg_sleep(10)',
    '$$; SELECT 1; $$',
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(document.cookie)>',
    "javascript:alert('x')",
    '{{constructor.constructor(\'alert(1)\')()}}',
    '\\x00\\u0000 %00 %s %n ${HOME} $(id) `id`',
    // non-ASCII input a user may type (Chinese, accents, bidi controls, a zero-width space): data, not UI text
    '版本说明 — ünïcødé ‮RTL‭ \u200b',
  ];
  let n = 0;
  for (const p of payloads) {
    n++;
    const cv = await req('POST', '/admin/api/v1/versions', { project: 'default', version: `7.0.${n}`, title: p, description: p,
      release_notes: p, breaking_changes: p }, { token: bearer(tok.admin) });
    const id = cv.json && cv.json.data && cv.json.data.id;
    const got = id ? await req('GET', `/admin/api/v1/versions/${id}`, undefined, { token: bearer(tok.admin) }) : null;
    const d = got && got.json && got.json.data;
    check(`version text fields verbatim: ${JSON.stringify(p).slice(0, 40)}`, d && ['title', 'description', 'release_notes', 'breaking_changes'].every((f) => d[f] === p)
      && /^application\/json/.test(got.headers.get('content-type')), cv.text.slice(0, 300));
    const cr = await req('POST', '/admin/api/v1/rules', { project: 'default', name: p }, { token: bearer(tok.admin) });
    const rid = cr.json && cr.json.data && cr.json.data.id;
    const gr = rid ? await req('GET', `/admin/api/v1/rules/${rid}`, undefined, { token: bearer(tok.admin) }) : null;
    check(`rule name verbatim: ${JSON.stringify(p).slice(0, 40)}`, gr && gr.json.data.name === p, cr.text.slice(0, 300));
    const ct = await req('POST', '/admin/api/v1/tokens', { name: p }, { token: bearer(tok.admin) });
    if (ct.json && ct.json.data) secrets.push(ct.json.data.token);
    const lt2 = await req('GET', '/admin/api/v1/tokens', undefined, { token: bearer(tok.admin) });
    check(`token name verbatim: ${JSON.stringify(p).slice(0, 40)}`, ct.status === 200 && lt2.json.data.some((t) => t.name === p), ct.text.slice(0, 300));
    const cp = await req('PUT', '/admin/api/v1/projects/other', { name: p }, { token: bearer(tok.admin) });
    const gp = await req('GET', '/admin/api/v1/projects/other', undefined, { token: bearer(tok.admin) });
    check(`project name verbatim: ${JSON.stringify(p).slice(0, 40)}`, gp.json && gp.json.data && gp.json.data.name === p, cp.text.slice(0, 300));
    const ch = await req('PUT', '/admin/api/v1/channels/beta', { project: 'default', display_name: { en: p }, description: { en: p } }, { token: bearer(tok.admin) });
    const gc = await req('GET', '/admin/api/v1/channels?project=default', undefined, { token: bearer(tok.admin) });
    const beta = gc.json && gc.json.data && gc.json.data.find((c) => c.name === 'beta');
    check(`channel display name and description verbatim: ${JSON.stringify(p).slice(0, 40)}`,
      beta && JSON.stringify(beta).includes(JSON.stringify(p).slice(1, -1)) && beta.display_name && beta.display_name.en === p, ch.text.slice(0, 300));
  }
  check('the tables the payloads named are still there', sql(`SELECT count(*) > 0 FROM rollout.versions`) === 't'
    && sql(`SELECT count(*) FROM rollout.admins`) !== '0');

  // ---- upload file names (to a version of their own: the matrix's admin deleted the fixture's)
  sql(`SELECT rollout.create_version(project => 'default', version => '8.0.0', title => 'uploads')`);
  const vid = Number(sql(`SELECT id FROM rollout.versions WHERE version::text = '8.0.0' AND project_id = (SELECT id FROM rollout.projects WHERE slug = 'default')`));
  const upload = (q, body = 'artifact bytes') => req('POST', `/admin/api/v1/versions/${vid}/artifacts?os=linux&arch=amd64&filename=${q}`,
    body, { token: bearer(tok.admin), headers: { 'Content-Type': 'application/octet-stream' } });
  const badNames = [
    ['../evil.tgz', '..%2Fevil.tgz'], ['../../evil.tgz (raw)', '../../evil.tgz'], ['a/../../evil', 'a%2F..%2F..%2Fevil'],
    ['..', '..'], ['.hidden', '.hidden'], ['-rf', '-rf'], ['/etc/passwd', '%2Fetc%2Fpasswd'], ['absolute (raw)', '/tmp/evil'],
    ['NUL byte', 'a.tgz%00'], ['NUL then traversal', 'a.tgz%00..%2F..%2Fevil'], ['NUL in the middle', 'a%00b.tgz'],
    ['129 characters', 'x'.repeat(129)], ['5000 characters', 'y'.repeat(5000)],
    ['division slash look-alike', encodeURIComponent('app\u2215..\u2215evil.tgz')],
    ['fullwidth dots and slash', encodeURIComponent('\uff0e\uff0e\uff0fevil.tgz')],
    ['one-dot leaders', encodeURIComponent('\u2024\u2024/evil.tgz')],
    ['right-to-left override', encodeURIComponent('app\u202egzt.exe')],
    ['Cyrillic a', encodeURIComponent('\u0430pp.tgz')], ['no-break space', encodeURIComponent('app\u00a0.tgz')],
    ['backslash', encodeURIComponent('..\\evil.tgz')], ['empty', ''], ['percent-encoded dot dot', '%2e%2e'],
  ];
  for (const [what, q] of badNames) {
    const r = await upload(q);
    // refused for its name, or (a NUL byte) for its query string, before anything ran
    check(`upload name refused: ${what}`, r.status === 400 && r.json && r.json.error
      && (r.json.error.field === 'filename' || (/%00/.test(q) && r.json.error.sqlstate === null)), { status: r.status, body: r.text.slice(0, 300) });
  }
  const good = await upload(encodeURIComponent('good-1.0.0_linux+x64.tgz'));
  check('a plain upload name is accepted', good.status === 200, good.text.slice(0, 300));
  const beside = fs.readdirSync(uploadParent);
  const tree = fs.existsSync(uploadDir) ? listTree(uploadDir).map((p) => path.relative(uploadDir, p)) : [];
  check('nothing written beside the upload directory, only the plain name inside it', beside.length === 1 && beside[0] === 'uploads'
    && tree.filter((p) => fs.statSync(path.join(uploadDir, p)).isFile()).every((p) => /(^|\/)good-1\.0\.0_linux\+x64\.tgz$/.test(p)),
    { beside, tree });
  check('no file was stored outside the upload directory', !fs.existsSync(path.join(os.tmpdir(), 'evil')) && !fs.existsSync('/tmp/evil'));

  // ---- response headers
  const samples = [
    ['GET', '/admin/api/v1/me', undefined, bearer(tok.admin), true],
    ['GET', '/admin/api/v1/me', undefined, undefined, true],
    ['GET', '/admin/api/v1/no-such-route', undefined, undefined, true],
    ['POST', '/admin/api/v1/auth/login', { username: 'x', password: 'y' }, undefined, true],
    ['POST', '/api/v1/check-update', { current_version: '0.1.0', client_id: 'h1', os: 'linux', arch: 'amd64' }, undefined, true],
    ['POST', '/api/v1/check-update', '{not json', undefined, true],
    ['GET', '/healthz', undefined, undefined, true],
    ['GET', '/metrics', undefined, undefined, true],
    ['GET', '/', undefined, undefined, false],
    ['GET', '/download/default/1.0.0/linux-amd64/none.tgz', undefined, undefined, false],
    ['GET', '/download/default/8.0.0/linux-amd64/good-1.0.0_linux+x64.tgz', undefined, undefined, false],
  ];
  for (const [m, p, body, token, api] of samples) {
    const r = await req(m, p, body, { token });
    const server = r.headers.get('server');
    check(`${m} ${p} (${r.status}) has X-Content-Type-Options: nosniff`, r.headers.get('x-content-type-options') === 'nosniff', [...r.headers]);
    check(`${m} ${p} (${r.status}) names no server version`, !server || !/\d/.test(server), server);
    if (api) check(`${m} ${p} (${r.status}) has Cache-Control`, /no-store|no-cache|private|max-age/.test(r.headers.get('cache-control') || ''), [...r.headers]);
  }

  // ---- no downgrade but a yank's rollback, over random release histories
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 42, 1234, 99991];
  const randomSeeds = Array.from({ length: 5 }, () => 100000 + crypto.randomInt(900000));
  let offers = 0;
  let rollbacks = 0;
  const failures = [];
  for (const s of [...seeds, ...randomSeeds]) {
    const r = sql(`SELECT public.downgrade_property(${s})`);
    const m = r.match(/^ok (\d+) (\d+)$/);
    if (m) { offers += Number(m[1]); rollbacks += Number(m[2]); } else failures.push(r);
  }
  check(`no downgrade except a rollback from a yanked version (seeds ${seeds.join(',')} and random ${randomSeeds.join(',')}: ${offers} offers, ${rollbacks} rollbacks)`,
    failures.length === 0 && offers > 100 && rollbacks > 0, failures.length ? failures : `random seeds: ${randomSeeds.join(', ')}`);

  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  const asan = (out.match(/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/g) || []);
  check('no sanitizer reports', asan.length === 0, out.split('\n').filter((l) => /Sanitizer|runtime error/.test(l)).slice(0, 5));
  fs.rmSync(webRoot, { recursive: true, force: true });
  fs.rmSync(uploadParent, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - the suite crashed: ${e.stack}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
