#!/usr/bin/env perl
# The repository stands alone: no tracked file refers to a path outside it
# (doc/design.md section 10).  Run by test/run.sh (make test) as two tests:
#
#   perl test/standalone.pl              check this repository
#   perl test/standalone.pl --self-test  plant references in a scratch tree:
#                                        the check must report exactly them
#
# Each prints one line in pg_regress's format ("test NAME ... ok" or
# "... FAILED"), then one line per finding (FILE:LINE: what and why), and
# exits non-zero when it failed.
#
# What "refers to a path outside the repository" means.  Every text file
# that git tracks (without git: every file but build products), line by
# line, with URLs (scheme://...) blanked first:
#
#  1. A relative path with a ".." segment ("../x", "a/../../b") is resolved
#     against the directory of the file it is written in, as a Markdown
#     link or a script started as "$(dirname "$0")/..." resolves; it must
#     stay inside the repository.  A path right after $(dirname "$0"),
#     $(dirname "${BASH_SOURCE[0]}") or ${BASH_SOURCE%/*} starts from the
#     file's directory; after $AG_TOP, $(srcdir) or $(top_srcdir) from the
#     repository's top.  After any other variable ("$tmp/../x") it starts
#     from a value known only when the script runs and is not judged.
#  2. An absolute path of two or more segments must be a system location:
#     its first segment one of @SYSTEM_ROOTS below ("/path/to" is the usual
#     placeholder).  Paths under /work, /home, /root and the like are
#     somebody's machine.  A home directory (a path starting with a tilde
#     or HOME) is outside too.  A path must start a word to count as
#     absolute (after a blank, a quote opening a string, "(", "=", ":",
#     "," ...), so "$dir"/sub/file and sub/file are not absolute.
#     .gitignore and .gitattributes are skipped: their patterns that start
#     with a slash are anchored at the repository's top.
#  3. A Markdown file name (a name ending in .md, with or without a
#     directory) must be a file of the repository, found from the file's
#     directory or from the top: a document that is not here is outside.
#  4. A Markdown link ([text](target), ![alt](target), [ref]: target) in a
#     .md file must lead to a file or directory of the repository (its
#     "#anchor" ignored); links with a scheme (https:, mailto:) and links
#     inside the page (#anchor) are left alone.
#
# Exceptions (@EXCEPTIONS below) name a file, a pattern and the reason.

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Find ();

my @SYSTEM_ROOTS = qw(usr etc tmp dev proc sys var bin sbin lib lib64 opt run path);
my %SYSTEM_ROOT = map { $_ => 1 } @SYSTEM_ROOTS;

# [file, regex of the reference, reason]
# (none today: keep it that way)
my @EXCEPTIONS = ();

# Files left out when there is no git to list the tracked ones: what a
# build or a test run leaves in the tree (.gitignore lists the same).
my $UNTRACKED = qr{^(?:\.git/|tmp_install/|tmp_check[^/]*/|results/|output_iso/|log/|bench_out/)
				  |\.(?:o|so|bc)$|^regression\.(?:diffs|out)$|^tmp_[^/]*\.log$}x;

# Path characters of a reference.
my $PCH = qr{[A-Za-z0-9_.+~\-/]};

# "a/b/../c" relative to the directory "dir" (both relative to the top):
# the normalized path, or undef when it climbs above the top.
sub resolve
{
	my ($dir, $path) = @_;
	my @out = grep { $_ ne '' && $_ ne '.' } split m{/}, $dir;
	for my $seg (split m{/}, $path)
	{
		next if $seg eq '' || $seg eq '.';
		if ($seg eq '..')
		{
			return undef unless @out;
			pop @out;
		}
		else
		{
			push @out, $seg;
		}
	}
	return join('/', @out);
}

