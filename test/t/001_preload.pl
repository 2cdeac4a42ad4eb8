# CREATE EXTENSION must refuse when the library is not preloaded (the guard
# would be silently off), with a hint naming the setting; once preloaded it
# installs and status() says the guard is active.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION agent_guard');
isnt($ret, 0, 'CREATE EXTENSION fails without the preload');
like($stderr,
	qr/ERROR:  agent_guard must be loaded through shared_preload_libraries/,
	'the error says what is wrong');
like($stderr, qr/HINT:  Add agent_guard to shared_preload_libraries/,
	'the hint names the setting');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'agent_guard'"),
	'0', 'nothing was installed');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'agent_guard'"),
	'0', 'not even the schema');

# LOAD does not switch the guard on either
($ret, $stdout, $stderr) = $node->psql('postgres',
	"LOAD 'agent_guard'; CREATE ROLE bot; SECURITY LABEL FOR agent_guard ON ROLE bot IS 'reject'");
like($stderr, qr/security label provider "agent_guard" is not loaded/,
	'a LOAD installs no label provider and no hooks');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION agent_guard');
is($node->safe_psql('postgres',
		'SELECT active, version FROM agent_guard.status()'),
	't|1.2', 'with the preload the extension installs and is active');

$node->stop;
done_testing();
