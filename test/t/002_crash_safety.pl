# Install results are durable: a result acknowledged to the client survives an
# immediate shutdown (a crash), even where the session relaxed durability.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# make a lost commit likely if the function did not force a flush
$node->append_conf('postgresql.conf', "wal_writer_delay = 10000ms\nsynchronous_commit = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.publish_version((rollout.create_version('default', '1.0.0') ->> 'id')::bigint);
});

for my $round (1 .. 3)
{
	my $ret = $node->safe_psql('postgres', qq{
		SELECT rollout.install_result('{"version": "1.0.0", "client_id": "crash-$round", "success": false,
		       "error_message": "round $round"}') ->> 'recorded'});
	is($ret, 'true', "round $round: result acknowledged");
	$node->stop('immediate');
	$node->start;
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM rollout.update_events WHERE client_id = 'crash-$round' AND action = 'failed'}),
		'1', "round $round: the event survived the crash");
	is($node->safe_psql('postgres', qq{
		SELECT result FROM rollout.client_results WHERE client_id = 'crash-$round'}),
		'failed', "round $round: the per-client result survived");
}
is($node->safe_psql('postgres', q{SELECT sum(failed) FROM rollout.rollup_funnel}), '3', 'the rollup counted all three');

$node->stop;
done_testing();
