// panels.test.js: every query of docs/grafana/rollout.json runs, as Grafana
// would send it, against a database with data, as the read-only reporting
// role, and returns rows. Usage: node panels.test.js DATABASE LOGIN_ROLE
// (PGHOST/PGPORT from the environment). Ends with "N passed, N failed".
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const [db, role] = process.argv.slice(2);
const top = path.join(__dirname, '..', '..');
const dashboard = JSON.parse(fs.readFileSync(path.join(top, 'docs', 'grafana', 'rollout.json'), 'utf8'));
const datasourceYaml = fs.readFileSync(path.join(top, 'docs', 'grafana', 'provisioning', 'datasources', 'rollout.yaml'), 'utf8');
const dashboardsYaml = fs.readFileSync(path.join(top, 'docs', 'grafana', 'provisioning', 'dashboards', 'rollout.yaml'), 'utf8');
let passed = 0;
let failed = 0;

function check(name, ok, info) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}`);
  if (!ok && info !== undefined) console.log(String(typeof info === 'string' ? info : JSON.stringify(info)).replace(/^/gm, '#   ').slice(0, 2000));
}

// Run SQL as the login role, inside SET ROLE rollout_reader (exactly the
// reporting role's privileges); the rows, one per line, or the error.
function asReader(sql) {
  const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', role, '-d', db,
    '-c', 'SET ROLE rollout_reader', '-c', sql], { encoding: 'utf8' });
  return { ok: r.status === 0, rows: r.stdout.split('\n').filter((l) => l !== ''), error: r.stderr.trim() };
}

// Grafana's way: template variables first (a single-valued variable is put
// in as is; multi-valued ones as a quoted list), then the SQL data source's
// macros, with the dashboard's time range as RFC 3339 UTC timestamps.
function interpolate(sql, vars, from, to) {
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const value = (name) => {
    if (!(name in vars)) throw new Error(`unknown variable $${name}`);
    const v = vars[name];
    return Array.isArray(v) ? v.map((x) => `'${x.replace(/'/g, "''")}'`).join(',') : v;
  };
  let out = sql.replace(/\$\{(\w+)(?::raw)?\}|\[\[(\w+)\]\]|\$(?!__)(\w+)/g, (m, a, b, c) => value(a || b || c));
  const seconds = { s: 1, m: 60, h: 3600, d: 86400 };
  const interval = (s) => {
    const m = /^'?(\d+)([smhd])'?$/.exec(s.trim());
    if (!m) throw new Error(`interval ${s}`);
    return Number(m[1]) * seconds[m[2]];
  };
  const macros = {
    timeFilter: ([col]) => `${col} BETWEEN '${iso(from)}' AND '${iso(to)}'`,
    timeFrom: () => `'${iso(from)}'`,
    timeTo: () => `'${iso(to)}'`,
    time: ([col]) => `${col} AS "time"`,
    timeEpoch: ([col]) => `extract(epoch from ${col}) AS "time"`,
    unixEpochFilter: ([col]) => `${col} >= ${Math.floor(from / 1000)} AND ${col} <= ${Math.floor(to / 1000)}`,
    timeGroup: ([col, iv]) => `floor(extract(epoch from ${col})/${interval(iv)})*${interval(iv)}`,
    timeGroupAlias: ([col, iv]) => `floor(extract(epoch from ${col})/${interval(iv)})*${interval(iv)} AS "time"`,
  };
  out = out.replace(/\$__(\w+)\(([^()]*(?:\([^()]*\)[^()]*)*)\)/g, (m, name, args) => {
    if (!macros[name]) throw new Error(`unknown macro $__${name}`);
    return macros[name](args.split(',').map((a) => a.trim()));
  });
  if (/\$__\w+/.test(out)) throw new Error(`macro left: ${out.match(/\$__\w+/)[0]}`);
  return out;
}

// "now-30d" and "now" as Grafana reads them
function timeOf(expr, now) {
  if (expr === 'now') return now;
  const m = /^now-(\d+)([mhdw])$/.exec(expr);
  if (!m) throw new Error(`time ${expr}`);
  const unit = { m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2]];
  return new Date(now - Number(m[1]) * unit);
}

