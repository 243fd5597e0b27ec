// compat.js: the extension's range parser and matcher (extension/semver_core.c,
// driven through semver_cli) against node-semver, the reference SPEC §6 names.
// Usage: node compat.js path/to/semver_cli
// Prints a line per check group and ends with "N passed, N failed".
'use strict';
const { execFileSync } = require('child_process');
const semver = require('semver');

const cli = process.argv[2];

// A small deterministic PRNG so that failures reproduce.
let seed = 20261123;
function rnd(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const pick = (a) => a[rnd(a.length)];

function node(range, version) {
  let r;
  try {
    r = new semver.Range(range);
  } catch (e) {
    return { error: 'range' };
  }
  const canonical = r.range;
  let v;
  try {
    v = new semver.SemVer(version);
  } catch (e) {
    return { canonical, verror: true };
  }
  return { canonical, match: r.test(v) };
}

function ours(pairs) {
  const input = pairs.map(([r, v]) => `${r}\t${v}`).join('\n') + '\n';
  const out = execFileSync(cli, { input, maxBuffer: 1 << 28 }).toString().split('\n');
  return pairs.map((_, i) => {
    const line = out[i];
    if (line.startsWith('range-error:')) return { error: 'range' };
    const [canonical, res] = line.split('\t');
    if (res.startsWith('version-error')) return { canonical, verror: true };
    return { canonical, match: res === 'true' };
  });
}

// node-semver prints '' for '*' and joins sets with '||'
const normalize = (c) => c.split(' || ').map((s) => (s === '*' ? '' : s)).join('||');

const versions = [];
for (const M of ['0', '1', '2', '3', '10']) {
  for (const m of ['0', '1', '2', '9']) {
    for (const p of ['0', '1', '3']) {
      for (const pre of ['', '-alpha', '-alpha.1', '-beta.2', '-rc.1', '-0', '-1.2']) {
        versions.push(`${M}.${m}.${p}${pre}`);
      }
    }
  }
}

function partial() {
  const xr = () => pick(['0', '1', '2', '3', '10', 'x', 'X', '*', '1', '2']);
  const n = 1 + rnd(3);
  let s = pick(['', '', '', 'v', '=']) + xr();
  if (n > 1) s += '.' + xr();
  if (n > 2) s += '.' + xr();
  if (n === 3 && !/[xX*]/.test(s) && rnd(3) === 0) s += pick(['-alpha', '-beta.2', '-0', '-rc.1']);
  if (n === 3 && rnd(8) === 0) s += '+build.1';
  return s;
}
function comparator() {
  const op = pick(['', '', '=', '<', '<=', '>', '>=', '~', '^', '~>']);
  return op + (op && rnd(5) === 0 ? ' ' : '') + partial();
}
function set() {
  if (rnd(5) === 0) return `${partial()} - ${partial()}`;
  const n = 1 + rnd(3);
  return Array.from({ length: n }, comparator).join(' ');
}
function range() {
  const n = 1 + rnd(3);
  return Array.from({ length: n }, set).join(pick([' || ', '||', ' ||  ']));
}
function junk() {
  const alphabet = '0123456789.xX*^~<>=- |va+b';
  const n = 1 + rnd(14);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rnd(alphabet.length)];
  return s;
}

const explicit = [
  '1.2.3', '=1.2.3', 'v1.2.3', '>1.2.3', '>=1.2.3', '<1.2.3', '<=1.2.3', '>= 1.2.3',
  '>=1.2.3 <2.0.0', '1.2.3 - 2.3.4', '1.2 - 2.3.4', '1.2.3 - 2.3', '1.2.3 - 2', '* - 2',
  '1.2.3-beta - 2.0.0-rc.1', '*', 'x', 'X', '', '1.x', '1.*', '1', '1.2', '1.2.x', '>1',
  '>1.2', '>=1', '<1', '<1.2', '<=1', '<=1.2', '=1.2', '>*', '<*', '>=*', '~1.2.3', '~1.2',
  '~1', '~>1.2.3', '~ 1.2.3', '~1.2.3-beta.2', '~0.2.3', '~0', '^1.2.3', '^0.2.3', '^0.0.3',
  '^1.2', '^0.2', '^0.0', '^1', '^0', '^1.x', '^0.x', '^0.0.x', '^1.2.3-beta.2',
  '^0.0.3-beta', '^ 1.2.3', '^*', '1.2.7 || >=1.2.9 <2.0.0', '1.x || >=2.5.0 || 5.0.0 - 7.2.3',
  '|| 1.2.3', '1.2.3 ||', '>1.2.3-alpha.3', '>=1.0.0-0 <2.0.0',
  // node-semver 7.8: no number after an x (rejected), build metadata stripped everywhere
  'x.1.2', 'X.0', '*.1', '1.x.2', 'x.x.1', '>=x.1', '~x.1', '^x.1', 'x.1 - 2', '1.2.3+b.7 - 2+c',
  '8+6v2+0X862', '+build', '1+a 2+b', '>=1.2.3+build <2',
];

let passed = 0;
let failed = 0;
function group(name, pairs, compareCanonical) {
  const mine = ours(pairs);
  const bad = [];
  pairs.forEach(([r, v], i) => {
    const a = mine[i];
    const b = node(r, v);
    let ok;
    if (b.error || a.error) ok = !!a.error === !!b.error;
    else if (b.verror) ok = true; // node refuses versions we accept (e.g. numbers above 2^53)
    else ok = a.match === b.match && (!compareCanonical || normalize(a.canonical) === b.canonical);
    if (!ok) bad.push({ range: r, version: v, ours: a, node: b });
  });
  if (bad.length === 0) {
    passed++;
    console.log(`ok - ${name}: ${pairs.length} cases agree with node-semver ${semver.SEMVER_SPEC_VERSION ? require('semver/package.json').version : ''}`);
  } else {
    failed++;
    console.log(`not ok - ${name}: ${bad.length} of ${pairs.length} cases differ from node-semver`);
    for (const b of bad.slice(0, 15)) console.log('  ' + JSON.stringify(b));
  }
}

group('explicit ranges, every version, canonical text',
  explicit.flatMap((r) => versions.map((v) => [r, v])), true);
const rnds = Array.from({ length: 3000 }, range);
group('random ranges, canonical text and matching',
  rnds.flatMap((r) => Array.from({ length: 20 }, () => [r, pick(versions)])), true);
group('random junk: same accept/reject and matching',
  Array.from({ length: 20000 }, () => [junk(), pick(versions)]), false);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
