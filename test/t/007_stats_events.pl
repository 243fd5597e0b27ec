# Live statistics: {"type": "stats", "project_id": N} on NOTIFY rollout_events
# when checks, downloads and install results were recorded, so that the
# admin UI's pages refresh. Checks announce it from the background recorder,
# once per batch and project, never once per check (and the checking
# transaction itself notifies nothing); downloads and install results once
# per call; a simulated check announces nothing.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'postgres'
rollout.check_flush_interval = 500ms
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.create_project('second', 'Second');
	SELECT rollout.publish_version((rollout.create_version(p, '1.0.0') ->> 'id')::bigint) FROM unnest(ARRAY['default', 'second']) p;
});
like($node->safe_psql('postgres', q{SELECT rollout.check_queue()}), qr/"enabled": true/, 'the worker records this database');
my ($default_id, $second_id) = split /\|/,
  $node->safe_psql('postgres', q{SELECT string_agg(id::text, '|' ORDER BY id) FROM rollout.projects});

# Listen while SQL runs in another session; returns the stats payloads received.
sub stats_during
{
	my ($sql, $wait) = @_;
	my ($out, $err) = ('', '');
	my $listener = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'LISTEN rollout_events',
		  '-c', "SELECT pg_sleep($wait)", '-c', 'SELECT 1' ],
		'>', \$out, '2>', \$err);
	sleep 1;
	$node->safe_psql('postgres', $sql);
	$listener->finish;
	return grep { /"type" ?: ?"stats"/ }
	  ($out =~ /Asynchronous notification "rollout_events" with payload "(.*?)" received/g);
}

# 400 checks, one transaction each, in two projects: a handful of batches
my $checks = join "\n", map {
	my $p = $_ % 2 ? 'default' : 'second';
	qq{SELECT rollout.check_update('{"project": "$p", "current_version": "0.9.0", "client_id": "c$_"}');}
} 1 .. 400;
my @stats = stats_during($checks . "\nSELECT rollout.flush_checks();", 4);
my $for_default = grep { /"project_id" ?: ?$default_id\b/ } @stats;
my $for_second = grep { /"project_id" ?: ?$second_id\b/ } @stats;
ok($for_default >= 1 && $for_second >= 1, "recorded checks are announced for each project ($for_default, $for_second)");
cmp_ok(scalar(@stats), '<=', 20, 'once per batch and project, not once per check (' . scalar(@stats) . ' for 400 checks)');

# the checking transaction itself announces nothing: without the worker, no event
@stats = stats_during(q{SET rollout.async_checks = off;
	SELECT rollout.check_update('{"current_version": "0.9.0", "client_id": "direct"}');}, 3);
is(scalar(@stats), 0, 'a check recorded in its own transaction notifies nothing');

# downloads and install results: once per call
@stats = stats_during(q{
	SELECT rollout.download_started('{"version": "1.0.0", "client_id": "c1"}');
	SELECT rollout.install_result('{"version": "1.0.0", "client_id": "c1", "success": true}');
	SELECT rollout.install_result('{"project": "second", "version": "1.0.0", "client_id": "c2", "success": true}');}, 3);
is(scalar(@stats), 3, 'a download and two install results: three stats events');
is(scalar(grep { /"project_id" ?: ?$second_id\b/ } @stats), 1, 'each for its project');

# a simulated check records nothing, so announces nothing
@stats = stats_during(q{
	SELECT rollout.simulate_check(current_version => '0.9.0', client_id => 'sim-' || i) FROM generate_series(1, 50) i;
	SELECT pg_sleep(1.5);}, 4);
is(scalar(@stats), 0, 'simulations announce nothing');

$node->stop;
done_testing();
