# Checks recorded by the background worker (rollout in shared_preload_libraries)
# end up exactly as checks recorded in the checking transaction: the same
# workload against two identical projects, one through the queue and one with
# rollout.async_checks = off, leaves the same client_state, rollups and raw
# events. Twice: with raw check events (the worker records with SQL,
# rollout.record_checks) and without (it updates known clients' rows in place,
# rollout_record.c). A fast shutdown records what is still queued.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('queue');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'postgres'
rollout.check_flush_interval = 50ms
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.create_project(slug, slug) FROM unnest(ARRAY['qa', 'qs', 'fa', 'fs']) slug;
	UPDATE rollout.projects SET record_check_events = true WHERE slug IN ('qa', 'qs');
	-- (no partial rollout: the buckets of two projects differ)
	SELECT rollout.publish_version((rollout.create_version(p, v) ->> 'id')::bigint)
	FROM unnest(ARRAY['qa', 'qs', 'fa', 'fs']) p, unnest(ARRAY['1.0.0', '1.1.0', '2.0.0']) v;
});
like($node->safe_psql('postgres', q{SELECT rollout.check_queue()}), qr/"enabled": true/, 'the worker records this database');

# 300 clients: a first check, a repeat, an upgrade, a move to another region,
# so batches hold several checks of one client and every rollup moves
my $workload = q{
	SELECT count(rollout.check_update(jsonb_build_object('project', 'SLUG', 'client_id', 'c' || i,
		'current_version', v, 'region', r, 'os', 'linux', 'arch', 'amd64')))
	FROM generate_series(1, 300) i,
	     (VALUES (1, '1.0.0', 'cn'), (2, '1.0.0', 'cn'), (3, '1.1.0', 'cn'), (4, '1.1.0', 'us')) AS s(step, v, r)
	WHERE (mod(i, 4) >= s.step - 1 OR s.step = 1) AND s.step BETWEEN FIRST AND LAST
};
# run_workload(ASYNC_SLUG, SYNC_SLUG, [FIRST, LAST], ...): the steps, each range in one statement
sub run_workload
{
	my ($async_slug, $sync_slug, @ranges) = @_;
	for my $r (@ranges)
	{
		(my $w = $workload) =~ s/FIRST/$r->[0]/;
		$w =~ s/LAST/$r->[1]/;
		(my $async = $w) =~ s/SLUG/$async_slug/;
		(my $sync = "SET rollout.async_checks = off; " . $w) =~ s/SLUG/$sync_slug/;
		$node->safe_psql('postgres', $async);
		$node->safe_psql('postgres', $sync);
		$node->safe_psql('postgres', q{SELECT rollout.flush_checks()});
	}
}
run_workload('qa', 'qs', [1, 4]);
my $recorded = $node->safe_psql('postgres', q{SELECT (rollout.check_queue() ->> 'recorded')::int});
cmp_ok($recorded, '>=', 750, "the async project's checks went through the queue ($recorded)");
is($node->safe_psql('postgres', q{SELECT (rollout.check_queue() ->> 'recorded_in_place')::int}), '0',
	'raw check events: none recorded in place');
# without raw events, in place: first each client's first check (new clients,
# left to the SQL), then the further steps in one batch (several checks of a
# client in a batch), then again one by one
run_workload('fa', 'fs', [1, 1], [2, 4], [2, 2], [3, 3], [4, 4]);
my $in_place = $node->safe_psql('postgres', q{SELECT (rollout.check_queue() ->> 'recorded_in_place')::int});
is($in_place, '900', "every check of a known client was recorded in place");
is($node->safe_psql('postgres', q{SELECT (rollout.check_queue() ->> 'skipped')::int}), '0', 'none skipped');

# the worker reports its writes to the statistics system, or autovacuum would
# never learn of them: 450 + 900 updates by the checking transactions (qs, fs)
# and as many by the worker (qa, fa)
ok($node->poll_query_until('postgres', q{
	SELECT n_tup_upd >= 2700 FROM pg_stat_user_tables WHERE relid = 'rollout.client_state'::regclass}),
	"the worker's updates of client_state are in pg_stat_user_tables");
# the rollups' counters are updated HOT (no index covers them)
ok($node->poll_query_until('postgres', q{
	SELECT bool_and(n_tup_hot_upd > 0) FROM pg_stat_user_tables
	WHERE relid IN ('rollout.rollup_daily'::regclass, 'rollout.rollup_clients'::regclass)}),
	'rollup counters are updated HOT');

