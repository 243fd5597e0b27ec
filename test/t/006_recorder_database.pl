# The check recorder waits for a missing rollout.database quietly: one error
# when it first cannot connect, one line saying it waits, not an error every
# five seconds; once the database is created (and the extension in it), it
# connects on its own and records that database's checks.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('later');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'later'
rollout.check_flush_interval = 50ms
});
$node->start;

# long enough for three restarts at the old five-second pace
sleep 16;
my $log = slurp_file($node->logfile);
my $errors = () = $log =~ /(FATAL|ERROR):/g;
cmp_ok($errors, '<=', 1, "a missing database is an error once, not every five seconds ($errors)");
my $waits = () = $log =~ /database "later" \(rollout\.database\) does not exist; the check recorder waits for it/g;
is($waits, 1, 'the recorder says once that it waits for the database');

# meanwhile checks elsewhere are recorded by their own transactions
$node->safe_psql('postgres', q{CREATE EXTENSION rollout});
like($node->safe_psql('postgres', q{SELECT rollout.check_queue()}), qr/"enabled": false/,
	'another database: checks are recorded by their transactions');

$node->safe_psql('postgres', q{CREATE DATABASE later});
$node->safe_psql('later', q{
	CREATE EXTENSION rollout;
	SELECT rollout.create_project('app', 'App');
	SELECT rollout.publish_version((rollout.create_version('app', '1.0.0') ->> 'id')::bigint);
});
my $enabled = '';
for (my $i = 0; $i < 300 && $enabled !~ /"enabled": true/; $i++)
{
	usleep(100_000);
	$enabled = $node->safe_psql('later', q{SELECT rollout.check_queue()});
}
like($enabled, qr/"enabled": true/, 'once the database exists the recorder connects to it on its own');
$node->safe_psql('later', q{
	SELECT rollout.check_update('{"project": "app", "client_id": "c1", "current_version": "1.0.0"}');
	SELECT rollout.flush_checks();
});
is($node->safe_psql('later', q{SELECT (rollout.check_queue() ->> 'recorded')::int}), '1', 'and records its checks');
is($node->safe_psql('later', q{SELECT count(*) FROM rollout.client_state WHERE client_id = 'c1'}), '1',
	'the client is known');
$node->stop;
done_testing();
