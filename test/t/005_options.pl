# Settings sent as connection options (PGOPTIONS, options=) are applied
# while the backend starts, before the guard's session check answers: a
# superuser agent must not be able to change agent_guard.* that way either.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('options');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE su_bot SUPERUSER LOGIN;
	CREATE ROLE su_human SUPERUSER LOGIN;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('su_bot', 'reject');
});

{
	local $ENV{PGOPTIONS} = '-c agent_guard.max_rows=0';
	my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW agent_guard.max_rows',
		extra_params => [ '-U', 'su_bot' ]);
	isnt($ret, 0, 'a superuser agent cannot connect with agent_guard.max_rows=0');
	like($stderr, qr/agent_guard: agent sessions cannot change agent_guard settings/,
		'and is told why');

	($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW agent_guard.max_rows',
		extra_params => [ '-U', 'su_human' ]);
	is($stdout, '0', 'a human superuser can');
}
{
	local $ENV{PGOPTIONS} = '-c agent_guard.default_action=log';
	my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
		extra_params => [ '-U', 'su_bot' ]);
	like($stderr, qr/agent sessions cannot change agent_guard settings/,
		'nor with agent_guard.default_action');
}
{
	local $ENV{PGOPTIONS} = '-c agent_guard.approvals_required=1';
	my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
		extra_params => [ '-U', 'su_bot' ]);
	like($stderr, qr/agent sessions cannot change agent_guard settings/,
		'nor with agent_guard.approvals_required');
}
# the one-way session_agent switch is still allowed as a connection option
{
	local $ENV{PGOPTIONS} = '-c agent_guard.session_agent=on';
	is($node->safe_psql('postgres', 'SELECT agent_session FROM agent_guard.status()',
			extra_params => [ '-U', 'su_human' ]), 't',
		'agent_guard.session_agent=on as a connection option marks the session');
}

# --- session_agent = on stored for a role or a database wins over the client
$node->safe_psql('postgres', q{
	CREATE ROLE shared LOGIN;
	ALTER ROLE shared SET agent_guard.session_agent = on;
	CREATE ROLE shared_su SUPERUSER LOGIN;
	ALTER ROLE shared_su SET agent_guard.session_agent = on;
	CREATE ROLE shared_db LOGIN;
	CREATE ROLE shared_in LOGIN;
});
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION agent_guard');
$node->safe_psql('postgres', q{
	ALTER DATABASE app SET agent_guard.session_agent = on;
	ALTER ROLE shared_in IN DATABASE postgres SET agent_guard.session_agent = on;
	CREATE TABLE t (id int); ALTER TABLE t OWNER TO shared;
});

sub connect_as
{
	my ($db, $user, $options, $sql) = @_;
	local $ENV{PGOPTIONS} = $options;
	my ($ret, $stdout, $stderr) = $node->psql($db, $sql,
		extra_params => [ '-U', $user ]);
	return ($stdout, $stderr);
}

my ($out, $err) = connect_as('postgres', 'shared', '',
	'SELECT agent_session, action FROM agent_guard.status()');
is($out, 't|park', 'ALTER ROLE ... SET agent_guard.session_agent = on marks the session');

($out, $err) = connect_as('postgres', 'shared', '-c agent_guard.session_agent=off',
	'SELECT agent_session FROM agent_guard.status(); DROP TABLE t;');
is($out, '', 'PGOPTIONS session_agent=off: the connection is refused');
like($err, qr/FATAL:  agent_guard: connection option agent_guard\.session_agent=off is not allowed for agent role "shared"/,
	'and told why');
like($err, qr/Role "shared" or this database has agent_guard\.session_agent = on set by an administrator/,
	'with the reason');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM agent_guard.events
		WHERE class = 'guard' AND decision = 'rejected' AND role_name = 'shared'
		  AND command = 'connection option'}),
	'1', 'the attempt is audited');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_tables WHERE tablename = 't'"),
	'1', 'and the table is still there');

# the same in a connection string, and for the other ways of storing it
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
	connstr => $node->connstr('postgres')
	  . " user=shared options='-c agent_guard.session_agent=off'");
like($stderr, qr/FATAL:  agent_guard: connection option agent_guard\.session_agent=off is not allowed/,
	'options= in the connection string is refused too');
($out, $err) = connect_as('app', 'shared_db', '-c agent_guard.session_agent=off', 'SELECT 1');
like($err, qr/FATAL:  agent_guard: connection option agent_guard\.session_agent=off is not allowed for agent role "shared_db"/,
	'ALTER DATABASE ... SET: refused');
($out, $err) = connect_as('app', 'shared_db', '', 'SELECT agent_session FROM agent_guard.status()');
is($out, 't', 'ALTER DATABASE ... SET: every session of the database is an agent session');
($out, $err) = connect_as('postgres', 'shared_in', '-c agent_guard.session_agent=off', 'SELECT 1');
like($err, qr/FATAL:  agent_guard: connection option agent_guard\.session_agent=off is not allowed/,
	'ALTER ROLE ... IN DATABASE ... SET: refused');
($out, $err) = connect_as('postgres', 'shared_in', '', 'SELECT agent_session FROM agent_guard.status()');
is($out, 't', 'ALTER ROLE ... IN DATABASE ... SET: an agent session');
($out, $err) = connect_as('app', 'shared_in', '', 'SELECT agent_session FROM agent_guard.status()');
is($out, 't', 'and in another database, through ALTER DATABASE');

# a superuser sharing a login cannot weaken the session with other settings
($out, $err) = connect_as('postgres', 'shared_su', '-c agent_guard.default_action=log',
	'SELECT 1');
like($err, qr/FATAL:  agent_guard: connection option agent_guard settings is not allowed for agent role "shared_su"/,
	'a stored session_agent refuses agent_guard.default_action in the connection options');
($out, $err) = connect_as('postgres', 'shared_su', '-c agent_guard.max_rows=0', 'SELECT 1');
like($err, qr/FATAL:  agent_guard: connection option agent_guard settings is not allowed/,
	'and agent_guard.max_rows');
($out, $err) = connect_as('postgres', 'su_human',
	'-c agent_guard.session_agent=on -c agent_guard.default_action=log', 'SELECT 1');
like($err, qr/agent sessions cannot change agent_guard settings/,
	'a session marked by its own connection option cannot change the others after it');
($out, $err) = connect_as('postgres', 'shared_su', '-c agent_guard.session_agent=on',
	'SELECT agent_session FROM agent_guard.status()');
is($out, 't', 'turning it on as well is fine');

# inside the session it cannot be turned off either
($out, $err) = connect_as('postgres', 'shared', '',
	'SET agent_guard.session_agent = off');
like($err, qr/ERROR:  agent_guard: SET agent_guard\.session_agent is not allowed for agent role "shared"/,
	'SET ... = off is refused in the session');
($out, $err) = connect_as('postgres', 'shared', '',
	'RESET agent_guard.session_agent');
like($err, qr/ERROR:  agent_guard: RESET agent_guard\.session_agent is not allowed for agent role "shared"/,
	'and RESET');

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
