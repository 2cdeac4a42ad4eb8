# The extended protocol: a statement with $n sent as Parse/Bind/Execute
# (psql 15 has no \bind; pgbench -M extended and -M prepared send exactly
# that, the values of :n as the parameters).  An approval is bound to the
# values of the parameters: the same text with another value is parked
# again, as a new request, and the approved value runs once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('permit_protocol');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE TABLE t (a int PRIMARY KEY);
	INSERT INTO t SELECT generate_series(1, 100);
	ANALYZE t;
	ALTER TABLE t OWNER TO bot;
	SELECT agent_guard.tag_role('bot', 'park', max_rows => 10);
});

my $script = $node->basedir . '/delete.sql';
open(my $fh, '>', $script) or die "could not write $script: $!";
print $fh "DELETE FROM t WHERE a > :n;\n";
close($fh);

# one run of the script as the agent, the value of :n sent as $1
sub run_as_agent
{
	my ($mode, $n) = @_;
	my ($stdout, $stderr) = run_command([
			'pgbench', '-n', '-t', '1', '-M', $mode, '-f', $script,
			'-D', "n=$n", '-U', 'bot', '-h', $node->host, '-p', $node->port,
			'postgres' ]);
	return $stderr;
}

foreach my $mode ('extended', 'prepared')
{
	$node->safe_psql('postgres', q{
		DELETE FROM agent_guard.events;
		DELETE FROM agent_guard.requests;
		INSERT INTO t SELECT generate_series(1, 100) ON CONFLICT DO NOTHING;
	});
	my $stderr = run_as_agent($mode, 80);
	like($stderr, qr/agent_guard: DELETE on public\.t above the row limit parked for approval as request (\d+)/,
		"$mode: about 20 rows with \$1 = 80 is parked");
	my ($first) = $stderr =~ /as request (\d+)/;
	is($node->safe_psql('postgres', "SELECT query || ' / ' || params FROM agent_guard.requests WHERE id = $first"),
		q{DELETE FROM t WHERE a > $1 / $1 = '80'},
		"$mode: the request shows the text and the value of \$1");
	$node->safe_psql('postgres', "SELECT agent_guard.approve($first)");

	$stderr = run_as_agent($mode, 0);
	like($stderr, qr/parked for approval as request (\d+)/,
		"$mode: the same text with \$1 = 0 is parked again");
	my ($second) = $stderr =~ /as request (\d+)/;
	isnt($second, $first, "$mode: as a new request");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '100',
		"$mode: nothing was deleted");

	$stderr = run_as_agent($mode, 80);
	like($stderr, qr/runs with the approval of request $first/,
		"$mode: the approved value runs on the approval");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '80',
		"$mode: and deletes the 20 rows the human saw");
	is($node->safe_psql('postgres',
			"SELECT string_agg(status || ' ' || params, ', ' ORDER BY id) FROM agent_guard.requests"),
		q{used $1 = '80', pending $1 = '0'},
		"$mode: the approval is used, the other value waits");
}

$node->stop;
done_testing();
