# pg_dump / pg_restore keeps every configuration row and all data of rollout,
# and the restored database decides, authenticates and counts exactly as the
# original did.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION rollout;
	SET search_path = public, rollout;
	SELECT create_project('panel', 'RunPanel');
	SELECT publish_version((create_version('panel', 'v1.0.0') ->> 'id')::bigint);
	SELECT publish_version((create_version('panel', 'v1.1.0', title => 'Eleven', title_i18n => '{"zh-CN": "\\u5341\\u4e00"}',
	       file_url => 'pkg/panel-1.1.0.tgz', file_size => 11, file_checksum => 'sha256:' || repeat('b', 64)) ->> 'id')::bigint);
	SELECT add_artifact(2, 'linux', 'amd64', 'pkg/panel-linux.tgz', 7, 'sha256:' || repeat('c', 64));
	SELECT set_mirror('panel', 'cn', 'https://cn.example.com');
	SELECT create_rule('panel', 'slow cn', priority => 5, target_region => 'cn', target_version_range => '<1.1.0',
	       rollout_config => '{"percentage": 50}');
	-- the seeded default project is changed too: the change must survive
	SELECT set_channel('default', 'stable', rollout_percentage => 40);
	SELECT publish_version((create_version('default', '2.0.0') ->> 'id')::bigint);
	SELECT create_admin('alice', 'correct horse', 'admin');
	SELECT check_update(jsonb_build_object('project', 'panel', 'current_version', '1.0.0', 'client_id', 'c' || i,
	       'region', CASE WHEN i % 2 = 0 THEN 'cn' ELSE 'us' END, 'os', 'linux', 'arch', 'amd64'))
	FROM generate_series(1, 200) i;
	SELECT install_result(jsonb_build_object('project', 'panel', 'version', '1.1.0', 'client_id', 'c' || i,
	       'success', i % 10 <> 0)) FROM generate_series(1, 50) i;
	SELECT maintain();
	SELECT install_result('{"project": "panel", "version": "1.1.0", "client_id": "late", "success": true}');
});
my $token = $node->safe_psql('src', q{SELECT rollout.login('alice', 'correct horse') ->> 'token'});

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump runs');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'pg_restore runs without errors');

# every table of the extension, and the event partitions, hold the same rows
my $tables = $node->safe_psql('src', q{
	SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind = 'r'});
for my $t (split / /, $tables)
{
	my $q = "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM $t t";
	is($node->safe_psql('dst', $q), $node->safe_psql('src', $q), "$t restored identically");
}
cmp_ok($node->safe_psql('dst', 'SELECT count(*) FROM rollout.update_events'), '>', 50, 'events restored');
is($node->safe_psql('dst', q{SELECT rollout_percentage FROM rollout.channels c JOIN rollout.projects p ON p.id = c.project_id
	WHERE p.slug = 'default' AND c.name = 'stable'}), '40.00', 'a change to the seeded default project survives');

# the restored database behaves the same
my $check = q{SELECT rollout.check_update('{"project": "panel", "current_version": "1.0.0", "client_id": "c2",
	"region": "cn", "os": "linux", "arch": "amd64", "locale": "zh-CN"}') - 'publish_time'};
is($node->safe_psql('dst', $check), $node->safe_psql('src', $check), 'same decision after restore');
is($node->safe_psql('dst', "SELECT rollout.authenticate('$token') ->> 'username'"), 'alice', 'tokens survive');
is($node->safe_psql('dst', q{SELECT rollout.login('alice', 'correct horse') ->> 'username'}), 'alice', 'passwords survive');
my $stats = q{SELECT total_clients || '/' || success_rate_7d FROM rollout.stats_overview WHERE project = 'panel'};
is($node->safe_psql('dst', $stats), $node->safe_psql('src', $stats), 'statistics survive');
# new writes keep working (sequences restored)
is($node->safe_psql('dst', q{SELECT (rollout.create_version('panel', '1.2.0') ->> 'id')::bigint > (SELECT max(id) FROM rollout.versions WHERE tag <> '1.2.0')}),
	't', 'ids continue after the restored ones');

$node->stop;
done_testing();
