# Every change is announced on NOTIFY rollout_events: publishes and automatic
# pauses reach a listening session with a JSON payload.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.update_project('default', failure_min_samples => 2, failure_threshold => 10);
	SELECT rollout.create_version('default', '1.0.0');
});

# a listener that waits, then lets psql print what arrived
my ($out, $err) = ('', '');
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'LISTEN rollout_events',
	  '-c', 'SELECT pg_sleep(4)', '-c', 'SELECT 1' ],
	'>', \$out, '2>', \$err);
sleep 1;
$node->safe_psql('postgres', q{SELECT rollout.publish_version(1)});
$node->safe_psql('postgres', q{SELECT rollout.install_result('{"version": "1.0.0", "client_id": "a", "success": false}')});
$node->safe_psql('postgres', q{SELECT rollout.install_result('{"version": "1.0.0", "client_id": "b", "success": false}')});
$listener->finish;

my @payloads = $out =~ /Asynchronous notification "rollout_events" with payload "(.*?)" received/g;
ok(scalar(grep { /"type" : "versions.update"/ && /"status" : "published"/ } @payloads), 'publish announced')
  or diag($out . $err);
ok(scalar(grep { /"type" : "version.auto_paused"/ && /"failed" : 2/ } @payloads), 'automatic pause announced')
  or diag($out . $err);
ok(scalar(grep { /"actor" : "system:auto-pause"/ && /"status" : "paused"/ } @payloads),
	'the pause itself is announced with its actor')
  or diag($out . $err);

$node->stop;
done_testing();
