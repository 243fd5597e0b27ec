# check-update served from a hot standby (issue 16): a primary and a
# streaming standby, both with rollout preloaded, and rollout-http on the
# standby with ROLLOUT_PRIMARY_URL set. The standby's answers equal the
# primary's decision for the same clients and are signed answers that verify
# with the project's public key exactly as the primary's do (the check's
# record travels beside the signed body, never in it); every check made
# through the standby is recorded on the primary (client_state, the
# rollups); a release published on the primary is offered by the standby
# once replayed (the decision cache learns it from the replayed relcache
# invalidation), and the answers' metadata_version never goes backwards,
# ending at the primary's; the stats views are readable on the standby; with
# the primary stopped, checks are still answered (their records buffered)
# and reports get 503 with Retry-After; once the primary is back, the
# buffered records arrive.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HTTP::Tiny;
use Time::HiRes qw(time usleep);
use JSON::PP;

my $shim = $ENV{ROLLOUT_HTTP};
plan skip_all => 'ROLLOUT_HTTP (the rollout-http binary) is not set' unless $shim && -x $shim;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rollout'
rollout.database = 'app'
rollout.check_flush_interval = 50ms
});
$primary->start;
$primary->safe_psql('postgres', q{CREATE DATABASE app});
$primary->safe_psql('app', q{
	CREATE EXTENSION rollout;
	SELECT rollout.create_project('app', 'App');
	SELECT rollout.publish_version((rollout.create_version(project => 'app', version => '1.0.0',
		file_url => 'https://dl.example.com/app-1.0.0.tgz') ->> 'id')::bigint);
	SELECT rollout.publish_version((rollout.create_version(project => 'app', version => '1.1.0',
		file_url => 'https://dl.example.com/app-1.1.0.tgz', rollout_percentage => 50) ->> 'id')::bigint);
});

# replayed(): the standby has replayed all the primary wrote (PostgreSQL 15's
# Cluster.pm has no wait_for_replay_catchup yet)
sub replayed
{
	$primary->wait_for_catchup('standby', 'replay', $primary->lsn('insert'));
}

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
replayed();
is($standby->safe_psql('app', q{SELECT pg_is_in_recovery()}), 't', 'the standby is a hot standby');

# check_update on the standby itself: answered, nothing written, the record handed back
my $sql_answer = $standby->safe_psql('app', q{
	SELECT a -> 'record' ->> 'client_id', a ->> 'has_update' FROM rollout.check_update(
		'{"project": "app", "client_id": "sql-1", "current_version": "0.9.0"}') a});
is($sql_answer, 'sql-1|true', 'check_update on a standby answers and hands back the record');

# verified(BODY, SIGNATURE): the primary's rollout.verify_answer with the project's keys
sub verified
{
	my ($body, $sig) = @_;
	die "a body with the quoting tag" if $body =~ /\$body\$/;
	return $primary->safe_psql('app', qq{SELECT rollout.verify_answer(\$body\$$body\$body\$, '$sig', 'app')}) eq 't';
}

# check_update_signed on the standby: the record in its own column, the body without it, verifying
my ($sql_body, $sql_sig, $sql_rec) = split(/\t/, $standby->safe_psql('app', q{
	SELECT body, signature, record ->> 'client_id' FROM rollout.check_update_signed(
		'{"project": "app", "client_id": "sql-2", "current_version": "0.9.0"}')}, extra_params => ['-F', "\t"]));
is($sql_rec, 'sql-2', 'check_update_signed on a standby hands back the record in its column "record"');
unlike($sql_body, qr/"record"/, 'and not in the signed body');
ok(verified($sql_body, $sql_sig), "the standby's signed body verifies with the project's key on the primary");

