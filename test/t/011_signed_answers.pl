# Signed answers verify with the openssl command line alone: the body that
# rollout.check_update_signed makes (the HTTP server writes it unchanged),
# the key from rollout.public_key_pem and the signature from its
# "keyid=...,sig=..." value, through `openssl base64 -d` and
# `openssl pkeyutl -verify -rawin`.  A changed byte does not verify; after a
# rotation the old answer verifies with the old (trusted) key and the new one
# with the new key only; keys survive pg_dump and a restore, which signs with
# the same key.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use FindBin;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('signed');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION rollout;
	-- a release titled in both languages by its manager (data, not the server's own text)
	SELECT rollout.create_version('default', 'v1.1.0', title => 'Faster', title_i18n => '{"zh-CN": "更快"}',
		file_url => 'https://downloads.example.com/app-1.1.0.tgz', file_size => 1048576,
		file_checksum => 'sha256:' || repeat('ab', 32));
	SELECT rollout.publish_version(id) FROM rollout.versions WHERE tag = 'v1.1.0';
});
my $dir = PostgreSQL::Test::Utils::tempdir;

sub write_file
{
	my ($path, $bytes) = @_;
	open(my $fh, '>:raw', $path) or die "cannot write $path: $!";
	print $fh $bytes;
	close $fh;
}

# openssl's exit status and output
sub openssl
{
	my @args = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'openssl', @args ], '>', \$out, '2>', \$err);
	return ($ok, $out . $err);
}

# a signed answer of db for a request, in files: body, sig.bin (decoded by openssl)
sub answer
{
	my ($db, $name, $request, $lang) = @_;
	my $l = defined $lang ? "'$lang'" : 'NULL';
	# one call: the signature value has no blank, the body follows the first one
	my ($sig, $body) = split(/ /,
		$node->safe_psql($db, "SELECT signature || ' ' || body FROM rollout.check_update_signed('$request', $l)"), 2);
	my ($keyid, $b64) = $sig =~ /^keyid=([0-9a-f]{16}),sig=([A-Za-z0-9+\/=]+)$/
	  or die "bad signature value: $sig";
	write_file("$dir/$name.json", $body);
	write_file("$dir/$name.sig64", $b64);
	my ($ok, $out) = openssl('base64', '-d', '-A', '-in', "$dir/$name.sig64", '-out', "$dir/$name.sig");
	die "openssl base64: $out" unless $ok;
	return ($body, $keyid);
}

sub verify
{
	my ($pem, $name) = @_;
	my ($ok, $out) = openssl('pkeyutl', '-verify', '-pubin', '-inkey', $pem, '-rawin',
		'-in', "$dir/$name.json", '-sigfile', "$dir/$name.sig");
	return $ok && $out =~ /Signature Verified Successfully/;
}

my $req = '{"current_version": "1.0.0", "client_id": "host-1", "os": "linux", "arch": "amd64"}';
write_file("$dir/key1.pem", $node->safe_psql('postgres', q{SELECT rollout.public_key_pem('default')}) . "\n");
my ($body, $keyid1) = answer('postgres', 'a1', $req);
like($body, qr/^\{"code":200,"message":"ok","data":\{.*"has_update": true.*\}\}$/, 'the body is the whole envelope');
like($body, qr/"metadata_version": \d+/, 'with its metadata version');
ok(verify("$dir/key1.pem", 'a1'), 'openssl pkeyutl -verify -rawin accepts the server\'s signature');
is($node->safe_psql('postgres', q{SELECT keyid FROM rollout.signing_keys WHERE status = 'active'}), $keyid1,
	'keyid names the active key');