# The findings of one file: list of [line number, reference, why].
sub check_file
{
	my ($top, $file, $known) = @_;
	my $dir = dirname($file);
	$dir = '' if $dir eq '.';
	my $is_md = $file =~ /\.md$/;
	my $is_ignore = $file =~ m{(?:^|/)\.git(?:ignore|attributes)$};
	my @found;

	open(my $fh, '<', "$top/$file") or return ([ 0, $file, "cannot be read: $!" ]);
	my $n = 0;
	while (my $line = <$fh>)
	{
		$n++;
		chomp $line;
		my %seen;
		my $report = sub {
			my ($ref, $why) = @_;
			return if $seen{$ref}++;
			for my $e (@EXCEPTIONS)
			{
				return if $e->[0] eq $file && $ref =~ $e->[1];
			}
			push @found, [ $n, $ref, $why ];
		};
		# URLs are not paths of this machine
		(my $text = $line) =~ s{\b[A-Za-z][A-Za-z0-9+.\-]*://\S*}{ }g;

		# 4. Markdown links
		if ($is_md)
		{
			my @targets;
			push @targets, $1 while $text =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
			push @targets, $1 if $text =~ /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/;
			for my $t (@targets)
			{
				next if $t =~ /^#/ || $t =~ /^[A-Za-z][A-Za-z0-9+.\-]*:/;
				(my $path = $t) =~ s/#.*//;
				my $r = resolve($dir, $path);
				if (!defined $r)
				{
					$report->($t, 'link leads outside the repository');
				}
				elsif (!$known->{$r} && $r ne '')
				{
					$report->($t, "link to $r, which is not a file of the repository");
				}
			}
		}

		# 1. relative paths with "..": after a known prefix ...
		while ($text =~ m{(\$\(dirname\s+"?\$(?:0|\{BASH_SOURCE\[0\]\})"?\)|\$\{BASH_SOURCE%/\*\}
							|\$\{?AG_TOP\}?|\$\((?:top_)?srcdir\))"?(/$PCH*)}gx)
		{
			my ($prefix, $path) = ($1, $2);
			next unless $path =~ m{(?:^|/)\.\.(?:/|$)};
			$report->($prefix . $path, 'relative path leaves the repository')
				unless defined resolve($prefix =~ /AG_TOP|srcdir/ ? '' : $dir, $path);
		}
		# ... and written alone (after a variable, a path is not judged)
		while ($text =~ m{(?<![A-Za-z0-9_.+~\-/\$\}\)])($PCH+)}g)
		{
			my ($path, $start) = ($1, $-[1]);
			next unless $path =~ m{(?:^|/)\.\.(?:/|$)} && $path =~ m{/} && $path !~ m{^[/~]};
			next if $start > 1 && substr($text, $start - 1, 1) eq '"'
				&& substr($text, $start - 2, 1) =~ /[\w\}\)]/;	# "$x"/../y
			$report->($path, 'relative path leaves the repository')
				unless defined resolve($dir, $path);
		}

		# 2. absolute paths and home directories
		if (!$is_ignore)
		{
			while ($text =~ m{(?<![A-Za-z0-9_.+~\-/\$\}\)\]\\\*])(~?/[A-Za-z_]$PCH*)}g)
			{
				my ($path, $start) = ($1, $-[1]);
				if ($path =~ m{^~/})
				{
					$report->($path, 'a home directory is outside the repository');
					next;
				}
				my @seg = grep { $_ ne '' } split m{/}, $path;
				next if @seg < 2;
				# a quote counts as a start only when it opens a string
				if ($start > 0 && substr($text, $start - 1, 1) =~ /["']/)
				{
					next if $start > 1 && substr($text, $start - 2, 1) =~ /[\w\}\)\]]/;
				}
				$report->($path, 'absolute path outside the repository')
					unless $SYSTEM_ROOT{ $seg[0] };
			}
			while ($text =~ m{(\$\{?HOME\}?/$PCH*)}g)
			{
				$report->($1, 'a home directory is outside the repository');
			}
		}

		# 3. Markdown file names
		while ($text =~ m{(?<![A-Za-z0-9_.+~\-/])((?:\.{0,2}/)?(?:[A-Za-z0-9_.+\-]+/)*[A-Za-z0-9_+\-]+\.md)(?![A-Za-z0-9_])}g)
		{
			my $name = $1;
			my $from_file = resolve($dir, $name);
			my $from_top = resolve('', $name);
			next if (defined $from_file && $known->{$from_file})
				|| (defined $from_top && $known->{$from_top});
			$report->($name, 'names a document that is not in the repository');
		}
	}
	close $fh;
	return @found;
}

# Tracked files (and the directories they are in) of the tree at $top.
sub list_files
{
	my ($top) = @_;
	my @files;
	if (-e "$top/.git")
	{
		@files = split /\0/, `git -C "$top" ls-files -z 2>/dev/null`;
		@files = () if $?;
	}
	if (!@files)
	{
		File::Find::find({ no_chdir => 1, wanted => sub {
			return unless -f $_;
			(my $rel = $File::Find::name) =~ s{^\Q$top\E/}{};
			push @files, $rel unless $rel =~ $UNTRACKED;
		} }, $top);
	}
	return sort @files;
}

