# A fresh install of the current version (rollout--X.Y.Z.sql, built by the
# Makefile from extension/sql/*.sql) and an installation of 0.1.0 brought up
# to it through every upgrade script have the same catalog: the same
# pg_dump --schema-only (plain, and in --binary-upgrade form, which lists
# every member object of the extension with its definition, comment,
# privileges and initial privileges), and the same answers to catalog
# queries (functions with their bodies, settings and ACLs, tables with their
# columns in order, constraints, indexes, triggers, views, types, operators,
# operator classes, the extension's members, its pg_dump registrations).
# Then 0.2.0 with data in it updates to the current version and keeps
# behaving the same.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('install_upgrade');
$node->init;
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'rollout'});
like($current, qr/^\d+\.\d+\.\d+$/, "the current version is $current");

$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('upgraded', q{
	SET client_min_messages = warning;
	CREATE EXTENSION rollout VERSION '0.1.0';
	ALTER EXTENSION rollout UPDATE TO '0.2.0';
	ALTER EXTENSION rollout UPDATE;
});
$node->safe_psql('fresh', q{SET client_min_messages = warning; CREATE EXTENSION rollout;});
my $version = q{SELECT extversion FROM pg_extension WHERE extname = 'rollout'};
is($node->safe_psql('upgraded', $version), $current, '0.1.0 updated to the current version');
is($node->safe_psql('fresh', $version), $current, 'a fresh install is the current version');

# same_lines(NAME, A, B): A and B are equal; if not, say which lines differ
sub same_lines
{
	my ($name, $a, $b) = @_;
	return pass($name) if $a eq $b;
	my @a = split /\n/, $a;
	my @b = split /\n/, $b;
	my (%in_a, %in_b);
	$in_a{$_}++ for @a;
	$in_b{$_}++ for @b;
	my @only_a = grep { !$in_b{$_} } @a;
	my @only_b = grep { !$in_a{$_} } @b;
	fail($name);
	diag("upgraded only: $_") for (@only_a > 20 ? @only_a[ 0 .. 19 ] : @only_a);
	diag("fresh only:    $_") for (@only_b > 20 ? @only_b[ 0 .. 19 ] : @only_b);
	diag('the same lines in another order') if !@only_a && !@only_b;
	return;
}

# pg_dump's output with what must differ between two databases normalized:
# the random key of \restrict, and in --binary-upgrade form the OIDs, XIDs
# and LSNs it carries over
sub dump_of
{
	my ($db, @opts) = @_;
	my ($out, $err) = run_command([ 'pg_dump', '--schema-only', @opts, '-d', $node->connstr($db) ]);
	is($err, '', join(' ', 'pg_dump --schema-only', @opts, "of $db runs cleanly"));
	$out =~ s/^\\restrict \S+$/\\restrict KEY/mg;
	$out =~ s/^\\unrestrict \S+$/\\unrestrict KEY/mg;
	$out =~ s{^(.*binary_upgrade_.*)$}{my $l = $1; $l =~ s/[0-9]+\/[0-9A-F]+/LSN/g; $l =~ s/[0-9]+/N/g; $l}mge;
	$out =~ s/^SET relfrozenxid = '\d+', relminmxid = '\d+'$/SET relfrozenxid = 'N', relminmxid = 'N'/mg;
	$out =~ s/^WHERE oid = '\d+';$/WHERE oid = 'N';/mg;
	return $out;
}

same_lines('pg_dump --schema-only is the same', dump_of('upgraded'), dump_of('fresh'));
my $bu = dump_of('upgraded', '--binary-upgrade');
cmp_ok(scalar(() = $bu =~ /^ALTER EXTENSION rollout ADD /mg), '>', 200, 'the binary-upgrade dump lists the extension\'s members');
same_lines('pg_dump --schema-only --binary-upgrade (every member object) is the same', $bu,
	dump_of('fresh', '--binary-upgrade'));

