# The extended protocol: a statement with $n sent as Parse/Bind/Execute
# (psql 15 has no \bind; pgbench -M extended and -M prepared send exactly
# that, the values of :n as the parameters).  An approval is bound to the
# values of the parameters: the same text with another value is parked
# again, as a new request, and the approved value runs once.  Both where
# the plan is decided (an estimate above the row limit) and where the exact
# row count stops a statement (the decision is then about the top-level
# statement the client sent, with its parameters).
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

# The exact row count: a function that deletes row by row is stopped past
# the limit, and the decision is about the top-level statement the client
# sent, "SELECT wipe_above($1)", with the value of its $1.
$node->safe_psql('postgres', q{
	DELETE FROM agent_guard.events;
	DELETE FROM agent_guard.requests;
	INSERT INTO t SELECT generate_series(1, 100) ON CONFLICT DO NOTHING;
	CREATE FUNCTION wipe_above(n int) RETURNS void LANGUAGE plpgsql AS
	$$ DECLARE r record; BEGIN
		FOR r IN SELECT a FROM t WHERE a > n LOOP DELETE FROM t WHERE a = r.a; END LOOP;
	END $$;
});
open($fh, '>', $script) or die "could not write $script: $!";
print $fh "SELECT wipe_above(:n);\n";
close($fh);

my $stderr = run_as_agent('extended', 80);
like($stderr, qr/stopped after 11 rows and parked for approval as request (\d+)/,
	'row count: wipe_above($1 = 80) is stopped past the limit and parked');
my ($first) = $stderr =~ /as request (\d+)/;
is($node->safe_psql('postgres', "SELECT query || ' / ' || params FROM agent_guard.requests WHERE id = $first"),
	q{SELECT wipe_above($1) / $1 = '80'},
	'row count: the request is the top-level statement with its value');
$node->safe_psql('postgres', "SELECT agent_guard.approve($first)");
$stderr = run_as_agent('extended', 0);
like($stderr, qr/stopped after 11 rows and parked for approval as request (\d+)/,
	'row count: the same text with $1 = 0 is stopped and parked again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '100',
	'row count: nothing was deleted');
$stderr = run_as_agent('extended', 80);
like($stderr, qr/runs with the approval of request $first/,
	'row count: the approved value runs on the approval');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '80',
	'row count: and deletes the 20 rows');

$node->stop;
done_testing();