// the dashboard itself
const all = [];
(function walk(list) {
  for (const p of list) {
    if (p.type === 'row') walk(p.panels || []);
    else all.push(p);
  }
})(dashboard.panels);
const panels = all.filter((p) => p.type !== 'text');
check('the dashboard is a schemaVersion 39 model with a uid', dashboard.schemaVersion === 39 && dashboard.uid === 'rollout', dashboard.schemaVersion);
check('it has panels for adoption, regions, funnel, trend, channel status and failure rate', ['stats_version_distribution',
  'stats_region_distribution', 'stats_version_funnel', 'stats_daily', 'stats_channel_status', 'stats_release_health']
  .every((v) => panels.some((p) => p.targets.some((t) => t.rawSql.includes(`rollout.${v}`)))));
const dsVar = dashboard.templating.list.find((v) => v.type === 'datasource');
check('panels use the data source variable, whose default is the provisioned uid', dsVar && dsVar.current.value === 'rollout-pg'
  && /^\s*uid: rollout-pg\b/m.test(datasourceYaml)
  && panels.every((p) => [p.datasource, ...p.targets.map((t) => t.datasource)].every((d) => d.uid === '${datasource}'
    && d.type === 'grafana-postgresql-datasource')), dsVar);
check('the provisioned data source is PostgreSQL, read-only, not editable', /type: grafana-postgresql-datasource/.test(datasourceYaml)
  && /editable: false/.test(datasourceYaml) && /rollout_reader/.test(datasourceYaml));
check('the dashboard provider loads files', /type: file/.test(dashboardsYaml) && /path: /.test(dashboardsYaml));
check('every panel has SQL (raw, code mode)', panels.length >= 8 && panels.every((p) => p.targets.length > 0
  && p.targets.every((t) => t.rawQuery && typeof t.rawSql === 'string' && t.rawSql.trim() !== '')),
  panels.filter((p) => !p.targets.length).map((p) => p.title));
check('panel ids are unique', new Set(dashboard.panels.concat(all).map((p) => p.id)).size === new Set(dashboard.panels.concat(all)).size);

// the reporting role is what it says: the views, nothing else
const denied = ['SELECT count(*) FROM rollout.client_state', 'SELECT count(*) FROM rollout.versions',
  "SELECT rollout.update_project('default', failure_threshold => 50)"]
  .filter((q) => /permission denied/.test(asReader(q).error));
check('rollout_reader cannot read the tables or change anything', denied.length === 3, denied);

// the template variables' own queries, then every target for every project
const now = new Date();
const from = timeOf(dashboard.time.from, now);
const to = timeOf(dashboard.time.to, now);
const projectVar = dashboard.templating.list.find((v) => v.name === 'project');
const projects = asReader(interpolate(projectVar.query, {}, from, to));
check('the project variable\'s query lists the projects', projects.ok && projects.rows.includes('default')
  && projects.rows.includes('desktop'), projects);
for (const project of ['default', 'desktop']) {
  for (const p of panels) {
    for (const t of p.targets) {
      let sql;
      try {
        sql = interpolate(t.rawSql, { project, datasource: 'rollout-pg' }, from, to);
      } catch (e) {
        check(`${project}: "${p.title}" ${t.refId}: expands`, false, e.message);
        continue;
      }
      const r = asReader(sql);
      check(`${project}: "${p.title}" ${t.refId} returns rows as rollout_reader`, r.ok && r.rows.length > 0,
        r.ok ? `no rows from:\n${sql}` : `${r.error}\n${sql}`);
      if (r.ok && t.format === 'time_series') {
        // Grafana needs a time column first, in order
        const times = r.rows.map((row) => Date.parse(row.split('|')[0]));
        check(`${project}: "${p.title}" ${t.refId}: a time column first, ascending, within the range`,
          times.every((x, i) => !Number.isNaN(x) && (i === 0 || times[i - 1] <= x) && x >= from - 86400e3 && x <= to),
          r.rows.slice(0, 5));
      }
    }
  }
}
// what the failure-rate panel is for: the paused release stands above the threshold
const health = asReader(interpolate(panels.find((p) => /auto-pause threshold/.test(p.title)).targets[0].rawSql,
  { project: 'default' }, from, to));
check('the failure-rate panel shows 1.2.0 above the threshold (it was paused automatically)',
  health.rows.includes('v1.2.0|25.00|20.00'), health.rows);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