# catalog queries: one line per object, in an order that does not depend on OIDs
my %catalog = (
	'functions' => q{
		SELECT p.oid::regprocedure || ' ' || concat_ws(' | ', p.prokind, l.lanname, p.prorettype::regtype, p.proretset,
			p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof, p.procost, p.prorows,
			p.pronargdefaults, pg_get_expr(p.proargdefaults, 0), p.proargnames::text, p.proargmodes::text,
			p.proconfig::text, p.proacl::text, p.probin, md5(p.prosrc), obj_description(p.oid, 'pg_proc'))
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE p.pronamespace = 'rollout'::regnamespace ORDER BY 1},
	'function bodies' => q{
		SELECT p.oid::regprocedure || E'\n' || p.prosrc FROM pg_proc p
		WHERE p.pronamespace = 'rollout'::regnamespace ORDER BY 1},
	'relations and columns in order' => q{
		SELECT c.relname || ' ' || concat_ws(' | ', c.relkind, c.relpersistence, c.reloptions::text, c.relacl::text,
			c.relispartition, pg_get_expr(c.relpartbound, c.oid), obj_description(c.oid, 'pg_class'),
			(SELECT string_agg(concat_ws(' ', a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
										 a.attidentity, a.attgenerated, a.attisdropped, a.attcollation::regcollation,
										 pg_get_expr(d.adbin, d.adrelid), a.attacl::text,
										 col_description(c.oid, a.attnum)), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			 WHERE a.attrelid = c.oid AND a.attnum > 0))
		FROM pg_class c WHERE c.relnamespace = 'rollout'::regnamespace ORDER BY 1},
	'constraints' => q{
		SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'rollout'::regnamespace ORDER BY 1},
	'indexes' => q{
		SELECT indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relnamespace = 'rollout'::regnamespace ORDER BY 1},
	'triggers' => q{
		SELECT tgrelid::regclass || ' ' || tgname || ' ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE c.relnamespace = 'rollout'::regnamespace AND NOT t.tgisinternal ORDER BY 1},
	'views' => q{
		SELECT c.relname || E'\n' || pg_get_viewdef(c.oid) FROM pg_class c
		WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind = 'v' ORDER BY 1},
	'types' => q{
		SELECT t.oid::regtype || ' ' || concat_ws(' | ', t.typtype, t.typlen, t.typalign, t.typstorage, t.typinput,
			t.typoutput, t.typreceive, t.typsend, t.typcategory, t.typispreferred, t.typacl::text,
			obj_description(t.oid, 'pg_type'))
		FROM pg_type t WHERE t.typnamespace = 'rollout'::regnamespace ORDER BY 1},
	'operators' => q{
		SELECT o.oid::regoperator || ' ' || concat_ws(' | ', o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator,
			o.oprrest, o.oprjoin, o.oprcanhash, o.oprcanmerge)
		FROM pg_operator o WHERE o.oprnamespace = 'rollout'::regnamespace ORDER BY 1},
	'operator classes' => q{
		SELECT am.amname || ' ' || c.opcname || ' ' || concat_ws(' | ', c.opcintype::regtype, c.opcdefault,
			(SELECT string_agg(ao.amopstrategy || ' ' || ao.amopopr::regoperator, ', ' ORDER BY ao.amopstrategy)
			 FROM pg_amop ao WHERE ao.amopfamily = c.opcfamily),
			(SELECT string_agg(ap.amprocnum || ' ' || ap.amproc::regprocedure, ', ' ORDER BY ap.amprocnum)
			 FROM pg_amproc ap WHERE ap.amprocfamily = c.opcfamily))
		FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
		WHERE c.opcnamespace = 'rollout'::regnamespace ORDER BY 1},
	'casts' => q{
		SELECT format('%s -> %s via %s (%s)', castsource::regtype, casttarget::regtype, castfunc::regprocedure, castcontext)
		FROM pg_cast WHERE castsource IN (SELECT oid FROM pg_type WHERE typnamespace = 'rollout'::regnamespace)
		   OR casttarget IN (SELECT oid FROM pg_type WHERE typnamespace = 'rollout'::regnamespace) ORDER BY 1},
	'members of the extension' => q{
		SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d
		JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
		WHERE e.extname = 'rollout' AND d.deptype = 'e' ORDER BY 1},
	'dependencies of the members' => q{
		SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> '
			|| pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) || ' ' || d.deptype::text
		FROM pg_depend d
		WHERE d.classid <> 'pg_extension'::regclass AND d.refclassid <> 'pg_extension'::regclass
		  AND (d.objid, d.classid) IN (SELECT objid, classid FROM pg_depend x
									   JOIN pg_extension e ON e.oid = x.refobjid AND e.extname = 'rollout'
									   WHERE x.deptype = 'e')
		ORDER BY 1},
	'pg_dump registrations in order' => q{
		SELECT n || ' ' || c::regclass || ' ' || quote_literal(w)
		FROM pg_extension e, unnest(e.extconfig, e.extcondition) WITH ORDINALITY AS x(c, w, n)
		WHERE e.extname = 'rollout' ORDER BY n},
	'initial privileges' => q{
		SELECT pg_describe_object(classoid, objoid, objsubid) || ' ' || privtype::text || ' ' || initprivs::text
		FROM pg_init_privs i
		WHERE (objoid, classoid) IN (SELECT objid, classid FROM pg_depend x
									 JOIN pg_extension e ON e.oid = x.refobjid AND e.extname = 'rollout'
									 WHERE x.deptype = 'e')
		ORDER BY 1},
	'the extension and its schema' => q{
		SELECT concat_ws(' | ', e.extname, e.extversion, e.extrelocatable, n.nspname, n.nspacl::text,
			pg_get_userbyid(n.nspowner), obj_description(n.oid, 'pg_namespace'))
		FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'rollout'},
	'seeded rows and sequences' => q{
		SELECT 'project ' || concat_ws(' | ', id, slug, name, default_channel, seeded, updated_at) FROM rollout.projects
		UNION ALL
		SELECT 'channel ' || concat_ws(' | ', id, project_id, name, display_name, description, rank, rollout_percentage, updated_at)
		FROM rollout.channels
		UNION ALL
		SELECT 'audit ' || count(*) FROM rollout.audit_log
		UNION ALL
		SELECT 'sequence ' || concat_ws(' | ', sequencename, last_value) FROM pg_sequences WHERE schemaname = 'rollout'
		ORDER BY 1},
);
for my $what (sort keys %catalog)
{
	my $up = $node->safe_psql('upgraded', $catalog{$what});
	isnt($up, '', "$what: found some");
	same_lines("$what: the same", $up, $node->safe_psql('fresh', $catalog{$what}));
}

# 0.2.0 with data in it updates to the current version, keeps its rows and
# behaves the same
$node->safe_psql('postgres', 'CREATE DATABASE withdata');
$node->safe_psql('withdata', q{
	SET client_min_messages = warning;
	CREATE EXTENSION rollout VERSION '0.2.0';
	SET search_path = public, rollout;
	SELECT create_project('panel', 'RunPanel');
	SELECT publish_version(create_version('panel', 'v1.0.0'));
	SELECT publish_version(create_version('panel', 'v1.1.0', file_url => 'pkg/panel-1.1.0.tgz'));
	SELECT add_artifact(2, 'linux', 'amd64', 'pkg/panel-linux.tgz');
	SELECT set_mirror('panel', 'cn', 'https://cn.example.com');
	SELECT create_rule('panel', 'slow cn', priority => 5, target_region => 'cn', target_version_range => '<1.1.0',
	       rollout_config => '{"percentage": 50}');
	SELECT set_channel('default', 'stable', rollout_percentage => 40);
	SELECT create_admin('alice', 'correct horse', 'admin');
	SELECT check_update(jsonb_build_object('project', 'panel', 'current_version', '1.0.0', 'client_id', 'c' || i,
	       'region', CASE WHEN i % 2 = 0 THEN 'cn' ELSE 'us' END, 'os', 'linux', 'arch', 'amd64'))
	FROM generate_series(1, 100) i;
	SELECT install_result(jsonb_build_object('project', 'panel', 'version', '1.1.0', 'client_id', 'c' || i,
	       'success', i % 10 <> 0)) FROM generate_series(1, 30) i;
	SELECT maintain();
});
is($node->safe_psql('withdata', $version), '0.2.0', 'a database at 0.2.0 with data');
my $token = $node->safe_psql('withdata', q{SELECT rollout.login('alice', 'correct horse') ->> 'token'});
my $rows = q{
	SELECT string_agg(c.oid::regclass || ' ' || (xpath('/row/n/text()',
		query_to_xml(format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY t::text)), '''') AS n FROM %s t', c.oid::regclass),
					 false, true, '')))[1]::text, E'\n' ORDER BY c.relname)
	FROM pg_class c WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind = 'r'};
my $behaviour = qq{
	SELECT rollout.check_update('{"project": "panel", "current_version": "1.0.0", "client_id": "c2",
		"region": "cn", "os": "linux", "arch": "amd64"}') - 'publish_time';
	SELECT rollout.check_update('{"project": "panel", "current_version": "1.0.0", "client_id": "c3",
		"region": "us", "os": "linux", "arch": "amd64"}') - 'publish_time';
	SELECT rollout.stats_funnel('panel');
	SELECT rollout.stats_distribution('panel');
	SELECT rollout.list_rules('panel');
	SELECT rollout.authenticate('$token') - 'expires_at';
};
my $before = $node->safe_psql('withdata', $behaviour);
my $rows_before = $node->safe_psql('withdata', $rows);
like($rows_before, qr/^rollout\.client_state 100:/m, 'the data is there: 100 clients');
like($before, qr/"has_update": true/, 'and a client is offered an update');
$node->safe_psql('withdata', 'ALTER EXTENSION rollout UPDATE');
is($node->safe_psql('withdata', $version), $current, "0.2.0 with data updated to $current");
# the tables that were there keep their rows; those the update adds start
# empty, but for the signing keys it makes for each project
my %existed = map { /^(\S+) / ? ($1 => 1) : () } split /\n/, $rows_before;
my @rows_after = split /\n/, $node->safe_psql('withdata', $rows);
is(join("\n", grep { /^(\S+) / && $existed{$1} } @rows_after), $rows_before, 'every table keeps its rows');
is(join(' ', grep { /^(\S+) / && !$existed{$1} && !/ 0:$/ && !/^rollout\.(signing_keys|signing_secrets|project_signing|rollup_active) / } @rows_after), '',
	'the tables the update adds are empty, but for the signing keys and the active clients');
# today's active clients, counted anew by the update from the clients' last checks: the 100 that checked today
is($node->safe_psql('withdata', q{SELECT active_clients_today FROM rollout.stats_overview WHERE project = 'panel'}), '100',
	"the update counts today's active clients from the clients' last checks");
is($node->safe_psql('withdata', q{
	SELECT count(*) FILTER (WHERE k.status = 'active') || ' ' || count(DISTINCT k.project_id) || ' ' || min(s.metadata_version)
	FROM rollout.signing_keys k JOIN rollout.project_signing s USING (project_id)}),
	'2 2 1', 'each project that was there has its own active signing key after the update');
is($node->safe_psql('withdata', $behaviour), $before, 'the same decisions, statistics, rules and token after the update');

$node->stop;
done_testing();
