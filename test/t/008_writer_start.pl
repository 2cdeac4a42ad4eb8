# A persistent writer that starts late must not run a job that a one-shot
# worker already ran (worker.c).  The postmaster is stopped (SIGSTOP) so
# that the writer an agent's rejection asks for cannot be forked; after 10 s
# the requester gives it up and asks for a one-shot worker; then the
# postmaster goes on and forks both.  A human holds a lock on the audit
# table meanwhile, so that both would be seen writing the same audit row
# before either has finished.  Exactly one audit row must result.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('writer_start');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('bot', 'reject');
	CREATE TABLE t (id int);
	ALTER TABLE t OWNER TO bot;
});
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'agent_guard writer'"),
	'0', 'no writer yet');

# every session this test needs is connected before the postmaster stops
my $agent = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'bot' ]);
$agent->query_safe('SELECT 1');
my $monitor = $node->background_psql('postgres');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE agent_guard.events IN SHARE MODE');

my $postmaster = $node->{_pid};
kill 'STOP', $postmaster;
$agent->{stdin} .= "DROP TABLE t;\n";
$agent->{run}->pump_nb;
# the writer's start times out after 10 s; the one-shot worker is asked for
sleep(12);
kill 'CONT', $postmaster;

# both workers (if the late writer still takes the job) wait for the lock
sub waiting
{
	return $monitor->query_safe(q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'agent_guard writer' AND wait_event_type = 'Lock'});
}
my $n = 0;
for (my $i = 0; $i < 300 && $n < 1; $i++)
{
	$n = waiting();
	usleep(100_000) if $n < 1;
}
cmp_ok($n, '>=', 1, 'a worker waits to write the audit row');
sleep(1);						# a late writer would be waiting by now too
is(waiting(), 1, 'only one: the writer that started late did not take the job');
$locker->query_safe('COMMIT');
$locker->quit;

$agent->query('SELECT 1');
like($agent->{stderr}, qr/agent_guard: DROP TABLE public\.t is not allowed for agent role "bot"/,
	'the agent got its rejection');
$agent->quit;
sleep(1);
is($monitor->query_safe(q{
		SELECT count(*) FROM agent_guard.events
		WHERE role_name = 'bot' AND command = 'DROP TABLE'}),
	'1', 'exactly one audit row');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '0', 'the table is there');
$monitor->quit;

# the next write starts a writer that works
$node->psql('postgres', 'TRUNCATE t', extra_params => [ '-U', 'bot' ]);
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM agent_guard.events
		WHERE role_name = 'bot' AND command = 'TRUNCATE TABLE'}),
	'1', 'the next audit row is written');

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
