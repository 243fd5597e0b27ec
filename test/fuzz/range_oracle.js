// range_oracle.js: node-semver as the oracle of the ranges fuzz_range grew.
// Usage: node range_oracle.js path/to/semver_cli DIR...
// Every file of the DIRs is "RANGE<TAB>VERSION" (or a range); each range is
// checked with its own version and a fixed list of versions: the extension's
// parser (semver_cli, extension/semver_core.c) and node-semver must agree on
// accepting the range and on every match. Prints the counts and the first
// disagreements (acceptance, canonical text, match); ends with "N passed, N failed" and exits 1 on a disagreement.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const semver = require('semver');

const [cli, ...dirs] = process.argv.slice(2);
const versions = [];
for (const M of ['0', '1', '2', '10']) {
  for (const m of ['0', '1', '2']) {
    for (const p of ['0', '1', '3']) {
      for (const pre of ['', '-alpha', '-rc.1', '-0']) versions.push(`${M}.${m}.${p}${pre}`);
    }
  }
}

// The inputs the line protocol can carry (no newline, no NUL), decoded as
// UTF-8 as the database would take them; node-semver limits a range to 256
// characters (MAX_LENGTH), ours to more: longer ones are left out.
let skipped = 0;
const pairs = [];
for (const dir of dirs) {
  for (const f of fs.readdirSync(dir)) {
    const buf = fs.readFileSync(path.join(dir, f));
    const text = buf.toString('utf8');
    if (/[\n\r\0]/.test(text) || !Buffer.from(text, 'utf8').equals(buf)) { skipped++; continue; }
    const tab = text.indexOf('\t');
    const range = tab < 0 ? text : text.slice(0, tab);
    if (range.length > 256) { skipped++; continue; }
    const own = tab < 0 ? [] : [text.slice(tab + 1)];
    for (const v of own.concat(versions)) pairs.push([range, v]);
  }
}

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

// node-semver prints '' for '*' and joins sets with '||'
const normalize = (c) => c.split(' || ').map((s) => (s === '*' ? '' : s)).join('||');

function ours(list) {
  const input = list.map(([r, v]) => `${r}\t${v}`).join('\n') + '\n';
  const out = execFileSync(cli, { input, maxBuffer: 1 << 28 }).toString().split('\n');
  return list.map((_, i) => {
    const line = out[i];
    if (line.startsWith('range-error:')) return { error: 'range' };
    const [canonical, res] = line.split('\t');
    if (res.startsWith('version-error')) return { canonical, verror: true };
    return { canonical, match: res === 'true' };
  });
}

// A range with its V prefixes in lower case: the runs of v, V, '=' and blanks
// that start a comparator's version (after the start, a blank, '|' or an
// operator, before a number or an x-range), not a V inside a pre-release or
// build identifier ('1.0.0-VV1' keeps its 'VV1', which the comparison is
// case-sensitive about).
const lowerPrefixV = (r) => r.replace(/(^|[\s|<>=~^])([vV=\s]*[vV][vV=\s]*)(?=[\dxX*])/g,
  (m, before, prefix) => before + prefix.toLowerCase());

const mine = ours(pairs);
const bad = [];
let compared = 0;
const ranges = new Set();
const upperV = new Set();
const bigNumbers = new Set();
pairs.forEach(([r, v], i) => {
  const a = mine[i];
  let b = node(r, v);
  ranges.add(r);
  let ok;
  if (!a.error && b.error && /V/.test(r) && !node(lowerPrefixV(r), v).error) {
    // a documented difference: the extension takes an upper-case V prefix,
    // in ranges as in versions (SPEC §6), node-semver only a lower-case one:
    // the range is compared with its prefixes spelt in lower case
    upperV.add(r);
    b = node(lowerPrefixV(r), v);
  }
  if (!a.error && b.error && /\d{16,}/.test(r) && (r.match(/\d+/g) || []).some((n) => BigInt(n) >= BigInt(Number.MAX_SAFE_INTEGER))) {
    // a documented difference: numbers above 2^53 - 1, which node-semver refuses and the
    // extension takes (SPEC §6: no overflow limit; compat.js treats versions alike); 2^53 - 1
    // itself when the range's expansion adds one to it ('9007199254740991' is <9007199254740992.0.0-0)
    bigNumbers.add(r);
    return;
  }
  if (a.error || b.error) ok = !!a.error === !!b.error;
  else if (normalize(a.canonical) !== b.canonical) ok = false;
  else if (a.verror || b.verror) ok = true; // the version, not the range, is refused by one of us
  else { ok = a.match === b.match; compared++; }
  if (!ok) bad.push({ range: r, version: v, ours: a, node: b });
});
const seen = new Set();
const uniq = bad.filter((b) => !seen.has(b.range) && seen.add(b.range));
console.log(`${ranges.size} ranges from the fuzzer's corpus (${skipped} inputs left out), ${pairs.length} pairs, ` +
  `${compared} matches compared with node-semver ${require('semver/package.json').version}` +
  (upperV.size ? `; ${upperV.size} ranges with an upper-case V prefix, which node-semver refuses (SPEC §6)` : '') +
  (bigNumbers.size ? `; ${bigNumbers.size} ranges with numbers above 2^53 - 1, which node-semver refuses` : ''));
if (bad.length === 0) {
  console.log('ok - every range accepted or refused alike, with the same canonical text, every match agrees');
  console.log('1 passed, 0 failed');
} else {
  console.log(`not ok - ${bad.length} pairs (${uniq.length} ranges) differ from node-semver`);
  for (const b of uniq.slice(0, 20)) console.log('  ' + JSON.stringify(b));
  console.log('0 passed, 1 failed');
  process.exit(1);
}
