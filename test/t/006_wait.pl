# agent_guard.wait(): an agent's session sleeps until the decision on its
# request commits.  The wake-up cases start the wait in a background
# session, make sure it is asleep (pg_stat_activity shows it waiting on its
# latch, wait event "Extension"), then act from another session:
# - woken by an approval, a rejection, and the guard's expiry;
# - a decision that rolls back wakes nobody; the wait goes on;
# - the timeout returns 'pending'; a request reaching its request_ttl
#   returns 'expired' although nobody updated it;
# - a cancel (pg_cancel_backend) and statement_timeout end the wait with
#   their usual errors, and the session can wait again afterwards;
# - while it sleeps the waiter holds no lock on agent_guard.requests (an
#   ACCESS EXCLUSIVE lock on it is granted at once).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('wait');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE TABLE bookings (id int PRIMARY KEY, who text);
	INSERT INTO bookings SELECT g, 'guest ' || g FROM generate_series(1, 10) g;
	ALTER TABLE bookings OWNER TO bot;
	SELECT agent_guard.tag_role('bot');
});

# park a statement as the agent; returns the request id
my $n = 0;
sub park
{
	$n++;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"DELETE FROM bookings WHERE id > 0 OR $n = $n",
		extra_params => [ '-U', 'bot' ]);
	my ($id) = $stderr =~ /parked for approval as request (\d+)/;
	die "not parked: $stderr" unless defined $id;
	like($stderr, qr/To wait for the decision, run SELECT agent_guard\.wait\($id\)\./,
		"the HINT of request $id names agent_guard.wait($id)");
	return $id;
}

# start agent_guard.wait() in a background session of the agent and
# return once it sleeps on its latch
sub start_wait
{
	my ($id, $timeout, $setup) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'bot' ]);
	$bg->query_safe($setup) if $setup;
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/started/,
		"\\echo started\nSELECT agent_guard.wait($id, '$timeout');\n");
	$node->poll_query_until('postgres',
		"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $pid")
	  or die "the wait did not start";
	return ($bg, $pid);
}

# what the background wait returned (stdout) and raised (stderr)
sub finish_wait
{
	my ($bg) = @_;
	my $t0 = time();
	my $out = $bg->query("SELECT 'end'");
	my $err = $bg->{stderr};
	$bg->quit;
	$out =~ s/\n?end$//;
	return ($out, $err, time() - $t0);
}

# --- woken by an approval
my $id = park();
my ($bg, $pid) = start_wait($id, '5 min');
my $t0 = time();
$node->safe_psql('postgres', "SELECT agent_guard.approve($id)");
my ($out, $err) = finish_wait($bg);
is($out, 'approved', 'the wait returns approved when the approval commits');
ok(time() - $t0 < 60, 'and at once, not at its 5 minute timeout');

# --- woken by a rejection, inside a REPEATABLE READ transaction whose
# snapshot was taken before the decision (wait() reads with a fresh one)
$id = park();
($bg, $pid) = start_wait($id, '5 min',
	'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM bookings');
$node->safe_psql('postgres', "SELECT agent_guard.reject($id, 'no')");
($out, $err) = finish_wait($bg);
is($out, 'rejected', 'the wait returns rejected, also in REPEATABLE READ');

# --- woken by the guard's expiry (at the next park or decision)
$id = park();
($bg, $pid) = start_wait($id, '5 min');
$node->safe_psql('postgres', qq{
	UPDATE agent_guard.requests SET created_at = created_at - interval '2 days' WHERE id = $id;
	SELECT agent_guard._expire('1 day');
});
($out, $err) = finish_wait($bg);
is($out, 'expired', 'the wait returns expired when the guard expires the request');

# --- a decision that rolls back wakes nobody; the one after it does
$id = park();
($bg, $pid) = start_wait($id, '5 min');
$node->safe_psql('postgres', "BEGIN; SELECT agent_guard.approve($id); ROLLBACK;");
sleep(1);
is($node->safe_psql('postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $pid"),
	'Extension', 'a rolled back approval leaves the agent waiting');
# no lock while it sleeps: an ACCESS EXCLUSIVE lock is granted at once
is($node->safe_psql('postgres', qq{
		SET lock_timeout = '1s';
		BEGIN; LOCK TABLE agent_guard.requests IN ACCESS EXCLUSIVE MODE; SELECT 'locked'; COMMIT;}),
	'locked', 'the waiter holds no lock on agent_guard.requests while it sleeps');
$node->safe_psql('postgres', "SELECT agent_guard.reject($id)");
($out, $err) = finish_wait($bg);
is($out, 'rejected', 'the rejection after it wakes the agent');

# --- the timeout: pending (run where it can be timed, without catching it asleep)
$id = park();
my $t1 = time();
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT agent_guard.wait($id, '2 s')",
	extra_params => [ '-U', 'bot' ]);
is($stdout, 'pending', 'at the timeout the wait returns pending');
ok(time() - $t1 >= 1.9, 'after the timeout, not before');

# --- the request's own expiry time ends the wait without anybody's update
# (request_ttl as the waiting session sees it; a superuser sets it for the role)
$node->safe_psql('postgres', "ALTER ROLE bot SET agent_guard.request_ttl = '3s'");
$t1 = time();
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT agent_guard.wait($id, '5 min')",
	extra_params => [ '-U', 'bot' ]);
is($stdout, 'expired', 'a pending request past request_ttl returns expired');
ok(time() - $t1 < 60, 'when its expiry time comes, not at the timeout');
is($node->safe_psql('postgres', "SELECT status FROM agent_guard.requests WHERE id = $id"),
	'pending', 'although nobody has marked it yet');
$node->safe_psql('postgres', "ALTER ROLE bot RESET agent_guard.request_ttl");

# --- cancel
$id = park();
($bg, $pid) = start_wait($id, '5 min');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
($out, $err) = finish_wait($bg);
like($err, qr/canceling statement due to user request/, 'a cancel ends the wait');
is($out, '', 'with no result');

# --- statement_timeout
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET statement_timeout = '1s'; SELECT agent_guard.wait($id, '5 min')",
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/canceling statement due to statement timeout/,
	'statement_timeout ends the wait');

# after a cancel the backend can wait again (its waiter slot was freed)
$bg = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'bot' ]);
$pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/started/,
	"\\echo started\nSET statement_timeout = '1s';\nSELECT agent_guard.wait($id, '5 min');\n");
$node->poll_query_until('postgres',
	"SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid");
$node->safe_psql('postgres', "SELECT agent_guard.approve($id)");
$out = $bg->query("RESET statement_timeout; SELECT agent_guard.wait($id, '5 min')");
like($out, qr/approved$/, 'the same session waits again after a cancelled wait');
$bg->quit;

# --- a human who may read the requests can wait too; timeout 0 only reads
$id = park();
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT SELECT ON agent_guard.pending TO alice;
	CREATE ROLE mallory LOGIN;
});
is($node->safe_psql('postgres', "SELECT agent_guard.wait($id, '0')", extra_params => [ '-U', 'alice' ]),
	'pending', 'an approver (SELECT on agent_guard.pending) may wait for any request');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT agent_guard.wait($id, '0')",
	extra_params => [ '-U', 'mallory' ]);
like($stderr, qr/ERROR:  agent_guard request $id belongs to another role/,
	'a role that is neither the agent nor an approver may not');

$node->stop;
done_testing();