# the same state per project, as text to compare
sub state_of
{
	my ($slug) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT 'clients', string_agg(format('%s %s %s %s %s', client_id, current_version, channel, region, last_offered), ',' ORDER BY client_id)
		FROM rollout.client_state WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug')
		UNION ALL
		SELECT 'rollup_clients', string_agg(format('%s %s %s %s', channel, version, region, n), ',' ORDER BY channel, version::text, region)
		FROM (SELECT channel, version, region, sum(clients) n FROM rollout.rollup_clients
			  WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug') GROUP BY 1, 2, 3) c
		UNION ALL
		SELECT 'rollup_funnel', string_agg(format('%s %s', version, n), ',' ORDER BY version)
		FROM (SELECT version, sum(offered) n FROM rollout.rollup_funnel
			  WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug') GROUP BY 1) f
		UNION ALL
		SELECT 'rollup_daily', string_agg(format('%s %s %s %s', action, version, e, c), ',' ORDER BY action, version)
		FROM (SELECT action, version, sum(events) e, sum(clients) c FROM rollout.rollup_daily
			  WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug') GROUP BY 1, 2) d
		UNION ALL
		SELECT 'rollup_active', string_agg(format('%s %s', day, n), ',' ORDER BY day)
		FROM (SELECT day, sum(clients) n FROM rollout.rollup_active
			  WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug') GROUP BY 1) a
		UNION ALL
		SELECT 'events', count(*)::text FROM rollout.update_events
		WHERE project_id = (SELECT id FROM rollout.projects WHERE slug = '$slug')});
}
for my $pair (['qa', 'qs'], ['fa', 'fs'])
{
	my ($x, $y) = @$pair;
	my %a = map { split /\|/, $_, 2 } split /\n/, state_of($x);
	my %s = map { split /\|/, $_, 2 } split /\n/, state_of($y);
	for my $k (qw(clients rollup_clients rollup_funnel rollup_daily rollup_active events))
	{
		next if $k eq 'events' && $x eq 'fa';
		ok(defined $a{$k} && $a{$k} ne '', "$x, $k: queued checks recorded something");
		is($a{$k}, $s{$k}, "$x, $k: the queue recorded what the transaction did");
	}
}

# a check is queued when its transaction commits: not when it, or the
# savepoint around the check, rolls back; a released savepoint's check counts
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-rolled-back", "current_version": "1.0.0"}');
	ROLLBACK;
	BEGIN;
	SAVEPOINT a;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-savepoint-undone", "current_version": "1.0.0"}');
	ROLLBACK TO a;
	SAVEPOINT b;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-savepoint-released", "current_version": "1.0.0"}');
	RELEASE b;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-committed", "current_version": "1.0.0"}');
	COMMIT;
	SELECT rollout.flush_checks();
});
is($node->safe_psql('postgres', q{
	SELECT string_agg(client_id, ',' ORDER BY client_id) FROM rollout.client_state WHERE client_id LIKE 'tx-%'}),
	'tx-committed,tx-savepoint-released', 'only checks of committed (sub)transactions are recorded');
# a prepared transaction records its checks itself: rolled back, nothing
$node->safe_psql('postgres', q{ALTER SYSTEM SET max_prepared_transactions = 2});
$node->restart;
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-prepared", "current_version": "1.0.0"}');
	PREPARE TRANSACTION 'p1';
	ROLLBACK PREPARED 'p1';
	BEGIN;
	SELECT rollout.check_update('{"project": "fa", "client_id": "tx-prepared-committed", "current_version": "1.0.0"}');
	PREPARE TRANSACTION 'p2';
	COMMIT PREPARED 'p2';
	SELECT rollout.flush_checks();
});
is($node->safe_psql('postgres', q{
	SELECT string_agg(client_id, ',' ORDER BY client_id) FROM rollout.client_state WHERE client_id LIKE 'tx-prepared%'}),
	'tx-prepared-committed', 'a prepared transaction records its checks with it');

# a fast shutdown records what is still queued
$node->safe_psql('postgres', q{ALTER SYSTEM SET rollout.check_flush_interval = '60s'; SELECT pg_reload_conf()});
sleep(1);
$node->safe_psql('postgres', q{
	SELECT count(rollout.check_update(jsonb_build_object('project', 'qa', 'client_id', 'late' || i, 'current_version', '1.0.0')))
	FROM generate_series(1, 500) i});
