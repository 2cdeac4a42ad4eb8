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

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
