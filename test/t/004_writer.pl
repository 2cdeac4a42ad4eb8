# The persistent writer of each database (src/worker.c):
# - the first durable write starts it, later ones reuse it (same pid);
# - it never stands in the way of DROP DATABASE, CREATE DATABASE ... TEMPLATE
#   or ALTER DATABASE ... RENAME of its database;
# - a job that fails (lock_timeout) is reported back, the statement is
#   rejected, and the same writer goes on with the next job;
# - terminated, it is replaced at the next job; after the idle timeout it
#   leaves; with the timeout 0 every write takes a one-shot worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('writer');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE bot LOGIN;
	SELECT 1;
});

# a database with the extension, a table owned by the tagged agent
sub make_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION agent_guard;
		CREATE TABLE t (id int);
		INSERT INTO t VALUES (1);
		ALTER TABLE t OWNER TO bot;
	});
}

sub writer_pids
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), 'none') FROM pg_stat_activity"
		  . " WHERE backend_type = 'agent_guard writer' AND datname = '$db'");
}

sub park
{
	my ($db, $sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql($db, $sql, extra_params => [ '-U', 'bot' ]);
	return $stderr;
}

make_db('w1');
$node->safe_psql('w1', "SELECT agent_guard.tag_role('bot')");

like(park('w1', 'DELETE FROM t'), qr/parked for approval as request 1\b/, 'first park');
my $pid = writer_pids('w1');
like($pid, qr/^\d+$/, 'one persistent writer is connected to the database');
like(park('w1', 'DELETE FROM t /* 2 */'), qr/parked for approval as request 2\b/, 'second park');
is(writer_pids('w1'), $pid, 'the second park used the same writer');

# --- commands that need the database to themselves
$node->safe_psql('postgres', 'CREATE DATABASE w1_copy TEMPLATE w1');
pass('CREATE DATABASE ... TEMPLATE of a database with a writer');
is($node->safe_psql('w1_copy', 'SELECT count(*) FROM agent_guard.requests'), '2',
	'the copy has the requests');

like(park('w1', 'DELETE FROM t /* 3 */'), qr/parked for approval as request 3\b/,
	'a new writer after the copy');
$node->safe_psql('postgres', 'ALTER DATABASE w1 RENAME TO w1_renamed');
pass('ALTER DATABASE ... RENAME of a database with a writer');

like(park('w1_renamed', 'DELETE FROM t /* 4 */'), qr/parked for approval as request 4\b/,
	'park in the renamed database');
isnt(writer_pids('w1_renamed'), 'none', 'it has a writer again');
$node->safe_psql('postgres', 'DROP DATABASE w1_renamed');
pass('DROP DATABASE of a database with a writer');
is(writer_pids('w1_renamed'), 'none', 'its writer is gone');

# --- a failing job: the writer reports it and goes on
make_db('w2');
like(park('w2', 'DELETE FROM t'), qr/parked for approval as request 1\b/, 'park in w2');
$pid = writer_pids('w2');
my $locker = $node->background_psql('w2');
$locker->query_safe('BEGIN; LOCK TABLE agent_guard.events IN ACCESS EXCLUSIVE MODE');
my $err = park('w2', 'DELETE FROM t /* locked */');
like($err, qr/ERROR:  agent_guard: DELETE on public\.t without a WHERE clause is not allowed for agent role "bot"/,
	'with the audit table locked by a human, the writer times out and the statement is rejected');
like($err, qr/rejected instead of parked because the request could not be recorded: canceling statement due to lock timeout/,
	'and says why');
$locker->query_safe('COMMIT');
$locker->quit;
like(park('w2', 'DELETE FROM t /* 3 */'), qr/parked for approval as request 2\b/,
	'the next park works');
is(writer_pids('w2'), $pid, 'with the same writer');

# --- a terminated writer is replaced
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)");
like(park('w2', 'DELETE FROM t /* 4 */'), qr/parked for approval as request 3\b/,
	'park after the writer was terminated');
my $new = writer_pids('w2');
like($new, qr/^\d+$/, 'a new writer');
isnt($new, $pid, 'not the old one');

# --- idle timeout
$node->append_conf('postgresql.conf', 'agent_guard.writer_idle_timeout = 1');
$node->reload;
like(park('w2', 'DELETE FROM t /* 5 */'), qr/parked for approval as request 4\b/, 'park');
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'agent_guard writer')"),
	'an idle writer leaves after agent_guard.writer_idle_timeout');

# --- no persistent writer at all
$node->append_conf('postgresql.conf', 'agent_guard.writer_idle_timeout = 0');
$node->reload;
like(park('w2', 'DELETE FROM t /* 6 */'), qr/parked for approval as request 5\b/,
	'with writer_idle_timeout = 0 a one-shot worker records the request');
is(writer_pids('w2'), 'none', 'and no writer stays');
is($node->safe_psql('w2',
		"SELECT string_agg(id::text, ',' ORDER BY id) FROM agent_guard.requests WHERE status = 'pending'"),
	'1,2,3,4,5', 'every recorded request is there once');

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
