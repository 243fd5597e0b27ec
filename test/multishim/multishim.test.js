// multishim.test.js: two rollout-http processes on one database, as behind a
// load balancer. The live websocket of each must carry every event, whichever
// process the change went through. Usage:
// node multishim.test.js BINARY DATABASE_URL PORT_A PORT_B
// Ends with "N passed, N failed".
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');

const [bin, dbUrl, portA, portB] = process.argv.slice(2);
const top = path.join(__dirname, '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-multishim-'));
let passed = 0;
let failed = 0;
const servers = [];

function check(name, ok, info) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok ? '' : ' ' + JSON.stringify(info).slice(0, 1500)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(port, name) {
  const child = spawn(bin, [], {
    env: { ...process.env, DATABASE_URL: dbUrl, ROLLOUT_LISTEN: `127.0.0.1:${port}`, ROLLOUT_THREADS: '8',
      ROLLOUT_DB_LANES: '1', ROLLOUT_UPLOAD_DIR: path.join(work, name), ROLLOUT_I18N_DIR: path.join(top, 'i18n'),
      ROLLOUT_WEB_ROOT: work },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.log = '';
  child.stderr.on('data', (d) => { child.log += d; });
  servers.push(child);
  return child;
}

async function healthy(base) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) return true; } catch (e) { /* not yet */ }
    await sleep(100);
  }
  return false;
}

async function req(base, method, url, body, token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json, text };
}

// a live socket on a server, opened with a ticket from `ticketBase`; collects messages
async function live(base, ticketBase, token) {
  const t = await req(ticketBase, 'POST', '/admin/api/v1/live/ticket', undefined, token);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/admin/api/v1/live?ticket=${t.json.data.ticket}`);
  const messages = [];
  const greeted = await new Promise((resolve) => {
    ws.on('message', (m) => { messages.push(JSON.parse(m.toString())); resolve(true); });
    ws.on('error', () => resolve(false));
    ws.on('unexpected-response', () => resolve(false));
    setTimeout(() => resolve(false), 5000);
  });
  return { ws, messages, greeted };
}

// wait until every socket has a message matching `pred` (at most 5 s)
async function allSee(sockets, pred) {
  for (let i = 0; i < 50 && !sockets.every((s) => s.messages.some(pred)); i++) await sleep(100);
  return sockets.map((s) => s.messages.some(pred));
}

async function main() {
  const baseA = `http://127.0.0.1:${portA}`;
  const baseB = `http://127.0.0.1:${portB}`;
  start(portA, 'a');
  start(portB, 'b');
  check('two rollout-http processes serve one database', await healthy(baseA) && await healthy(baseB), {});

  // a token from A works on B: sessions are in the database, not in a process
  const login = await req(baseA, 'POST', '/admin/api/v1/auth/login', { username: 'admin', password: 'admin-password-1' });
  const token = login.json && login.json.data.token;
  const me = await req(baseB, 'GET', '/admin/api/v1/me', undefined, token);
  check('a token issued by A is accepted by B', me.status === 200, me.text);

  const a = await live(baseA, baseA, token);
  const b = await live(baseB, baseB, token);
  check('a live socket on each is greeted', a.greeted && b.greeted && a.messages[0].type === 'hello'
    && b.messages[0].type === 'hello', { a: a.messages, b: b.messages });
  // behind a balancer the ticket request and the socket may reach different processes
  const crossed = await live(baseB, baseA, token);
  check('a ticket from A opens a socket on B', crossed.greeted, crossed.messages);
  const sockets = [a, b, crossed];

  // a publish through A reaches the sockets of both
  const v = await req(baseA, 'POST', '/admin/api/v1/versions', { project: 'default', version: '2.0.0' }, token);
  const vid = v.json && v.json.data.id;
  await req(baseA, 'POST', `/admin/api/v1/versions/${vid}/publish`, undefined, token);
  const published = (m) => m.type === 'versions.update' && m.id === vid && m.status === 'published';
  check('a publish through A is pushed to the sockets of A and B', (await allSee(sockets, published)).every(Boolean),
    { a: a.messages, b: b.messages, crossed: crossed.messages });

  // a change through B reaches A's socket
  const ch = await req(baseB, 'PUT', '/admin/api/v1/channels/beta', { project: 'default', rollout_percentage: 40 }, token);
  const channelSeen = await allSee(sockets, (m) => m.type && m.type.startsWith('channels'));
  check('a channel change through B is pushed to the sockets of A and B', ch.status === 200 && channelSeen.every(Boolean),
    { status: ch.status, body: ch.text, a: a.messages, b: b.messages });

  // client reports through B: statistics events on both
  const pid = (await req(baseA, 'GET', '/admin/api/v1/projects/default', undefined, token)).json.data.id;
  for (const s of sockets) s.messages.length = 0;
  await req(baseB, 'POST', '/api/v1/check-update', { current_version: '1.0.0', client_id: 'ms-1' });
  const ir = await req(baseB, 'POST', '/api/v1/install-result', { version: '2.0.0', client_id: 'ms-1', success: true });
  check('an install report through B is recorded', ir.status === 200, ir.text);
  const stats = (m) => m.type === 'stats' && m.project_id === pid;
  check('an install report through B sends a stats event to the sockets of A and B',
    (await allSee(sockets, stats)).every(Boolean), { a: a.messages, b: b.messages });
  for (const s of sockets) s.messages.length = 0;
  const dl = await req(baseA, 'POST', '/api/v1/download-started', { version: '2.0.0', client_id: 'ms-2' });
  check('a download report through A sends a stats event to the sockets of A and B',
    dl.status === 200 && (await allSee(sockets, stats)).every(Boolean), { status: dl.status, a: a.messages, b: b.messages });

  // an automatic pause, caused by reports through B, is announced on A
  await req(baseA, 'PUT', '/admin/api/v1/projects/default', { failure_threshold: 20, failure_min_samples: 5 }, token);
  for (let i = 0; i < 6; i++) {
    await req(baseB, 'POST', '/api/v1/install-result', { version: '2.0.0', client_id: `ms-f${i}`, success: false });
  }
  const paused = (m) => m.type === 'version.auto_paused' && m.id === vid;
  check('an automatic pause caused through B is pushed to the sockets of A and B',
    (await allSee(sockets, paused)).every(Boolean), { a: a.messages, b: b.messages });

  // and in the end both saw the same events, in the same order
  await sleep(300);
  const key = (m) => JSON.stringify(m);
  check('the sockets of A and B carried the same events', a.messages.map(key).join('\n') === b.messages.map(key).join('\n')
    && b.messages.map(key).join('\n') === crossed.messages.map(key).join('\n'), { a: a.messages, b: b.messages });
  for (const s of sockets) s.ws.close();
}

main().catch((e) => { check('the test ran to the end', false, String(e.stack || e)); }).finally(() => {
  for (const s of servers) s.kill('SIGTERM');
  for (const s of servers) if (/ERROR|AddressSanitizer/.test(s.log)) console.log(s.log.split('\n').slice(-20).join('\n'));
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
