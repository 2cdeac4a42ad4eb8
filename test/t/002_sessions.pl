# Behaviour that needs more than one session or another client path:
# - a tag change reaches an already-open session at its next statement;
# - a tagged role is guarded in a database without the extension;
# - the extended query protocol (pgbench -M extended / prepared);
# - the one-way session tag set in a connection string;
# - one greppable server-log line per decision.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sessions');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE TABLE bookings (id int PRIMARY KEY, who text);
	INSERT INTO bookings SELECT g, 'guest ' || g FROM generate_series(1, 10) g;
	ALTER TABLE bookings OWNER TO bot;
});

# --- an open session sees a new tag at its next statement
my $agent = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'bot' ]);
$agent->query_safe('SELECT 1');
is($agent->query_safe('SELECT agent_session FROM agent_guard.status()'),
	'f', 'untagged: a human session');

$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject')");
is($agent->query_safe('SELECT agent_session FROM agent_guard.status()'),
	't', 'the open session is an agent session at its next statement');
$agent->query('DELETE FROM bookings');
like($agent->{stderr}, qr/agent_guard: DELETE on public\.bookings without a WHERE clause is not allowed/,
	'the open session is guarded');
$agent->{stderr} = '';

# inside an open transaction, with the table already locked, a new tag
# still applies to the next statement
$node->safe_psql('postgres', "SELECT agent_guard.untag_role('bot')");
$agent->query_safe('BEGIN');
$agent->query_safe('SELECT count(*) FROM bookings');
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject')");
$agent->query('DELETE FROM bookings');
like($agent->{stderr}, qr/agent_guard: DELETE on public\.bookings without a WHERE clause is not allowed/,
	'a tag reaches a session inside an open transaction');
$agent->{stderr} = '';
$agent->query_safe('ROLLBACK');
$node->safe_psql('postgres', "SELECT agent_guard.untag_role('bot')");
$agent->query_safe('BEGIN');
$agent->query_safe('SELECT count(*) FROM bookings');
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject')");
is($agent->query_safe('SELECT agent_session FROM agent_guard.status()'),
	't', 'status() inside the transaction sees it too');
$agent->query_safe('ROLLBACK');

$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'log')");
my ($out, $err) = $agent->query('DELETE FROM bookings WHERE id = 10');
is($err, 0, 'bounded work goes through');
$agent->query("DELETE FROM bookings WHERE true");
like($agent->{stderr}, qr/WARNING:  agent_guard: DELETE .* was allowed in log mode/,
	're-tag with log: the statement runs with a warning');
$agent->{stderr} = '';
is($node->safe_psql('postgres', 'SELECT count(*) FROM bookings'), '0',
	'log mode really ran it');
$agent->quit;

$node->safe_psql('postgres', q{
	INSERT INTO bookings SELECT g, 'guest ' || g FROM generate_series(1, 10) g;
	SELECT agent_guard.tag_role('bot', 'park');
});

# --- a database where CREATE EXTENSION was never run
$node->safe_psql('postgres', 'CREATE DATABASE plain OWNER bot');
$node->safe_psql('plain', q{
	CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);
	ALTER TABLE t OWNER TO bot;
});
my ($ret, $stdout, $stderr) = $node->psql('plain', 'DROP TABLE t',
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/agent_guard: DROP TABLE public\.t is not allowed for agent role "bot"/,
	'a tagged role is guarded where the extension is not installed');
like($stderr, qr/rejected instead of parked because the extension agent_guard is not installed in this database/,
	'park acts as reject there, and says why');
($ret, $stdout, $stderr) = $node->psql('plain', 'TRUNCATE t',
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/agent_guard: TRUNCATE TABLE public\.t is not allowed/,
	'TRUNCATE too');
is($node->safe_psql('plain', 'SELECT count(*) FROM t'), '2', 'the data is intact');

# --- extended query protocol
my $script = $node->basedir . '/delete.sql';
append_to_file($script, "DELETE FROM bookings;\n");
for my $mode ('extended', 'prepared')
{
	my @cmd = ('pgbench', '-n', '-t', '1', '-M', $mode, '-f', $script,
		'-U', 'bot', '-h', $node->host, '-p', $node->port, 'postgres');
	my ($pgb_out, $pgb_err) = run_command(\@cmd);
	like($pgb_err, qr/agent_guard: DELETE on public\.bookings without a WHERE clause parked for approval as request 1\b/,
		"pgbench -M $mode: the extended protocol is guarded (parked, and deduplicated)");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM bookings'), '10',
	'no row was lost through the extended protocol');

# --- the one-way session tag in a connection string
$node->safe_psql('postgres', 'CREATE ROLE shared_login LOGIN; GRANT ALL ON bookings TO shared_login');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT agent_session FROM agent_guard.status(); DELETE FROM bookings;",
	connstr => $node->connstr('postgres')
	  . " user=shared_login options='-c agent_guard.session_agent=on'");
is($stdout, 't', 'session_agent=on in the connection string makes an agent session');
like($stderr, qr/agent_guard: DELETE on public\.bookings without a WHERE clause parked for approval/,
	'and it is guarded, with agent_guard.default_action (park)');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET agent_guard.session_agent = off",
	connstr => $node->connstr('postgres')
	  . " user=shared_login options='-c agent_guard.session_agent=on'");
like($stderr, qr/agent_guard/, 'and it cannot be turned off');

# --- one greppable server-log line per decision
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  agent_guard: rejected drop by role "bot" in database "plain": DROP TABLE public\.t/,
	'a rejection is logged in one line');
like($log, qr/LOG:  agent_guard: logged delete by role "bot" in database "postgres": DELETE on public\.bookings/,
	'a log-mode decision is logged');
like($log, qr/LOG:  agent_guard: role "bot" tagged with action "reject"/,
	'tag changes are logged');

# --- the audit rows survived the agents' aborted transactions
is($node->safe_psql('postgres',
		"SELECT string_agg(class || '/' || decision || coalesce('/' || request_id, ''), ',' ORDER BY id) FROM agent_guard.events"),
	'delete/rejected,delete/rejected,delete/logged,delete/parked/1,delete/parked/1,delete/parked/2,guard/rejected',
	'one durable audit row per decision');

$node->stop;
done_testing();
