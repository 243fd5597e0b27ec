// i18n.test.js: the message catalogs i18n/en.json and i18n/zh-CN.json agree
// with each other and with the UI's sources. Usage: node i18n.test.js
// Fails when a key is in one catalog and not the other, when a value is empty
// or not a string, when the two translations of a key use different
// {placeholders}, or when a key the UI uses (a literal 'ui.x.y' / 'error.x' /
// 'status.x' in web/src, e.g. t('ui.nav.dashboard'), $t("..."), keypath="...",
// or a key kept in data such as a menu table) is in neither catalog. A key
// built at run time (`ui.status.${s}`) needs at least one key under its prefix.
// Prints "ok N - name" / "not ok N - name" and ends with "N passed, N failed".
'use strict';
const fs = require('fs');
const path = require('path');

const top = path.join(__dirname, '..', '..');
let n = 0;
let passed = 0;
let failed = 0;
function check(name, ok, info) {
  n++;
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!ok && info !== undefined) console.log('  # ' + JSON.stringify(info).slice(0, 2000));
}

function load(file) {
  try {
    return JSON.parse(fs.readFileSync(path.join(top, 'i18n', file), 'utf8'));
  } catch (e) {
    return e;
  }
}

// every file under dir whose name ends with one of exts
function walk(dir, exts, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(p, exts, out);
    else if (exts.some((x) => ent.name.endsWith(x))) out.push(p);
  }
  return out;
}

const placeholders = (s) => [...String(s).matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]).sort().join(',');

function main() {
  const en = load('en.json');
  const zh = load('zh-CN.json');
  const objOk = (c) => c && !(c instanceof Error) && typeof c === 'object' && !Array.isArray(c);
  check('i18n/en.json is a JSON object', objOk(en), en instanceof Error ? en.message : typeof en);
  check('i18n/zh-CN.json is a JSON object', objOk(zh), zh instanceof Error ? zh.message : typeof zh);
  if (!objOk(en) || !objOk(zh)) return;

  const onlyEn = Object.keys(en).filter((k) => !(k in zh));
  const onlyZh = Object.keys(zh).filter((k) => !(k in en));
  check('every key of en.json is in zh-CN.json', onlyEn.length === 0, onlyEn);
  check('every key of zh-CN.json is in en.json', onlyZh.length === 0, onlyZh);
  for (const [name, cat] of [['en.json', en], ['zh-CN.json', zh]]) {
    const bad = Object.keys(cat).filter((k) => typeof cat[k] !== 'string' || cat[k].trim() === '');
    check(`no empty (or non-string) value in ${name}`, bad.length === 0, bad);
  }
  const mismatched = Object.keys(en).filter((k) => k in zh && placeholders(en[k]) !== placeholders(zh[k]));
  check('both translations of a key use the same {placeholders}', mismatched.length === 0,
    mismatched.map((k) => [k, en[k], zh[k]]));
  // a Chinese catalog that is a copy of the English one is no translation
  const uiKeys = Object.keys(en).filter((k) => k.startsWith('ui.'));
  const sameAsEn = uiKeys.filter((k) => k in zh && zh[k] === en[k] && /[a-z]{3,}/i.test(en[k]) && /\s/.test(en[k]));
  check('zh-CN.json translates the UI\'s phrases (no English sentence copied)', sameAsEn.length === 0, sameAsEn);

  const src = path.join(top, 'web', 'src');
  const files = walk(src, ['.vue', '.ts', '.js', '.tsx']);
  if (!fs.existsSync(path.join(top, 'web', 'package.json'))) {
    // the UI is not written yet: only the catalogs can be checked
    console.log('# web/package.json does not exist yet: keys used by the UI not checked');
  } else {
    check('web/src has source files', files.length > 0, src);
    check('the catalogs have UI keys (ui.*)', uiKeys.length > 0, uiKeys.length);
    const used = new Map();	// key -> first file using it
    const prefixes = new Map();
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      const rel = path.relative(top, f);
      for (const m of text.matchAll(/['"`]((?:ui|error|status)\.[A-Za-z0-9_.-]*[A-Za-z0-9_])['"`]/g)) {
        if (!used.has(m[1])) used.set(m[1], rel);
      }
      for (const m of text.matchAll(/`((?:ui|error|status)\.[A-Za-z0-9_.-]*)\$\{/g)) {
        if (!prefixes.has(m[1])) prefixes.set(m[1], rel);
      }
    }
    check('web/src uses ui.* keys', [...used.keys()].some((k) => k.startsWith('ui.')), used.size);
    const missingEn = [...used].filter(([k]) => !(k in en)).map(([k, f]) => `${k} (${f})`);
    const missingZh = [...used].filter(([k]) => !(k in zh)).map(([k, f]) => `${k} (${f})`);
    check(`every key used in web/src is in en.json (${used.size} keys)`, missingEn.length === 0, missingEn);
    check(`every key used in web/src is in zh-CN.json (${used.size} keys)`, missingZh.length === 0, missingZh);
    const noPrefix = [...prefixes].filter(([p]) => !Object.keys(en).some((k) => k.startsWith(p)))
      .map(([p, f]) => `${p}\${...} (${f})`);
    check(`every key built at run time has keys under its prefix (${prefixes.size} prefixes)`, noPrefix.length === 0, noPrefix);
    const unused = uiKeys.filter((k) => !used.has(k) && ![...prefixes.keys()].some((p) => k.startsWith(p)));
    if (unused.length) console.log(`# ${unused.length} ui.* keys not found literally in web/src (fine if built at run time): ${unused.slice(0, 20).join(', ')}`);
  }
}

main();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