# Check every file under $top; returns the findings as "file:line: ..." lines.
sub check_tree
{
	my ($top, @files) = @_;
	my %known;
	for my $f (@files)
	{
		$known{$f} = 1;
		my $d = $f;
		$known{$d} = 1 while ($d =~ s{/[^/]*$}{});
	}
	my @out;
	for my $f (@files)
	{
		next if -l "$top/$f" || !-f "$top/$f" || -B "$top/$f";
		push @out, map { "$f:$_->[0]: $_->[1]: $_->[2]" } check_file($top, $f, \%known);
	}
	return @out;
}

sub result
{
	my ($name, $ok, @lines) = @_;
	printf "test %-26s ... %s\n", $name, $ok ? 'ok' : 'FAILED';
	print "  $_\n" for @lines;
	exit($ok ? 0 : 1);
}

# The scratch tree of --self-test: files with references that must be
# found (lines marked BAD) and references that must not (the rest).  So
# that this file itself refers to nothing outside, the planted references
# are spelt with placeholders: @UP@ is "../", @S@ a slash starting an
# absolute or home path, @MD@ the extension "md", @DOC@ the name of a
# document that is not in the tree.
my %FIXTURE = (
	'README.md' => <<'EOF',
# fixture
See [design](doc/design.md), [limits](#limits), [up](doc/@UP@README.md) and [web](https://example.org/a/@UP@@UP@b/@DOC@).
The contract is [the brief](@UP@shared/@DOC@). # BAD
Tools live in /usr/bin/env and output goes to /dev/null; configure with /path/to/pg_config.
Read @S@work@S@shared@S@notes.txt first. # BAD
A [broken link](doc/nothing.@MD@) inside. # BAD
EOF
	'doc/design.md' => <<'EOF',
Back to [the README](@UP@README.md#top), and README.md, and design.@MD@.
Cited as @DOC@ section 3 before. # BAD
[ref]: @UP@@UP@outside.@MD@ # BAD
EOF
	'test/sub/script.sh' => <<'EOF',
source "$(dirname "$0")/@UP@lib.sh"
cd "$(dirname "$0")/@UP@@UP@" && ls test/sub/@UP@@UP@src
cat "$(dirname "$0")/@UP@@UP@@UP@shared/x" # BAD
cp "$tmp/@UP@x" "$dir"/out/file; cp a/b "$d"/c/d
cp ~@S@notes.txt . # BAD
ls "$AG_TOP/@UP@other" # BAD
cat $HOME@S@.pgpass # BAD
sed -n 's/^totals: *//p' x; echo "/$x/y"
EOF
	'src/x.c' => <<'EOF',
/* see doc/design.md section 3 and @UP@@UP@shared/@DOC@ */ /* BAD */
#include "@UP@include/y.h"
x = a / b; /* a copy in @S@home@S@alice@S@y */ /* BAD */
p = "/tmp/agent_guard.XXXXXX"; q = '/x.sql';
EOF
	'.gitignore' => "/tmp_install/\n/results/\n",
);

sub self_test
{
	my $top = tempdir('agent_guard_standalone.XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my %spell = ('@UP@' => '../', '@S@' => '/', '@MD@' => 'md', '@DOC@' => 'DESIGN' . '.md');
	my (@expected, @files);
	for my $f (sort keys %FIXTURE)
	{
		(my $text = $FIXTURE{$f}) =~ s/(\@(?:UP|S|MD|DOC)\@)/$spell{$1}/g;
		make_path(dirname("$top/$f"));
		open(my $fh, '>', "$top/$f") or die "$top/$f: $!";
		print $fh $text;
		close $fh;
		push @files, $f;
		my $n = 0;
		for (split /\n/, $text)
		{
			$n++;
			push @expected, "$f:$n" if /BAD/;
		}
	}
	my @found = check_tree($top, @files);
	my %got = map { /^([^:]+:\d+):/ ? ($1 => 1) : () } @found;
	my %want = map { $_ => 1 } @expected;
	my @missed = grep { !$got{$_} } @expected;
	my @extra = grep { !(/^([^:]+:\d+):/ && $want{$1}) } @found;
	result('standalone_selftest', !@missed && !@extra,
		   (map { "planted reference not found: $_" } @missed),
		   (map { "reported, but not planted: $_" } @extra));
}

if (@ARGV && $ARGV[0] eq '--self-test')
{
	self_test();
}
else
{
	my $top = File::Spec->rel2abs(dirname(__FILE__) . '/..');
	$top = Cwd::abs_path($top) if eval { require Cwd; 1 };
	my @files = list_files($top);
	my @found = check_tree($top, @files);
	result('standalone', @files && !@found, @found,
		   @files ? () : ("no files found under $top"));
}
