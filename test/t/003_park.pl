# Parking across the things a single session cannot show:
# - a parked request and its status survive an immediate shutdown (crash);
# - a listener in another session receives the NOTIFY payload, although the
#   agent's transaction aborted;
# - pg_dump of a database with requests, restored elsewhere, keeps them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('park');
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

# --- a listener gets the payload of each new request
my $listener = $node->background_psql('postgres', on_error_stop => 0);
$listener->query_safe('LISTEN agent_guard');

my ($ret, $stdout, $stderr) = $node->psql('postgres',
	'BEGIN; INSERT INTO bookings VALUES (11, \'x\'); DROP TABLE bookings; COMMIT;',
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/ERROR:  agent_guard: DROP TABLE public\.bookings parked for approval as request 1\b/,
	'the DROP is parked as request 1');

# psql prints notifications after the next command it runs
my $note = $listener->query('SELECT 1');
like($note, qr/Asynchronous notification "agent_guard" with payload "\{"id" : 1, "role" : "bot", "database" : "postgres", "class" : "drop", "command" : "DROP TABLE"\}"/,
	'the listener received the JSON payload of the new request');
$listener->quit;

# a repeat of a pending request does not notify again: no new request
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP TABLE bookings',
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/parked for approval as request 1\b.*\n.*attempt 2/s,
	'a repeat is the same request');

# --- crash: the request and its decision survive an immediate shutdown
$node->safe_psql('postgres', "SELECT agent_guard.approve(1, 'approved before the crash')");
($ret, $stdout, $stderr) = $node->psql('postgres', 'UPDATE bookings SET who = NULL',
	extra_params => [ '-U', 'bot' ]);
like($stderr, qr/parked for approval as request 2\b/, 'a second request');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres',
		q{SELECT string_agg(id || ':' || status || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM agent_guard.requests}),
	'1:approved:approved before the crash,2:pending:-',
	'requests and their status survived the crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bookings'), '10',
	'the aborted transaction of the agent left nothing behind');

# the approval still works after the restart, once
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP TABLE bookings',
	extra_params => [ '-U', 'bot' ]);
is($ret, 0, 'the approved DROP runs after the restart');
like($stderr, qr/runs with the approval of request 1/, 'and says so');
is($node->safe_psql('postgres', "SELECT status FROM agent_guard.requests WHERE id = 1"),
	'used', 'the permit is used');

# --- pg_dump keeps requests and events; a restore brings them back
my $dump = $node->basedir . '/park.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump of a database with requests');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database');
is($node->safe_psql('restored',
		q{SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM agent_guard.requests}),
	'1:used,2:pending', 'the restored database has the requests');
is($node->safe_psql('restored',
		q{SELECT string_agg(decision, ',' ORDER BY id) FROM agent_guard.events}),
	$node->safe_psql('postgres',
		q{SELECT string_agg(decision, ',' ORDER BY id) FROM agent_guard.events}),
	'and the same events');
# the sequences continue after the restored rows
($ret, $stdout, $stderr) = $node->psql('restored', 'CREATE TABLE t (id int); ',
	extra_params => [ '-U', 'postgres' ]);
$node->safe_psql('restored', 'ALTER TABLE t OWNER TO bot; INSERT INTO t VALUES (1)');
($ret, $stdout, $stderr) = $node->psql('restored', 'TRUNCATE t',
	extra_params => [ '-U', 'bot' ]);
# (after the crash above the sequence may have skipped ahead: PostgreSQL
# logs sequence values in advance)
my ($new_id) = $stderr =~ /parked for approval as request (\d+)/;
ok(defined $new_id && $new_id > 2,
	'new requests continue after the restored numbering');

# --- tags are role security labels: pg_dumpall carries them, and role
# settings of the guard, to a new cluster
$node->safe_psql('postgres', 'ALTER ROLE bot SET agent_guard.session_agent = on');
my $globals = $node->basedir . '/globals.sql';
$node->command_ok([ 'pg_dumpall', '--globals-only', '-f', $globals, '-d', $node->connstr('postgres') ],
	'pg_dumpall of the roles');
my $dumped = slurp_file($globals);
like($dumped, qr/SECURITY LABEL FOR agent_guard ON ROLE bot IS 'park';/,
	'the tag is in the dump');
like($dumped, qr/ALTER ROLE bot SET "agent_guard\.session_agent" TO 'on';/,
	'so is a role setting of the guard');

my $other = PostgreSQL::Test::Cluster->new('restore_target');
$other->init;
$other->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$other->start;
$other->psql('postgres', undef, extra_params => [ '-f', $globals ]);
$other->safe_psql('postgres', 'CREATE EXTENSION agent_guard');
is($other->safe_psql('postgres', 'SELECT role::text, action FROM agent_guard.agents'),
	'bot|park', 'the restored cluster has the tag');
$other->stop;

$node->stop;
done_testing();