# rollout-http on the standby, its reports and check records going to the primary
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $base = "http://127.0.0.1:$port";
my $tmp = PostgreSQL::Test::Utils::tempdir;
my ($out, $err) = ('', '');
my $server = IPC::Run::start(
	[ $shim ],
	'>' => \$out, '2>' => \$err,
	init => sub {
		$ENV{DATABASE_URL} = $standby->connstr('app');
		$ENV{ROLLOUT_PRIMARY_URL} = $primary->connstr('app');
		$ENV{ROLLOUT_LISTEN} = "127.0.0.1:$port";
		$ENV{ROLLOUT_I18N_DIR} = $ENV{ROLLOUT_I18N_DIR} // 'i18n';
		$ENV{ROLLOUT_UPLOAD_DIR} = "$tmp/uploads";
		$ENV{ROLLOUT_WEB_ROOT} = $tmp;
		$ENV{ROLLOUT_RATE_LIMIT} = '0';
		$ENV{ROLLOUT_DB_LANES} = '3';	# several backends, each with its decision cache
		$ENV{ROLLOUT_THREADS} = '4';
	});
END { $server->kill_kill if $server && $server->pumpable; }

my $http = HTTP::Tiny->new(timeout => 30);
my $deadline = time() + 30;
until ((my $r = $http->get("$base/healthz"))->{status} != 599 || time() > $deadline)
{
	usleep(100_000);
}

sub post
{
	my ($path, $body) = @_;
	return $http->post("$base$path", { content => $body, headers => { 'Content-Type' => 'application/json' } });
}

# data(RESPONSE): the decoded envelope's data
sub data
{
	my ($res) = @_;
	my $env = eval { JSON::PP::decode_json($res->{content}) };
	return $env ? $env->{data} : undef;
}

# signed_ok(RESPONSE): its body verifies under its X-Rollout-Signature, on the primary
sub signed_ok
{
	my ($res) = @_;
	my $sig = $res->{headers}{'x-rollout-signature'};
	return defined $sig && $sig =~ /^keyid=[0-9a-f]{16},sig=[A-Za-z0-9+\/=]+$/ && verified($res->{content}, $sig);
}

sub metric
{
	my ($name) = @_;
	my $m = $http->get("$base/metrics")->{content} // '';
	return $m =~ /^\Q$name\E (\S+)$/m ? $1 : undef;
}

# wait_for(SQL, EXPECTED, SECONDS): poll the primary until SQL returns EXPECTED
sub wait_for
{
	my ($sql, $expected, $seconds) = @_;
	my $until = time() + $seconds;
	my $got;
	while (time() < $until)
	{
		$got = $primary->safe_psql('app', $sql);
		return $got if $got eq $expected;
		usleep(100_000);
	}
	return $got;
}

