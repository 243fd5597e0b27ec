# The check recorder comes back whenever it stops and the server is not
# shutting down: after pg_terminate_backend (it records what is queued first
# and says in the log that it restarts), when another database is dropped
# WITH (FORCE), when its own database is dropped WITH (FORCE) and created
# again, and after a crash (SIGKILL, as the OOM killer does). After each, the
# worker records the checks again: they are queued when their transaction
# commits, not recorded by it. rollout.check_queue() reports it running and
# counts the restarts. A clean shutdown stops it without any of that.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('comeback');
$node->init;
$node->start;
# the recorder's database exists before the worker first starts
$node->safe_psql('postgres', q{CREATE DATABASE app});
$node->safe_psql('postgres', q{CREATE DATABASE other});
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'app'
rollout.check_flush_interval = 50ms
restart_after_crash = on
});
$node->restart;

# set_up: the extension and a project in the recorder's database
sub set_up
{
	$node->safe_psql('app', q{
		CREATE EXTENSION rollout;
		SELECT rollout.create_project('app', 'App');
		SELECT rollout.publish_version((rollout.create_version('app', '1.0.0') ->> 'id')::bigint);
	});
}
set_up();

# queue_field(NAME): one field of rollout.check_queue() in the recorder's database
sub queue_field
{
	my ($name) = @_;
	return $node->safe_psql('app', qq{SELECT rollout.check_queue() ->> '$name'});
}

# wait_for_worker(OLD_PID, SECONDS): the pid of a running worker other than
# OLD_PID (0: any), or '' if none turns up within SECONDS
sub wait_for_worker
{
	my ($old, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		my ($ret, $out) = $node->psql('app', q{
			SELECT q ->> 'worker_pid' FROM rollout.check_queue() q
			WHERE (q ->> 'running')::boolean AND (q ->> 'enabled')::boolean});
		return $out if $ret == 0 && $out =~ /^\d+$/ && $out != $old;
		usleep(100_000);
	}
	return '';
}

# recorded_by_worker(CLIENT_ID, WHAT): a check is queued at commit (the
# checking transaction does not see its client_state row) and the worker
# records it
sub recorded_by_worker
{
	my ($client, $what) = @_;
	my $before = queue_field('recorded');
	my $seen = $node->safe_psql('app', qq{
		BEGIN;
		SELECT rollout.check_update('{"project": "app", "client_id": "$client", "current_version": "0.9.0"}') IS NOT NULL;
		SELECT count(*) FROM rollout.client_state WHERE client_id = '$client';
		COMMIT;
	});
	is((split /\n/, $seen)[-1], '0', "$what: the checking transaction did not record the check");
	$node->safe_psql('app', q{SELECT rollout.flush_checks(10000)});
	is($node->safe_psql('app', qq{SELECT last_offered FROM rollout.client_state WHERE client_id = '$client'}),
		'1.0.0', "$what: the worker recorded it");
	cmp_ok(queue_field('recorded'), '>', $before, "$what: check_queue counts it as recorded");
}

my $pid = wait_for_worker(0, 30);
like($pid, qr/^\d+$/, 'the recorder runs');
is(queue_field('expected'), 'true', 'check_queue: the recorder is expected in its database');
is(queue_field('restarts'), '0', 'check_queue: no restart yet');
recorded_by_worker('first', 'at start');

# 1. pg_terminate_backend, with checks still queued: they are recorded before
#    it exits, and it restarts
$node->safe_psql('app', q{ALTER SYSTEM SET rollout.check_flush_interval = '60s'; SELECT pg_reload_conf()});
sleep(1);
$node->safe_psql('app', q{
	SELECT count(rollout.check_update(jsonb_build_object('project', 'app', 'client_id', 'queued-' || i,
		'current_version', '0.9.0')))
	FROM generate_series(1, 200) i});
cmp_ok(queue_field('depth'), '>', 0, 'checks are waiting in the queue');
my $offset = -s $node->logfile;
my $t0 = time();
$node->safe_psql('app', qq{SELECT pg_terminate_backend($pid)});
my $new = wait_for_worker($pid, 15);
my $took = time() - $t0;
like($new, qr/^\d+$/, sprintf('terminated: a new worker runs (after %.1f s)', $took));
cmp_ok($took, '<', 10, 'within a few seconds');
ok($node->log_contains(qr/rollout: the check recorder was terminated; it restarts in 1 s/, $offset),
	'the log says it restarts');
ok($node->log_contains(qr/rollout: the check recorder is back/, $offset), 'and that it is back');
is($node->safe_psql('app', q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'queued-%'}),
	'200', 'the checks queued when it was terminated were recorded');
is(queue_field('restarts'), '1', 'check_queue counts the restart');
is(queue_field('running'), 'true', 'check_queue: running');
$node->safe_psql('app', q{ALTER SYSTEM RESET rollout.check_flush_interval; SELECT pg_reload_conf()});
recorded_by_worker('after-terminate', 'terminated');
$pid = $new;

# 2. DROP DATABASE of another database WITH (FORCE), a session connected to it
my ($out, $err) = ('', '');
my $h = IPC::Run::start(['psql', '-X', '-d', $node->connstr('other'), '-c', 'SELECT pg_sleep(300)'],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'other' AND query LIKE '%pg_sleep%'}),
	'a session is connected to the other database');
$node->safe_psql('postgres', q{DROP DATABASE other WITH (FORCE)});
$h->finish;
$new = wait_for_worker(0, 15);
like($new, qr/^\d+$/, 'another database dropped WITH (FORCE): the recorder runs');
recorded_by_worker('after-drop-other', 'another database dropped');
$pid = $new;

# 3. its own database dropped WITH (FORCE), then created again
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{DROP DATABASE app WITH (FORCE)});
$node->wait_for_log(qr/rollout: the check recorder was terminated; it restarts in 1 s/, $offset);
$node->safe_psql('postgres', q{CREATE DATABASE app});
set_up();
$new = wait_for_worker($pid, 30);
like($new, qr/^\d+$/, 'its own database dropped WITH (FORCE) and created again: a new worker records it');
recorded_by_worker('after-drop-own', 'its database created again');
$pid = $new;

# 4. a crash: SIGKILL the worker; the postmaster restarts the cluster, and the worker with it
$offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
$new = wait_for_worker($pid, 60);
like($new, qr/^\d+$/, 'killed: after the crash restart a new worker runs');
is(queue_field('restarts'), '1', 'check_queue counts the crash restart');
recorded_by_worker('after-crash', 'after a crash');

# 5. a clean shutdown (fast, then smart) does not restart it
for my $mode ('fast', 'smart')
{
	$offset = -s $node->logfile;
	$node->stop($mode);
	ok(!$node->log_contains(qr/the check recorder was terminated|rollout check recorder.*exited with exit code/, $offset),
		"$mode shutdown: no restart of the recorder in the log");
	$node->start;
	like(wait_for_worker(0, 30), qr/^\d+$/, "after the $mode shutdown the recorder runs again");
}
is(queue_field('restarts'), '0', 'a new server starts counting afresh');

$node->stop;
done_testing();
