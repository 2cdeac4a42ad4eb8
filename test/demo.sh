#!/usr/bin/env bash
# make demo: a throwaway cluster with agent_guard preloaded, and the story
# the extension exists for.  Everything lives in a temporary directory that
# is removed at the end; the server is stopped even if a step fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "${1:-}" = "--staged" ] || ag_rerun_staged test/demo.sh

work=$(mktemp -d /tmp/agent_guard_demo.XXXXXX)
export PGDATABASE=shop
cleanup() {
  pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
as() {   # as ROLE: run psql as that role, echoing each statement
  local role=$1; shift
  printf '\033[2m-- as %s\033[0m\n' "$role"
  psql -X -q -e -U "$role" -v VERBOSITY=default "$@" 2>&1 || true
}

say "A throwaway cluster in $work, with shared_preload_libraries = 'agent_guard'"
ag_start_cluster "$work" 54329 </dev/null

say "The DBA installs the guard and tags the AI agent's login role"
psql -X -q -U postgres -d postgres -c "CREATE DATABASE shop"
as postgres <<'SQL'
CREATE EXTENSION agent_guard;
CREATE ROLE cursor_bot LOGIN;
CREATE ROLE alice LOGIN;      -- a human, who approves
-- the agent owns its tables: no GRANT could stop an owner from dropping them
CREATE TABLE bookings (id int PRIMARY KEY, guest text, nights int);
INSERT INTO bookings SELECT g, 'guest ' || g, 1 + g % 5 FROM generate_series(1, 1000) g;
CREATE TABLE bookings_2019_archive AS SELECT * FROM bookings WHERE id <= 100;
CREATE TABLE session_log (id int, note text);
INSERT INTO session_log SELECT g, 'debug ' || g FROM generate_series(1, 50) g;
ALTER TABLE bookings OWNER TO cursor_bot;
ALTER TABLE bookings_2019_archive OWNER TO cursor_bot;
ALTER TABLE session_log OWNER TO cursor_bot;
GRANT ALL ON bookings TO alice;
GRANT SELECT ON agent_guard.pending TO alice;
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text), agent_guard.reject(bigint, text) TO alice;
GRANT EXECUTE ON FUNCTION agent_guard.allow(regrole, text, regclass, bigint, interval, integer, text) TO alice;
GRANT SELECT ON agent_guard.grants TO alice;
CREATE VIEW long_stays AS SELECT * FROM bookings WHERE nights > 3;
ALTER VIEW long_stays OWNER TO cursor_bot;
ANALYZE;   -- table statistics, as autovacuum keeps them: the guard's row estimates use them
-- action 'park' (the default); at most 100 rows changed per statement
SELECT agent_guard.tag_role('cursor_bot', max_rows => 100);
SELECT role, action, max_rows FROM agent_guard.agents;
SQL

say "The agent, in a hurry, tries to wipe a table (or a column): each attempt is parked for a human"
as cursor_bot <<'SQL'
SELECT agent_session, action FROM agent_guard.status();
DROP TABLE bookings CASCADE;
TRUNCATE bookings;
DELETE FROM bookings;
DELETE FROM bookings WHERE 1 = 1;
ALTER TABLE session_log ALTER COLUMN note TYPE text USING NULL;
SQL

say "Bounded work goes through: the agent may change the rows it names"
as cursor_bot <<'SQL'
DELETE FROM bookings WHERE id = 3;
UPDATE bookings SET nights = nights + 1 WHERE id BETWEEN 10 AND 12;
SELECT count(*) AS rows_left FROM bookings;
SQL

say "Blast radius: a WHERE clause that picks everything, or a loop of small deletes, hits the row limit"
as cursor_bot <<'SQL'
DELETE FROM bookings WHERE id > 0;
DO $$ BEGIN FOR i IN 1..1000 LOOP DELETE FROM bookings WHERE id = i; END LOOP; END $$;
SELECT count(*) AS rows_left FROM bookings;
SQL