# rollout-http calls check_update_wire: check_update_signed's answer as one
# value (signature, line feed, record: none on a primary, line feed, body).
# In one backend the second answer of the same data comes from the signature
# cache: the same bytes as the first, made afresh; the same data in another
# language is another body (its own message), not the cached one.
my $wire = $node->safe_psql('postgres', qq{
	CREATE TEMP TABLE w (n int, v text);
	BEGIN;
	INSERT INTO w SELECT 1, rollout.check_update_wire('$req', 'en');
	INSERT INTO w SELECT 2, rollout.check_update_wire('$req', 'en');
	INSERT INTO w SELECT 3, signature || E'\\n' || coalesce(record::text, '') || E'\\n' || body
		FROM rollout.check_update_signed('$req', 'en');
	INSERT INTO w SELECT 4, rollout.check_update_wire('$req', 'zh-CN');
	COMMIT;
	SELECT format('%s %s %s %s %s', a.v = b.v, a.v = c.v, a.v <> d.v,
		split_part(a.v, '"data":', 2) = split_part(d.v, '"data":', 2), split_part(a.v, E'\\n', 2) = '')
	FROM w a, w b, w c, w d WHERE a.n = 1 AND b.n = 2 AND c.n = 3 AND d.n = 4});
is($wire, 't t t t t',
	'check_update_wire is check_update_signed in one value; a cached answer is the same bytes; another language another body');
my ($ok, $fp) = openssl('pkey', '-pubin', '-in', "$dir/key1.pem", '-outform', 'DER');
ok($ok, 'the PEM is a public key openssl reads');

# the same in Chinese: the UTF-8 bytes are what is signed
my ($zh) = answer('postgres', 'zh', '{"current_version": "1.0.0", "client_id": "host-1", "locale": "zh-CN"}', 'zh-CN');
my $zh_ok = do {
	open my $f, '<:raw', "$FindBin::Bin/../i18n/zh-CN.json" or die $!;
	local $/;
	my $m = JSON::PP->new->utf8->decode(<$f>)->{ok};
	utf8::encode($m);
	$m;
};
like($zh, qr/"message":"\Q$zh_ok\E"/, 'the message in the request\'s language (the catalog\'s)');
ok(verify("$dir/key1.pem", 'zh'), 'a Chinese answer verifies too');

# one byte changed
my $tampered = $body;
$tampered =~ s/"file_size": 1048576/"file_size": 1048577/ or die 'nothing to tamper with';
write_file("$dir/t.json", $tampered);
IPC::Run::run([ 'cp', "$dir/a1.sig", "$dir/t.sig" ]) or die;
ok(!verify("$dir/key1.pem", 't'), 'a body with one byte changed does not verify');

# rotation: the new key signs; the old answer still verifies with the old key
$node->safe_psql('postgres', q{SELECT rollout.rotate_signing_key('default')});
write_file("$dir/key2.pem", $node->safe_psql('postgres', q{SELECT rollout.public_key_pem('default')}) . "\n");
my ($body2, $keyid2) = answer('postgres', 'a2', $req);
isnt($keyid2, $keyid1, 'after a rotation another key signs');
ok(verify("$dir/key2.pem", 'a2'), 'the new answer verifies with the new key');
ok(!verify("$dir/key1.pem", 'a2'), 'and not with the old one');
ok(verify("$dir/key1.pem", 'a1'), 'the old answer still verifies with the old key');
my $listed = $node->safe_psql('postgres',
	q{SELECT string_agg(k ->> 'status', ',') FROM jsonb_array_elements(rollout.public_keys('default') -> 'keys') k});
is($listed, 'active,trusted', 'both keys listed, the old one as trusted');

# pg_dump and a restore keep the keys: the restored database signs with the same key
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', "$dir/dump.sql" ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', "$dir/dump.sql" ],
	'restore');
is($node->safe_psql('restored', q{SELECT string_agg(keyid || ':' || status, ',' ORDER BY id) FROM rollout.signing_keys}),
	$node->safe_psql('postgres', q{SELECT string_agg(keyid || ':' || status, ',' ORDER BY id) FROM rollout.signing_keys}),
	'the same keys after a restore');
answer('restored', 'r', $req);
ok(verify("$dir/key2.pem", 'r'), 'the restored database signs with the same key');
is($node->safe_psql('restored', q{SELECT metadata_version FROM rollout.project_signing}),
	$node->safe_psql('postgres', q{SELECT metadata_version FROM rollout.project_signing}),
	'and the same metadata version');

$node->stop;
done_testing();
