# The check recorder's fast path (rollout_record.c: known clients' rows of
# client_state updated through the table and index AMs, not the executor)
# steps aside for rollout.record_checks whenever client_state has anything an
# UPDATE through the executor would honour and the fast path would not. For
# each of a CHECK constraint, a NOT NULL on os, a stored generated column,
# row-level security, a user trigger, an extra index and a foreign key on
# a written column: add it, record a
# round of checks of known clients through the background worker, show that
# none was recorded in place and that the SQL's effect happened (the CHECK
# rejected the checks, the generated column is computed, the trigger fired,
# the index finds the rows), then remove it and the fast path is back.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('fallback');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'postgres'
rollout.check_flush_interval = 50ms
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	SELECT rollout.create_project('fb', 'fb');
	SELECT rollout.publish_version((rollout.create_version('fb', v) ->> 'id')::bigint) FROM unnest(ARRAY['1.0.0', '1.1.0', '2.0.0']) v;
});
like($node->safe_psql('postgres', q{SELECT rollout.check_queue()}), qr/"enabled": true/, 'the worker records this database');

# The worker's counters: recorded in place, recorded, skipped.
sub counters
{
	return split /\|/, $node->safe_psql('postgres', q{
		SELECT q ->> 'recorded_in_place', q ->> 'recorded', q ->> 'skipped' FROM rollout.check_queue() q});
}

# One check of each of the 20 clients c1..c20 from REGION (os given unless
# NO_OS), recorded by the worker; returns how many were recorded in place,
# recorded and skipped.
sub round_of_checks
{
	my ($region, $no_os) = @_;
	my @before = counters();
	my $os = $no_os ? '' : q{, 'os', 'linux'};
	$node->safe_psql('postgres', qq{
		SELECT count(rollout.check_update(jsonb_build_object('project', 'fb', 'client_id', 'c' || i,
			'current_version', '1.0.0', 'region', '$region'$os, 'arch', 'amd64')))
		FROM generate_series(1, 20) i});
	$node->safe_psql('postgres', q{SELECT rollout.flush_checks()});
	my @after = counters();
	return map { $after[$_] - $before[$_] } 0 .. 2;
}

sub regions
{
	return $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT region, ',') FROM rollout.client_state WHERE client_id ~ '^c[0-9]+$'});
}

# new clients are the SQL's; known clients on a plain table are recorded in place
my @d = round_of_checks('cn');
is($d[0], 0, 'new clients: none recorded in place');
@d = round_of_checks('us');
is_deeply(\@d, [20, 20, 0], 'plain client_state: known clients recorded in place');

# CHECK: the SQL path rejects the checks (each one alone, then skipped)
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state ADD CONSTRAINT no_mars CHECK (region <> 'mars')});
@d = round_of_checks('mars');
is_deeply(\@d, [0, 0, 20], 'CHECK constraint: none recorded in place, each rejected by the CHECK and skipped');
is(regions(), 'us', 'CHECK constraint: no row violates it');
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state DROP CONSTRAINT no_mars});

# NOT NULL on os: a check without os is rejected as the SQL's UPDATE would be
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state ALTER COLUMN os SET NOT NULL});
@d = round_of_checks('eu', 1);
is_deeply(\@d, [0, 0, 20], 'NOT NULL on os: none recorded in place, each rejected and skipped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.client_state WHERE os IS NULL}), '0',
	'NOT NULL on os: no row violates it');
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state ALTER COLUMN os DROP NOT NULL});

# a stored generated column is computed from the new row
$node->safe_psql('postgres', q{
	ALTER TABLE rollout.client_state ADD COLUMN region_upper text GENERATED ALWAYS AS (upper(region)) STORED});
@d = round_of_checks('oc');
is_deeply(\@d, [0, 20, 0], 'generated column: none recorded in place');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT region || '=' || region_upper, ',') FROM rollout.client_state}), 'oc=OC',
	'generated column: computed for every recorded check');
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state DROP COLUMN region_upper});

# row-level security: record_checks is SECURITY DEFINER, so its owner's view
# of the policies is what counts; the superuser owner here bypasses them, and
# the SQL updates every row, as it would without them
$node->safe_psql('postgres', q{
	ALTER TABLE rollout.client_state ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
	CREATE POLICY only_c1 ON rollout.client_state USING (client_id = 'c1')});
@d = round_of_checks('ap');
is_deeply(\@d, [0, 20, 0], 'row-level security: none recorded in place, recorded by the SQL');
is(regions(), 'ap', 'row-level security: the SQL as the superuser owner updated every row');
$node->safe_psql('postgres', q{
	DROP POLICY only_c1 ON rollout.client_state;
	ALTER TABLE rollout.client_state DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY});

# a user trigger fires for every recorded check
$node->safe_psql('postgres', q{
	CREATE TABLE public.seen (client_id text, region text);
	CREATE FUNCTION public.note_seen() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.seen VALUES (NEW.client_id, NEW.region);
		RETURN NEW;
	END $$;
	CREATE TRIGGER note_seen AFTER UPDATE ON rollout.client_state FOR EACH ROW EXECUTE FUNCTION public.note_seen()});
@d = round_of_checks('sa');
is_deeply(\@d, [0, 20, 0], 'trigger: none recorded in place');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT client_id) FROM public.seen WHERE region = 'sa'}), '20',
	'trigger: fired for every recorded check');
$node->safe_psql('postgres', q{DROP TRIGGER note_seen ON rollout.client_state});

# an extra index has an entry for every updated row
$node->safe_psql('postgres', q{CREATE INDEX client_state_region ON rollout.client_state (region)});
@d = round_of_checks('af');
is_deeply(\@d, [0, 20, 0], 'extra index: none recorded in place');
my $no_scan = q{SET enable_seqscan = off; SET enable_bitmapscan = off;};
my $by_index = q{SELECT count(*) FROM rollout.client_state WHERE region = 'af'};
like($node->safe_psql('postgres', "$no_scan EXPLAIN (COSTS OFF) $by_index"), qr/client_state_region/, 'extra index: used');
is($node->safe_psql('postgres', "$no_scan $by_index"), '20', 'extra index: finds every updated row');
$node->safe_psql('postgres', q{DROP INDEX rollout.client_state_region});

# a foreign key on a column a check writes (the table's own, on project_id,
# is checked by nothing a check changes, so it keeps the fast path)
$node->safe_psql('postgres', q{
	ALTER TABLE rollout.client_state ADD CONSTRAINT known_channel
		FOREIGN KEY (project_id, channel) REFERENCES rollout.channels (project_id, name)});
@d = round_of_checks('us');
is_deeply(\@d, [0, 20, 0], 'foreign key on channel: none recorded in place');
$node->safe_psql('postgres', q{ALTER TABLE rollout.client_state DROP CONSTRAINT known_channel});

# all removed: the fast path is back
@d = round_of_checks('us');
is_deeply(\@d, [20, 20, 0], 'plain again: known clients recorded in place');
is(regions(), 'us', 'plain again: every row updated');

$node->stop;
done_testing();