say "The agent cannot switch the guard off, nor approve its own requests"
as cursor_bot <<'SQL'
SECURITY LABEL FOR agent_guard ON ROLE cursor_bot IS NULL;
SET agent_guard.default_action = 'log';
UPDATE agent_guard.requests SET status = 'approved';
SELECT agent_guard.approve(1);
SQL

say "Some cleanup the agent really needs: it asks, by running it"
as cursor_bot <<'SQL'
DROP TABLE bookings_2019_archive;
DELETE FROM session_log;
SQL

say "Alice, a human, reviews the queue: refuses the wipe, approves the cleanup"
as alice <<'SQL'
SELECT id, role_name, class, query, attempts FROM agent_guard.pending;
SELECT r.id, r.status, r.note
FROM agent_guard.pending p,
     agent_guard.reject(p.id, 'bookings are production data') r
WHERE p.query NOT IN ('DROP TABLE bookings_2019_archive', 'DELETE FROM session_log');
SELECT (agent_guard.approve(id, 'archive is in cold storage')).status
FROM agent_guard.pending WHERE query = 'DROP TABLE bookings_2019_archive';
SELECT (agent_guard.approve(id, 'debug log, fine')).status
FROM agent_guard.pending WHERE query = 'DELETE FROM session_log';
SQL

say "The agent re-runs the approved statements: each runs once; a second run is parked again"
as cursor_bot <<'SQL'
DROP TABLE bookings_2019_archive;
DELETE FROM session_log;
INSERT INTO session_log VALUES (1, 'new');
DELETE FROM session_log;
SELECT count(*) AS bookings_still_there FROM bookings;
SQL

say "Before running something risky, the agent asks the guard what it would do: nothing runs"
as cursor_bot <<'SQL'
SELECT class, decision, objects, estimated_rows FROM agent_guard.check('DROP TABLE bookings CASCADE');
SELECT class, decision, estimated_rows FROM agent_guard.check('DELETE FROM bookings WHERE id = 5');
SQL

say "The agent waits for the decision instead of polling; Alice approves while it waits"
as cursor_bot <<'SQL'
DELETE FROM bookings WHERE nights = 5;
SQL
req=$(psql -X -At -U postgres -c "SELECT max(id) FROM agent_guard.requests")
( sleep 2; psql -X -q -At -U alice \
    -c "SELECT 'alice approves request ' || id || ': ' || (agent_guard.approve(id, 'old bookings, fine')).status FROM agent_guard.pending WHERE id = $req" ) &
as cursor_bot -v req="$req" <<'SQL'
\timing on
SELECT agent_guard.wait(:req, '1 minute');
\timing off
DELETE FROM bookings WHERE nights = 5;
SQL
wait

say "A grant for the nightly cleanup: no approval each time, within its scope, time and uses"
as alice <<'SQL'
SELECT agent_guard.allow('cursor_bot', 'delete', 'session_log', max_rows => 100,
                         valid_for => '8 hours', uses => 2, note => 'nightly cleanup') AS grant_id;
SQL
as cursor_bot <<'SQL'
INSERT INTO session_log SELECT g, 'debug ' || g FROM generate_series(1, 50) g;
DELETE FROM session_log;
DELETE FROM bookings;
SQL
as alice <<'SQL'
SELECT id, role, class, target, max_rows, uses_left, status, note FROM agent_guard.grants;
SQL

say "A human's work is never touched"
as alice <<'SQL'
SELECT agent_session FROM agent_guard.status();
DELETE FROM bookings WHERE nights > 4;
SELECT count(*) AS rows_left FROM bookings;
SQL

say "Every decision is audited, durably, although the agent's transactions aborted"
as postgres <<'SQL'
SELECT id, role_name, class, decision, command, request_id AS req, grant_id FROM agent_guard.events ORDER BY id;
SELECT id, status, estimated_rows, decided_by, note FROM agent_guard.requests ORDER BY id;
SELECT * FROM agent_guard.counters;
SQL
echo
echo "Server log lines:"
grep -o 'agent_guard: \(rejected\|logged\|parked\|allowed\|approved\) .*' "$work/server.log" | sed 's/^/  /'

say "Done: the cluster is stopped and removed"