# 1. the standby's answers equal the primary's decision, client by client
my @fields = qw(has_update latest_version download_url file_checksum is_forced is_rollback);
my $n = 40;
my ($same, $no_record, $signed) = (0, 0, 0);
my $canon = JSON::PP->new->canonical->allow_nonref;
my $first;
for my $i (0 .. $n - 1)
{
	my $req = qq({"project": "app", "client_id": "sb-$i", "current_version": "1.0.0", "region": "eu"});
	my $res = post('/api/v1/check-update', $req);
	my $got = data($res);
	my $want = JSON::PP::decode_json($primary->safe_psql('app', qq{SELECT rollout.simulate_decision('$req') - 'steps'}));
	$first //= $res;
	$no_record++ if $res->{status} == 200 && $got && $res->{content} !~ /"record"/;
	$signed++ if $res->{status} == 200 && signed_ok($res);
	my $equal = $got && 1;
	for my $f (@fields)
	{
		$equal &&= $canon->encode($got->{$f}) eq $canon->encode($want->{$f});
	}
	# the reason as the signed answer has it (its members, each the simulator's)
	$equal &&= ref $got->{reason} eq 'HASH' && keys %{ $got->{reason} } >= 5;
	$equal &&= $canon->encode($got->{reason}{$_}) eq $canon->encode($want->{reason}{$_}) for keys %{ $got->{reason} // {} };
	$same++ if $equal;
}
is($same, $n, "the standby's $n answers equal the primary's decisions (has_update, version, url, reason...)");
is($no_record, $n, 'no answer a client gets holds the record');
is($signed, $n, "every answer of the standby is signed and verifies with the project's key (rollout.verify_answer on the primary)");

# the same with openssl alone, and the public key the primary publishes
{
	my $dir = PostgreSQL::Test::Utils::tempdir;
	my ($b64) = $first->{headers}{'x-rollout-signature'} =~ /,sig=(\S+)$/;
	my %files = ('body.json' => $first->{content}, 'sig.b64' => $b64,
				 'key.pem' => $primary->safe_psql('app', q{SELECT rollout.public_key_pem('app')}) . "\n");
	while (my ($f, $bytes) = each %files)
	{
		open(my $fh, '>:raw', "$dir/$f") or die "cannot write $dir/$f: $!";
		print $fh $bytes;
		close $fh;
	}
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'openssl', 'base64', '-d', '-A', '-in', "$dir/sig.b64", '-out', "$dir/sig.bin" ], '>', \$o, '2>', \$e)
	  or die "openssl base64: $e";
	my $ok = IPC::Run::run([ 'openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', "$dir/key.pem", '-rawin',
		'-in', "$dir/body.json", '-sigfile', "$dir/sig.bin" ], '>', \$o, '2>', \$e);
	ok($ok && $o =~ /Signature Verified Successfully/, "openssl verifies the standby's answer with the primary's public key");
}
my $offered = $primary->safe_psql('app', q{
	SELECT count(*) FILTER (WHERE (rollout.simulate_decision(jsonb_build_object('project', 'app',
		'client_id', 'sb-' || i, 'current_version', '1.0.0')) ->> 'latest_version') = '1.1.0')
	FROM generate_series(0, 39) i});
ok($offered > 0 && $offered < $n, "the 50% rollout splits the clients ($offered of $n offered 1.1.0), so the buckets were compared");

# 2. every check made through the standby is recorded on the primary
is(wait_for(q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'sb-%'}, "$n", 30), "$n",
	'every check through the standby has its client_state row on the primary');
is($primary->safe_psql('app', q{
	SELECT coalesce(sum(events), 0) FROM rollout.rollup_daily r JOIN rollout.projects p ON p.id = r.project_id
	WHERE p.slug = 'app' AND r.action = 'check'}), "$n", 'the primary counts the checks in rollup_daily');
is($primary->safe_psql('app', q{
	SELECT coalesce(sum(offered), 0) FROM rollout.rollup_funnel f JOIN rollout.projects p ON p.id = f.project_id
	WHERE p.slug = 'app'}), $offered, 'the funnel counts the clients offered 1.1.0');
is($primary->safe_psql('app', q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'sb-%' AND region = 'eu'}),
	"$n", 'with what the clients sent (region)');
is(metric('rollout_standby_records_forwarded_total'), $n, '/metrics counts the forwarded records');

# a report goes to the primary
my $rep = post('/api/v1/install-result', q({"project": "app", "client_id": "sb-0", "version": "1.1.0", "success": true}));
is($rep->{status}, 200, 'install-result through the standby is answered');
is($primary->safe_psql('app', q{SELECT count(*) FROM rollout.update_events WHERE client_id = 'sb-0' AND action <> 'check'}),
	'1', 'and recorded on the primary');

# 3. releases published on the primary are offered by the standby once replayed, and
# metadata_version never goes backwards on the way: checks (spread over the shim's three
# lanes, each a backend with its own decision cache) right after each publish, while the
# standby replays it
my $stored_mv = q{SELECT s.metadata_version FROM rollout.project_signing s JOIN rollout.projects p ON p.id = s.project_id
	WHERE p.slug = 'app'};
