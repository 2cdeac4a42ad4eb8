# The cleanup of a session's temporary schema (DISCARD TEMP, DISCARD ALL,
# the end of the session) drops every persistent object that depends on a
# temporary one.  In an agent session, DISCARD is decided as the drop of
# those objects; at the end of the session the cleanup cannot be stopped,
# but it is never silent: a log line and an audit row name what it took.
# Here the dependency on the agent's temporary type is made by a human in
# another session (an agent's own attempt is refused: suite
# temp_dependency), and the agent logs in as itself, so DISCARD ALL (which
# resets the session's role first) still runs as the agent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('temp_cleanup');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE ROLE alice LOGIN;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('bot', 'reject');
	CREATE TABLE orders (id int, amount numeric);
	INSERT INTO orders SELECT g, g FROM generate_series(1, 7) g;
	CREATE VIEW orders_v AS SELECT id FROM orders;
	GRANT ALL ON orders TO bot;
});

# the agent's session holds a temporary type; a human makes a committed
# table a typed table of it
my $bot = $node->background_psql('postgres', extra_params => [ '-U', 'bot' ],
	on_error_stop => 0);
my $tempschema = $bot->query_safe(q{
	CREATE TYPE pg_temp.orow AS (id int, amount numeric);
	SELECT pg_my_temp_schema()::regnamespace;
});
$tempschema =~ s/\s+//g;
like($tempschema, qr/^pg_temp_\d+$/, "the agent's temporary schema is $tempschema");
$node->safe_psql('postgres', "ALTER TABLE orders OF $tempschema.orow");

# DISCARD TEMP and DISCARD ALL are decided as the drop of the table
foreach my $discard ('DISCARD TEMP', 'DISCARD ALL')
{
	$bot->{stderr} = '';
	$bot->query("$discard;");
	like($bot->{stderr},
		qr/agent_guard: $discard table public.orders and 1 other object is not allowed for agent role "bot"/,
		"$discard in an agent session that would drop a committed table is refused");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM orders'), '7',
	'the table and its rows are still there');

# the end of the session: the table goes, but not silently
my $offset = -s $node->logfile;
$bot->quit;
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_class WHERE relname = 'orders'})
  or die 'the session did not end';
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM agent_guard.events WHERE command = 'session end'})
  or die 'no audit row for the end of the session';
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s %s', role_name, class, decision,
							 array_to_string(objects, ', ')), '; ' ORDER BY id)
	FROM agent_guard.events WHERE command = 'session end'}),
	'bot drop logged view public.orders_v, table public.orders',
	'the end of the session audits every persistent object it dropped');
my $log = slurp_file($node->logfile, $offset);
like($log,
	qr/WARNING:  agent_guard: session end table public.orders and 1 other object by agent role "bot" could not be stopped/,
	'and warns in the server log');
like($log,
	qr/LOG:  agent_guard: logged drop by role "bot" in database "postgres": session end table public.orders and 1 other object/,
	'with the one-line log of a decision');

# a human session's end is not touched
$node->safe_psql('postgres', q{
	CREATE TABLE kept (id int);
	GRANT ALL ON kept TO alice;
	CREATE TABLE orders2 (id int);
	CREATE ROLE su_bot SUPERUSER LOGIN;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('su_bot', 'reject');
});
my $alice = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ]);
$tempschema = $alice->query_safe(q{
	CREATE DOMAIN pg_temp.d AS int;
	SELECT pg_my_temp_schema()::regnamespace;
});
$tempschema =~ s/\s+//g;
# another session's temporary schema is usable by superusers only: a
# superuser agent may not make a table depend on a temporary domain there
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"ALTER TABLE orders2 ADD COLUMN c $tempschema.d",
	extra_params => [ '-U', 'su_bot' ]);
like($stderr,
	qr/agent_guard: ALTER TABLE public.orders2.c is not allowed for agent role "su_bot"/,
	"a superuser agent cannot make a table depend on another session's temporary domain");
$node->safe_psql('postgres', "ALTER TABLE kept ADD COLUMN gone $tempschema.d");
$alice->quit;
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_attribute WHERE attrelid = 'kept'::regclass AND attname = 'gone'})
  or die 'the human session did not end';
is($node->safe_psql('postgres', q{SELECT count(*) FROM agent_guard.events WHERE role_name = 'alice'}),
	'0', "a human session's cleanup is not audited");

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
