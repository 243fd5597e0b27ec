// The shim's layout: one file per job, and no import cycle. Module X uses
// module Y when X.c or X.h includes "Y.h"; the graph must be acyclic (each
// job can be read, changed and tested below the ones that use it), and
// every module named in main.c's map of files must exist.
'use strict';
const fs = require('fs');
const path = require('path');

const shim = path.join(__dirname, '..', '..', 'shim');
let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log(`ok - ${name}`); } else { failed++; console.log(`not ok - ${name} ${JSON.stringify(detail)}`); }
}

const files = fs.readdirSync(shim).filter((f) => /\.[ch]$/.test(f));
const modules = [...new Set(files.map((f) => f.replace(/\.[ch]$/, '')))];
const uses = new Map(modules.map((m) => [m, new Set()]));
for (const f of files) {
  const m = f.replace(/\.[ch]$/, '');
  for (const [, inc] of fs.readFileSync(path.join(shim, f), 'utf8').matchAll(/^#include "([a-z_]+)\.h"/gm)) {
    if (inc !== m) uses.get(m).add(inc);
  }
}
check('every included header belongs to a module of shim/', [...uses.values()].every((s) => [...s].every((u) => uses.has(u))),
  Object.fromEntries([...uses].map(([m, s]) => [m, [...s].filter((u) => !uses.has(u))]).filter(([, v]) => v.length)));

// depth-first search for a cycle
const state = new Map();
let cycle = null;
function visit(m, stack) {
  if (cycle) return;
  state.set(m, 'open');
  for (const u of uses.get(m) || []) {
    if (state.get(u) === 'open') { cycle = [...stack, m, u]; return; }
    if (!state.has(u)) visit(u, [...stack, m]);
  }
  state.set(m, 'done');
}
for (const m of modules) if (!state.has(m)) visit(m, []);
check('no import cycle among the shim\'s files', cycle === null, cycle);

check('the server relays nothing: no socket is connected to another HTTP server of ours',
  files.every((f) => !/\bconnect\s*\(\s*[a-z_]*fd/.test(fs.readFileSync(path.join(shim, f), 'utf8'))), {});

const main = fs.readFileSync(path.join(shim, 'main.c'), 'utf8');
const listed = [...main.matchAll(/^ \*\t\t([a-z0-9_]+)\.c /gm)].map((x) => x[1]);
check('main.c\'s map names every file of shim/ and nothing else',
  JSON.stringify([...listed, 'main', 'http_head'].sort()) === JSON.stringify(modules.filter((m) => files.includes(`${m}.c`)).sort()),
  { listed, modules });

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