my $mv_before = $primary->safe_psql('app', $stored_mv);
my @mv;
my $mv_signed = 0;
for my $minor (2 .. 5)
{
	$primary->safe_psql('app', qq{
		SELECT rollout.publish_version((rollout.create_version(project => 'app', version => '1.$minor.0',
			file_url => 'https://dl.example.com/app-1.$minor.0.tgz') ->> 'id')::bigint)});
	for my $i (0 .. 7)
	{
		my $res = post('/api/v1/check-update', qq({"project": "app", "client_id": "sb-$i", "current_version": "1.0.0"}));
		push @mv, data($res)->{metadata_version};
		$mv_signed++ if signed_ok($res);
	}
}
replayed();
my $last = post('/api/v1/check-update', q({"project": "app", "client_id": "sb-1", "current_version": "1.0.0"}));
push @mv, data($last)->{metadata_version};
$mv_signed++ if signed_ok($last);
is(data($last)->{latest_version}, '1.5.0', 'the standby offers the release published on the primary once replayed');
my $backwards = grep { $mv[$_] < $mv[ $_ - 1 ] } 1 .. $#mv;
is($backwards, 0, "metadata_version never goes backwards on the standby (@mv)");
is($mv[-1], $primary->safe_psql('app', $stored_mv), "and ends at the primary's");
ok($mv[-1] > $mv_before, "above where it started ($mv_before), publish by publish");
is($mv_signed, scalar @mv, 'every one of these answers verifies');
# their records too reach the primary (the same clients: client_state keeps $n rows)
my $forwarded = $n + @mv;
my $until = time() + 30;
usleep(100_000) while (metric('rollout_standby_records_forwarded_total') // 0) < $forwarded && time() < $until;
is(metric('rollout_standby_records_forwarded_total'), $forwarded, 'the checks made meanwhile are forwarded too');
is($primary->safe_psql('app', q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'sb-%'}), "$n",
	'to the same clients\' rows');
replayed();

# 4. the stats views are readable on the standby (as the reporting role)
my $stats = $standby->safe_psql('app', q{
	SET ROLE rollout_reader;
	SELECT (SELECT total_clients FROM rollout.stats_overview WHERE project = 'app'),
		   (SELECT count(*) > 0 FROM rollout.stats_version_distribution),
		   (SELECT count(*) > 0 FROM rollout.stats_region_distribution),
		   (SELECT count(*) > 0 FROM rollout.stats_daily),
		   (SELECT count(*) >= 0 FROM rollout.stats_version_funnel),
		   (SELECT count(*) >= 0 FROM rollout.stats_channel_status)});
is($stats, "$n|t|t|t|t|t", 'the stats views answer on the standby, with the forwarded checks');

# 5. the primary stops: checks are still answered, reports get 503
$primary->stop('fast');
my $answered = 0;
for my $i (0 .. 9)
{
	my $res = post('/api/v1/check-update', qq({"project": "app", "client_id": "away-$i", "current_version": "1.0.0"}));
	$answered++ if $res->{status} == 200 && data($res)->{latest_version} eq '1.5.0';
}
is($answered, 10, 'with the primary stopped, the standby answers checks');
$rep = post('/api/v1/download-started', q({"project": "app", "client_id": "sb-2", "version": "1.5.0"}));
is($rep->{status}, 503, 'a report gets 503 while the primary is away');
ok(defined $rep->{headers}{'retry-after'}, 'with Retry-After');
is(metric('rollout_standby_records_buffered'), 10, 'the checks\' records are buffered');

# 6. the primary comes back: the buffered records arrive
$primary->start;
is(wait_for(q{SELECT count(*) FROM rollout.client_state WHERE client_id LIKE 'away-%'}, '10', 60), '10',
	'once the primary is back, the buffered records are recorded');
is(metric('rollout_standby_records_dropped_total'), 0, 'none was dropped');
$rep = post('/api/v1/download-started', q({"project": "app", "client_id": "sb-2", "version": "1.5.0"}));
is($rep->{status}, 200, 'reports are answered again');

# on the primary, check_update_signed records the check itself: no record handed back
is($primary->safe_psql('app', q{
	SELECT record IS NULL FROM rollout.check_update_signed('{"project": "app", "client_id": "sql-3", "current_version": "0.9.0"}')}),
	't', 'on the primary, "record" is NULL (the check is recorded there)');

$server->signal('TERM');
$server->finish;
is($server->full_result(0), 0, 'rollout-http stopped cleanly');
done_testing();
