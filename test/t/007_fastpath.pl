# Every entry point is guarded from a backend's first message on: a
# fast-path function call (the protocol's FunctionCall message, libpq's
# PQfn) runs no executor and no utility statement.  test/fastpath.c sends
# only such calls, the first one right after the connection is made.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# build the client with the server's libpq
my $pg_config = $ENV{PG_CONFIG} || 'pg_config';
my $includedir = `$pg_config --includedir`;
my $libdir = `$pg_config --libdir`;
chomp($includedir, $libdir);
my $client = "${PostgreSQL::Test::Utils::tmp_check}/fastpath";
my ($cc_out, $cc_err) = run_command([ $ENV{CC} || 'cc', "-I$includedir",
	'test/fastpath.c', "-L$libdir", '-lpq', '-o', $client ]);
ok(-x $client, 'the fast-path client builds') or diag($cc_err);

my $node = PostgreSQL::Test::Cluster->new('fastpath');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE ROLE alice LOGIN;
	SET client_min_messages = error;
	SELECT agent_guard.tag_role('bot', 'reject');
	SELECT lo_from_bytea(4247001, 'committed');
	SELECT lo_from_bytea(4247002, 'committed');
	ALTER LARGE OBJECT 4247001 OWNER TO bot;
	ALTER LARGE OBJECT 4247002 OWNER TO alice;
	CREATE TABLE bookings (id int);
	INSERT INTO bookings SELECT generate_series(1, 20);
	ALTER TABLE bookings OWNER TO bot;
	CREATE FUNCTION drop_bookings() RETURNS int LANGUAGE plpgsql
	  AS $$ BEGIN DROP TABLE public.bookings; RETURN 1; END $$;
	CREATE FUNCTION wipe_bookings() RETURNS int LANGUAGE plpgsql
	  AS $$ BEGIN DELETE FROM public.bookings; RETURN 1; END $$;
	CREATE FUNCTION trim_bookings() RETURNS int LANGUAGE plpgsql
	  AS $$ BEGIN FOR i IN 1..20 LOOP DELETE FROM public.bookings WHERE id = i; END LOOP; RETURN 1; END $$;
});

sub oid_of
{
	return $node->safe_psql('postgres', "SELECT '$_[0]'::regprocedure::oid");
}

sub fastpath
{
	my ($user, @calls) = @_;
	my ($out, $err) = run_command([ $client,
		$node->connstr('postgres') . " user=$user", @calls ]);

	return $out;
}

my $lo_unlink = oid_of('lo_unlink(oid)');

# --- lo_unlink as the first message
like(fastpath('bot', "i$lo_unlink,i:4247001"),
	qr/^error 42AG1 agent_guard: lo_unlink large object 4247001 is not allowed for agent role "bot"/,
	'a fast-path lo_unlink as the first message of an agent session is refused');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 4247001'),
	'1', 'the large object is still there');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM agent_guard.events
		WHERE role_name = 'bot' AND class = 'drop' AND decision = 'rejected'
		  AND command = 'lo_unlink'}),
	'1', 'with one audit row');

# in park mode too, and it can be approved
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'park')");
like(fastpath('bot', "i$lo_unlink,i:4247001"),
	qr/^error 42AGP agent_guard: lo_unlink large object 4247001 parked for approval as request (\d+)/,
	'park: the fast-path call is parked');
$node->safe_psql('postgres', 'SELECT agent_guard.approve(1)');
is(fastpath('bot', "i$lo_unlink,i:4247001"), 'ok 1',
	'approved: the same call runs once');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 4247001'),
	'0', 'and the large object is gone');
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject')");

# a human's fast-path call is not touched
is(fastpath('alice', "i$lo_unlink,i:4247002"), 'ok 1',
	'a human session unlinks its large object through the fast path');

# --- functions whose destruction the utility and executor hooks see
like(fastpath('bot', 'i' . oid_of('drop_bookings()')),
	qr/^error 42AG1 agent_guard: DROP TABLE public\.bookings is not allowed/,
	'a fast-path call of a function that drops a table is refused');
like(fastpath('bot', 'i' . oid_of('wipe_bookings()')),
	qr/^error 42AG1 agent_guard: DELETE on public\.bookings without a WHERE clause is not allowed/,
	'a fast-path call of a function that deletes every row is refused');
# the row count spans the fast-path call (its transaction): no portal, so
# none of the function's DELETEs is a top-level statement of its own
$node->safe_psql('postgres', "SELECT agent_guard.tag_role('bot', 'reject', max_rows => 5)");
like(fastpath('bot', 'i' . oid_of('trim_bookings()')),
	qr/^error 42AG1 agent_guard: DELETE on public\.bookings stopped after 6 rows: agent role "bot" has a row limit of 5/,
	'a fast-path call of a function that deletes rows one by one stops at the row limit');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bookings'), '20',
	'every row is still there');

# --- pg_notify() through the fast path: its arguments cannot be checked,
# and it could forge the guard's notifications
my $pg_notify = oid_of('pg_notify(text,text)');
like(fastpath('bot', "v$pg_notify,t:agent_guard,t:{\"id\" : 1}"),
	qr/^error 42AG2 agent_guard: pg_notify is not allowed for agent role "bot"/,
	"an agent's fast-path pg_notify() is refused");
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM agent_guard.events
		WHERE role_name = 'bot' AND class = 'guard' AND command = 'pg_notify'}),
	'1', 'and audited');
like(fastpath('alice', "v$pg_notify,t:agent_guard,t:hello"), qr/^ok\s*$/,
	"a human's is not");

$node->stop;
ok(!grep(/TRAP|PANIC|terminated by signal/, slurp_file($node->logfile)),
	'no crash or assertion failure in the server log');
done_testing();
