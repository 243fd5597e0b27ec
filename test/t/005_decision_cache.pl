# check_update caches each project's configuration per session; a change made
# by another session must reach it when (and only when) that change commits,
# and a session's own uncommitted or rolled-back changes must be seen as such.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cache');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.publish_version((rollout.create_version('default', 'v1.0.0') ->> 'id')::bigint);
});

# two long-lived sessions (PostgreSQL::Test::BackgroundPsql)
my %s = map { $_ => $node->background_psql('postgres') } ('a', 'b');
sub q_in
{
	my ($name, $sql) = @_;
	my $r = $s{$name}->query_safe($sql);
	$r =~ s/\s+$//;
	return $r;
}
my $offer = q{SELECT coalesce(rollout.check_update('{"current_version": "0.9.0", "client_id": "c1"}') ->> 'latest_version', '-');};

is(q_in('a', $offer), 'v1.0.0', 'session a caches the project');
$node->safe_psql('postgres', q{SELECT rollout.publish_version((rollout.create_version('default', 'v1.1.0') ->> 'id')::bigint)});
is(q_in('a', $offer), 'v1.1.0', "another session's committed publish reaches a");

q_in('b', q{BEGIN; SELECT rollout.publish_version((rollout.create_version('default', 'v1.2.0') ->> 'id')::bigint);});
is(q_in('a', $offer), 'v1.1.0', "an uncommitted publish of b is not seen by a");
q_in('b', 'COMMIT;');
is(q_in('a', $offer), 'v1.2.0', 'it is once b commits');

q_in('b', q{BEGIN; UPDATE rollout.versions SET status = 'paused' WHERE tag = 'v1.2.0'; ROLLBACK;});
is(q_in('a', $offer), 'v1.2.0', 'a rolled-back pause changes nothing');

q_in('a', q{BEGIN; SELECT rollout.publish_version((rollout.create_version('default', 'v1.3.0') ->> 'id')::bigint);});
is(q_in('a', $offer), 'v1.3.0', "a session sees its own uncommitted publish");
q_in('a', 'ROLLBACK;');
is(q_in('a', $offer), 'v1.2.0', 'and forgets it when it rolls back');

$node->safe_psql('postgres', q{UPDATE rollout.versions SET title = 'Renamed' WHERE tag = 'v1.2.0'});
is(q_in('a', q{SELECT rollout.check_update('{"current_version": "0.9.0", "client_id": "c1"}') ->> 'title';}),
	'Renamed', 'an edited title reaches a cached session');

$_->quit for values %s;
$node->stop;
done_testing();
