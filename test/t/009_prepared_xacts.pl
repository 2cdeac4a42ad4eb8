# An agent finishing a transaction that another role prepared: ROLLBACK
# PREPARED throws away work a human (or a transaction coordinator) meant
# to commit (class drop); COMMIT PREPARED applies work a human may have
# meant to abandon (class update).  Both are decided before they run, and
# a permit is bound to the prepared transaction, not to its name.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('prepared');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->append_conf('postgresql.conf', "max_prepared_transactions = 10");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE app_owner LOGIN;
	CREATE ROLE bot LOGIN IN ROLE app_owner;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('bot', 'park');
	CREATE TABLE pay (id int);
	ALTER TABLE pay OWNER TO app_owner;
});

sub prepare_as
{
	my ($user, $gid, $first) = @_;
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO pay SELECT generate_series($first, $first + 999);
		PREPARE TRANSACTION '$gid';
	}, extra_params => [ '-U', $user ]);
}

sub as_bot
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql,
		extra_params => [ '-U', 'bot' ]);
	return $stderr;
}

sub prepared
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts");
}

# --- ROLLBACK PREPARED of a human's transaction: PostgreSQL lets its owner
# (or a superuser) finish it, so the agent, a member of the owner role,
# first switches to it
prepare_as('app_owner', 'pay_batch_7', 1);
like(as_bot("ROLLBACK PREPARED 'pay_batch_7'"),
	qr/ERROR:  permission denied to finish prepared transaction/,
	"without SET ROLE PostgreSQL refuses first (no request)");
like(as_bot("SET ROLE app_owner; ROLLBACK PREPARED 'pay_batch_7'"),
	qr/ERROR:  agent_guard: ROLLBACK PREPARED 'pay_batch_7' parked for approval as request 1\b/,
	"an agent's ROLLBACK PREPARED of another role's transaction is parked");
like(as_bot("SET ROLE app_owner; ROLLBACK PREPARED 'pay_batch_7'"),
	qr/DETAIL:  Agents may not roll back a transaction another role prepared: its work, which the role that prepared it \("app_owner"\) meant to commit, would be lost\. Objects: prepared transaction 'pay_batch_7' of role app_owner\./,
	'DETAIL says why');
is(prepared(), 'pay_batch_7', 'the prepared transaction is still there');

$node->safe_psql('postgres', 'SELECT agent_guard.approve(1)');
like(as_bot("SET ROLE app_owner; ROLLBACK PREPARED 'pay_batch_7'"),
	qr/NOTICE:  agent_guard: ROLLBACK PREPARED 'pay_batch_7' runs with the approval of request 1\n[^\n]*\z/,
	'approved: it runs once');
is(prepared(), '', 'and the transaction is rolled back');
is($node->safe_psql('postgres', 'SELECT status FROM agent_guard.requests WHERE id = 1'),
	'used', 'the request is used');

# --- COMMIT PREPARED of a human's transaction
prepare_as('app_owner', 'pay_batch_8', 2001);
like(as_bot("SET ROLE app_owner; COMMIT PREPARED 'pay_batch_8'"),
	qr/ERROR:  agent_guard: COMMIT PREPARED 'pay_batch_8' parked for approval as request 2\b/,
	"an agent's COMMIT PREPARED of another role's transaction is parked");
is($node->safe_psql('postgres', 'SELECT class FROM agent_guard.requests WHERE id = 2'),
	'update', 'as class update');

# the approval is bound to that transaction: a new one under the same name
# is another statement
$node->safe_psql('postgres', 'SELECT agent_guard.approve(2)');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'pay_batch_8'");
prepare_as('app_owner', 'pay_batch_8', 3001);
like(as_bot("SET ROLE app_owner; COMMIT PREPARED 'pay_batch_8'"),
	qr/parked for approval as request 3\b/,
	'a new transaction prepared under an approved name is parked again');
is(prepared(), 'pay_batch_8', 'and is still prepared');

# --- reject mode: refused and audited
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject')");
like(as_bot("SET ROLE app_owner; COMMIT PREPARED 'pay_batch_8'"),
	qr/ERROR:  agent_guard: COMMIT PREPARED 'pay_batch_8' is not allowed for agent role "bot"/,
	'reject: COMMIT PREPARED is refused');
like(as_bot("SET ROLE app_owner; ROLLBACK PREPARED 'pay_batch_8'"),
	qr/ERROR:  agent_guard: ROLLBACK PREPARED 'pay_batch_8' is not allowed for agent role "bot"/,
	'reject: ROLLBACK PREPARED is refused');
is($node->safe_psql('postgres', q{
		SELECT string_agg(class || '/' || decision || '/' || command, ',' ORDER BY id)
		FROM agent_guard.events WHERE role_name = 'bot' AND decision = 'rejected'}),
	'update/rejected/COMMIT PREPARED,drop/rejected/ROLLBACK PREPARED',
	'both are audited');

# --- an agent finishes its own prepared transactions
prepare_as('bot', 'bot_own', 5001);
is(as_bot("COMMIT PREPARED 'bot_own'"), '', 'its own COMMIT PREPARED runs');
prepare_as('bot', 'bot_own2', 6001);
is(as_bot("ROLLBACK PREPARED 'bot_own2'"), '', 'its own ROLLBACK PREPARED runs');

# --- a name that is not prepared: PostgreSQL's own error
like(as_bot("ROLLBACK PREPARED 'nope'"),
	qr/ERROR:  prepared transaction with identifier "nope" does not exist/,
	'an unknown name gets the usual error');

# --- a human is not touched
$node->safe_psql('postgres', "COMMIT PREPARED 'pay_batch_8'");
is(prepared(), '', 'a human commits the prepared transaction');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pay'), '2000',
	'the rows of the transactions that were committed');

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
