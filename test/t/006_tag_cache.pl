# The per-backend tag cache (tags.c) must not lose a tag change that
# arrives while it is being rebuilt.  A rebuild looks up memberships; a
# syscache miss opens pg_auth_members, and opening a catalog accepts the
# invalidations that arrived meanwhile.  A tag committed at that moment was
# not in what the rebuild had read, and must still reach the session.
#
# Made deterministic with a lock: a human tags the role and, in the same
# transaction, locks pg_auth_members; the agent's rebuild waits on that
# lock inside its membership lookup, after it has read the tags; the human
# commits, and the invalidation is accepted in the middle of the rebuild.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('tag_cache');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE ROLE other_bot;
	CREATE ROLE g1;
	CREATE ROLE x1;
	SELECT agent_guard.tag_role('other_bot', 'reject');
	CREATE TABLE victim (id int);
	INSERT INTO victim VALUES (1), (2), (3);
	ALTER TABLE victim OWNER TO bot;
});

my $agent = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'bot' ]);
is($agent->query_safe('SELECT agent_session FROM agent_guard.status()'), 'f',
	'bot starts as a human session');
my $agent_pid = $agent->query_safe('SELECT pg_backend_pid()');

# a membership change empties the agent's membership caches, so that its
# next rebuild has to read pg_auth_members
$node->safe_psql('postgres', 'GRANT g1 TO x1');

# new connections, and sessions whose membership caches are cold, wait for
# the locked catalog too: watch from an open session with warm caches
my $monitor = $node->background_psql('postgres');
$monitor->query_safe('SELECT agent_session FROM agent_guard.status()');
my $human = $node->background_psql('postgres');
$human->query_safe(q{
	BEGIN;
	SELECT agent_guard.tag_role('bot', 'reject');
	LOCK TABLE pg_auth_members IN ACCESS EXCLUSIVE MODE;
});

# the agent's next statement rebuilds its cache and waits in the middle
$agent->{stdin} .= "SELECT 1;\n";
$agent->{run}->pump_nb;
my $waiting = 'f';
for (my $i = 0; $i < 600 && $waiting ne 't'; $i++)
{
	$waiting = $monitor->query_safe(qq{
		SELECT EXISTS (SELECT FROM pg_locks
		               WHERE pid = $agent_pid AND NOT granted
		                 AND relation = 'pg_auth_members'::regclass)});
	usleep(100_000) if $waiting ne 't';
}
is($waiting, 't', 'the agent waits for pg_auth_members inside its rebuild');
$human->query_safe('COMMIT');
$human->quit;
$monitor->quit;

$agent->query('DROP TABLE victim');
like($agent->{stderr}, qr/agent_guard: DROP TABLE public\.victim is not allowed for agent role "bot"/,
	'the tag committed during the rebuild applies at the next statement');
$agent->{stderr} = '';
is($agent->query_safe('SELECT agent_session FROM agent_guard.status()'), 't',
	'the session is an agent session');
$agent->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM victim'), '3',
	'the table is still there');

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