$node->stop('fast');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'late%'}),
	'500', 'checks queued at a fast shutdown were recorded before it finished');

# a queued check never undoes a later install result (the flush interval is 60s now,
# so both checks are still queued when the results arrive), recorded with SQL (qa)
# or in place (fa)
for my $p ('qa', 'fa')
{
	$node->safe_psql('postgres', qq{
		SELECT rollout.check_update('{"project": "$p", "client_id": "order-new", "current_version": "1.0.0"}');
		SELECT rollout.check_update('{"project": "$p", "client_id": "c1", "current_version": "1.0.0"}');
	});
	$node->safe_psql('postgres', qq{
		SELECT rollout.install_result('{"project": "$p", "client_id": "c1", "version": "2.0.0", "success": true}');
		SELECT rollout.install_result('{"project": "$p", "client_id": "order-new", "version": "1.1.0", "success": true}');
		SELECT rollout.flush_checks();
	});
	is($node->safe_psql('postgres', qq{
		SELECT string_agg(client_id || ' ' || current_version, ',' ORDER BY client_id) FROM rollout.client_state
		WHERE client_id IN ('c1', 'order-new') AND project_id = (SELECT id FROM rollout.projects WHERE slug = '$p')}),
		'c1 2.0.0,order-new 1.1.0', "$p: installs reported after a queued check win over it");
}
is($node->safe_psql('postgres', q{
	SET search_path = public, rollout;
	SELECT count(*) FROM (SELECT project_id, channel, current_version AS version, region, count(*) AS n
						  FROM rollout.client_state GROUP BY 1, 2, 3, 4) s
	FULL JOIN (SELECT project_id, channel, version, region, sum(clients) AS n FROM rollout.rollup_clients
			   GROUP BY 1, 2, 3, 4 HAVING sum(clients) <> 0) r USING (project_id, channel, version, region)
	WHERE s.n IS DISTINCT FROM r.n}), '0', 'rollup_clients agrees with client_state');

# the recorder keeps working when the extension is dropped and created again
$node->safe_psql('postgres', q{
	DROP EXTENSION rollout CASCADE;
	CREATE EXTENSION rollout;
	SELECT rollout.publish_version((rollout.create_version('default', '1.0.0') ->> 'id')::bigint);
});
$node->safe_psql('postgres', q{
	SELECT rollout.check_update('{"client_id": "after-recreate", "current_version": "0.9.0"}');
	SELECT rollout.flush_checks();
});
is($node->safe_psql('postgres', q{SELECT last_offered FROM rollout.client_state WHERE client_id = 'after-recreate'}),
	'1.0.0', 'a check after the extension was created again is recorded');

# a full queue: a transaction's checks that do not fit are recorded by the
# transaction itself when it commits, so none is lost, and still once each
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET rollout.check_queue_size = '64kB';
	ALTER SYSTEM SET rollout.check_flush_interval = '60s';
});
$node->restart;
$node->safe_psql('postgres', q{
	SELECT count(rollout.check_update(jsonb_build_object('client_id', 'full-' || i, 'current_version', '0.9.1',
		'region', 'cn')))
	FROM generate_series(1, 2000) i;
});
like($node->safe_psql('postgres', q{SELECT rollout.check_queue() ->> 'recorded_directly'}), qr/^[1-9]\d*$/,
	'checks the queue had no room for were recorded directly');
$node->safe_psql('postgres', q{SELECT rollout.flush_checks()});
is($node->safe_psql('postgres', q{
	SET search_path = public, rollout;
	SELECT count(*) || ' ' || (SELECT sum(events) FROM rollout.rollup_daily WHERE action = 'check' AND version = '0.9.1')
	FROM rollout.client_state WHERE client_id LIKE 'full-%'}),
	'2000 2000', 'each check of a transaction that overflowed the queue is recorded once');
# and when the transaction rolls back, none of them is
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT count(rollout.check_update(jsonb_build_object('client_id', 'undone-' || i, 'current_version', '0.9.0')))
	FROM generate_series(1, 2000) i;
	ROLLBACK;
	SELECT rollout.flush_checks();
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'undone-%'}),
	'0', 'an overflowing transaction that rolls back records nothing');

$node->stop;
done_testing();
