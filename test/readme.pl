#!/usr/bin/perl
# readme.pl: run the ```sql blocks of a Markdown file in one psql session and
# check "--> expected" annotations. Prints "N passed, N failed".
use strict;
use warnings FATAL => 'all';

my $file = shift @ARGV;
open my $fh, '<', $file or die "$file: $!";
my (@stmts, $in, $cur);
while (my $line = <$fh>) {
	if ($line =~ /^```sql/) { $in = 1; $cur = ''; next; }
	if ($line =~ /^```/) { $in = 0; next; }
	next unless $in;
	my $expect;
	if ($line =~ s/\s*-->\s?(.*)$//) { $expect = $1; }
	$cur .= $line;
	if ($line =~ /;\s*(--.*)?$/) {
		push @stmts, { sql => $cur, expect => $expect };
		$cur = '';
	}
}
my $db = 'rollout_readme';
$ENV{PGOPTIONS} = '-c client_min_messages=warning';
system('psql', '-qd', 'postgres', '-c', "DROP DATABASE IF EXISTS $db", '-c', "CREATE DATABASE $db") == 0
	or do { print "0 passed, 1 failed\n"; exit 1 };

my $script = "/tmp/rollout_readme.$$.sql";
open my $out, '>', $script or die $!;
for my $i (0 .. $#stmts) {
	print $out "\\echo \@\@$i\n$stmts[$i]{sql}\n";
}
close $out;
my $output = `psql -d $db -v ON_ERROR_STOP=1 -AtF ' | ' -f $script 2>&1`;
my $rc = $? >> 8;
unlink $script;

my %got;
my $n = -1;
for my $line (split /\n/, $output) {
	if ($line =~ /^\@\@(\d+)$/) { $n = $1; $got{$n} = []; next; }
	push @{ $got{$n} }, $line if $n >= 0;
}
my ($pass, $fail) = (0, 0);
for my $i (0 .. $#stmts) {
	my $s = $stmts[$i];
	if (!exists $got{$i}) {
		$fail++;
		print "not ok - not reached (an earlier statement failed): $s->{sql}";
		next;
	}
	my $text = join("\\n", @{ $got{$i} });
	if ($text =~ /^psql:.*ERROR:/m) {
		$fail++;
		print "not ok - README statement failed:\n$s->{sql}  $text\n";
	} elsif (defined $s->{expect} && $text ne $s->{expect}) {
		$fail++;
		print "not ok - README says \"$s->{expect}\" but psql printed \"$text\" for:\n$s->{sql}";
	} else {
		$pass++;
	}
}
system('psql', '-qd', 'postgres', '-c', "DROP DATABASE IF EXISTS $db");
print "ok - README SQL: $pass statements ran as documented\n" if $fail == 0;
print "$pass passed, $fail failed\n";
exit($fail ? 1 : 0);
