#!/usr/bin/perl
# gen-ok-messages.pl en.json zh-CN.json: the envelope's "ok" message of each
# catalog as C string macros (OK_MESSAGE_en, OK_MESSAGE_zh_CN), for the
# signed answers (rollout_sign.c), so that the catalogs stay the one source.
use strict;
use warnings;
use JSON::PP;

for my $path (@ARGV) {
	my ($lang) = $path =~ m{([^/]+)\.json$} or die "not a catalog: $path\n";
	open my $f, '<:raw', $path or die "$path: $!\n";
	local $/;
	my $m = JSON::PP->new->utf8->decode(<$f>)->{ok};
	die "$path has no \"ok\"\n" unless defined $m;
	utf8::encode($m);
	$m =~ s/(["\\])/\\$1/g;
	(my $name = $lang) =~ s/-/_/g;
	print "#define OK_MESSAGE_$name \"$m\"\n";
}
