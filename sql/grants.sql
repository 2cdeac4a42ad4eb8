-- grants: agent_guard.allow() lets an agent role run statements of one
-- class (on one table and its partitions, within max_rows) without
-- parking, for a time and a number of uses.  Each case: used, spent,
-- expired, revoked, scoped to one table and one class, max_rows, a rolled
-- back use, reject action, group roles, and who may grant.
\set SHOW_CONTEXT never
-- request ids of this suite start at 200001, whatever ran before; the
-- sequence is put back at the end
SELECT last_value AS req_seq, is_called AS req_seq_called FROM agent_guard.requests_id_seq \gset
SELECT setval('agent_guard.requests_id_seq', 200000) > 0 AS numbered;
CREATE ROLE gr_bot LOGIN;
CREATE ROLE gr_bots;
CREATE ROLE gr_member LOGIN IN ROLE gr_bots;
CREATE ROLE gr_approver LOGIN;
CREATE ROLE gr_root SUPERUSER;
GRANT CREATE ON SCHEMA public TO gr_bot, gr_member;
SELECT agent_guard.tag_role('gr_bot', 'park', max_rows => 10);
SELECT agent_guard.tag_role('gr_bots', 'reject');
GRANT EXECUTE ON FUNCTION agent_guard.allow(regrole, text, regclass, bigint, interval, integer, text),
                          agent_guard.revoke_grant(bigint) TO gr_approver, gr_bot;
GRANT SELECT ON agent_guard.grants TO gr_approver;
SELECT coalesce(max(id), 0) AS first_event FROM agent_guard.events \gset
SELECT coalesce(max(id), 0) AS first_grant FROM agent_guard._grants \gset

SET ROLE gr_bot;
CREATE TABLE gr_sessions (id int PRIMARY KEY, v text);
INSERT INTO gr_sessions SELECT g, 'x' FROM generate_series(1, 40) g;
CREATE TABLE gr_orders (id int PRIMARY KEY);
INSERT INTO gr_orders SELECT generate_series(1, 5);
CREATE TABLE gr_log (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE gr_log_2025 PARTITION OF gr_log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE gr_log_2026 PARTITION OF gr_log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO gr_log SELECT g, date '2025-06-01' + g FROM generate_series(1, 6) g;
CREATE TABLE gr_tmp (id int);
INSERT INTO gr_tmp VALUES (1), (2);
CREATE VIEW gr_tmp_v AS SELECT * FROM gr_tmp;
RESET ROLE;
ANALYZE gr_sessions, gr_orders, gr_log, gr_tmp;

-- bad input: a clear error, nothing recorded
SET ROLE gr_approver;
SELECT agent_guard.allow(NULL, 'delete');
SELECT agent_guard.allow('gr_bot', NULL);
SELECT agent_guard.allow('gr_bot', 'guard');
SELECT agent_guard.allow('gr_bot', 'vacuum');
SELECT agent_guard.allow('gr_bot', 'delete', valid_for => '-5 minutes');
SELECT agent_guard.allow('gr_bot', 'delete', valid_for => NULL);
SELECT agent_guard.allow('gr_bot', 'delete', max_rows => 0);
SELECT agent_guard.allow('gr_bot', 'delete', uses => 0);
SELECT agent_guard.allow('gr_bot', 'delete', 'gr_nonexistent');
SELECT agent_guard.revoke_grant(NULL);
SELECT agent_guard.revoke_grant(-1);
RESET ROLE;
SELECT count(*) AS grants_made FROM agent_guard._grants WHERE id > :first_grant;

-- a grant of an unscoped class to gr_bot: one use, then spent
SET ROLE gr_approver;
SELECT agent_guard.allow('gr_bot', 'delete', 'gr_sessions', uses => 1,
                         note => 'nightly cleanup') - :first_grant AS grant;
SELECT id - :first_grant AS grant, role, class, target, max_rows, uses, uses_left, used,
       status, granted_by, note
FROM agent_guard.grants WHERE id > :first_grant;
RESET ROLE;
SET ROLE gr_bot;
DELETE FROM gr_sessions WHERE id > 20 OR true;
SELECT count(*) FROM gr_sessions;
INSERT INTO gr_sessions SELECT g, 'x' FROM generate_series(1, 40) g;
-- spent: the next statement parks
\set VERBOSITY terse
DELETE FROM gr_sessions WHERE id > 20 OR true;
\set VERBOSITY default
RESET ROLE;
SELECT id - :first_grant AS grant, uses, uses_left, used, status
FROM agent_guard.grants WHERE id > :first_grant;

-- scoped to one table and one class: another table, another class park
SET ROLE gr_approver;
SELECT agent_guard.allow('gr_bot', 'delete', 'gr_sessions') - :first_grant AS grant;
RESET ROLE;
SET ROLE gr_bot;
\set VERBOSITY terse
DELETE FROM gr_orders;
UPDATE gr_sessions SET v = 'y';
TRUNCATE gr_sessions;
-- within the grant: runs, and every use counts (no use limit here)
DELETE FROM gr_sessions WHERE v = 'x';
\set VERBOSITY default
INSERT INTO gr_sessions SELECT g, 'x' FROM generate_series(1, 40) g;
-- a use rolled back is given back
BEGIN;
DELETE FROM gr_sessions;
ROLLBACK;
RESET ROLE;
SELECT id - :first_grant AS grant, uses_left, used, status
FROM agent_guard.grants WHERE id > :first_grant ORDER BY id;

-- revoked: stops at once
SELECT id AS open_grant FROM agent_guard._grants WHERE id > :first_grant AND uses IS NULL \gset
SELECT id - :first_grant AS grant, status, revoked_by
FROM agent_guard.revoke_grant(:open_grant);
SELECT agent_guard.revoke_grant(:open_grant);
SET ROLE gr_bot;
\set VERBOSITY terse
DELETE FROM gr_sessions;
\set VERBOSITY default
RESET ROLE;

-- expired: stops at once, nobody needs to mark it
SELECT agent_guard.allow('gr_bot', 'delete', 'gr_sessions', valid_for => '100 ms') AS short_grant \gset
SELECT pg_sleep(0.2);
SET ROLE gr_bot;
\set VERBOSITY terse
DELETE FROM gr_sessions;
\set VERBOSITY default
RESET ROLE;
SELECT status FROM agent_guard.grants WHERE id = :short_grant;

-- max_rows: a statement estimated above it is not covered; one under it
-- runs, counted against max_rows instead of the role's row limit (10);
-- passing max_rows parks it after all, and the use is given back
SELECT agent_guard.allow('gr_bot', 'delete', 'gr_sessions', max_rows => 25) AS rows_grant \gset
SET ROLE gr_bot;
\set VERBOSITY terse
DELETE FROM gr_sessions WHERE id <= 30;
\set VERBOSITY default
DELETE FROM gr_sessions WHERE id <= 20;
-- the statistics say 40 rows; 150 more arrive: the plan estimate is low,
-- the exact count passes 10 (the grant covers it), then 25 (it does not)
RESET ROLE;
INSERT INTO gr_sessions SELECT g, 'z' FROM generate_series(100, 249) g;
SET ROLE gr_bot;
\set VERBOSITY terse
DELETE FROM gr_sessions WHERE id >= 100 AND id < 160;
\set VERBOSITY default
DELETE FROM gr_sessions WHERE id >= 100 AND id < 115;
RESET ROLE;
SELECT count(*) FILTER (WHERE id >= 100 AND id < 160) AS kept_of_60,
       count(*) FILTER (WHERE id >= 100 AND id < 115) AS deleted_15
FROM gr_sessions;
SELECT uses_left, used FROM agent_guard.grants WHERE id = :rows_grant;
SELECT (agent_guard.revoke_grant(:rows_grant)).status;

-- a partitioned table: the grant covers its partitions
SELECT agent_guard.allow('gr_bot', 'truncate', 'gr_log', uses => 2) AS log_grant \gset
SET ROLE gr_bot;
TRUNCATE gr_log_2025;
TRUNCATE gr_log;
RESET ROLE;
SELECT uses_left, used, status FROM agent_guard.grants WHERE id = :log_grant;

-- class drop on one table: a CASCADE that takes more than it parks; a
-- DROP of the table alone runs
SELECT agent_guard.allow('gr_bot', 'drop', 'gr_tmp', uses => 2) AS drop_grant \gset
SET ROLE gr_bot;
\set VERBOSITY terse
DROP TABLE gr_tmp CASCADE;
\set VERBOSITY default
RESET ROLE;
DROP VIEW gr_tmp_v;
SET ROLE gr_bot;
DROP TABLE gr_tmp;
RESET ROLE;
SELECT count(*) AS gr_tmp_left FROM pg_class WHERE relname = 'gr_tmp';
SELECT uses_left, used, status FROM agent_guard.grants WHERE id = :drop_grant;

-- a grant to a group role covers its members; for action reject too
SET ROLE gr_member;
CREATE TABLE gr_member_t (id int);
INSERT INTO gr_member_t VALUES (1), (2), (3);
RESET ROLE;
SET ROLE gr_member;
\set VERBOSITY terse
DELETE FROM gr_member_t;
\set VERBOSITY default
RESET ROLE;
SELECT agent_guard.allow('gr_bots', 'delete', uses => 1) AS group_grant \gset
SET ROLE gr_member;
DELETE FROM gr_member_t;
RESET ROLE;

-- never by an agent session: with EXECUTE granted, and as a superuser agent
SET ROLE gr_bot;
SELECT agent_guard.allow('gr_bot', 'drop');
SELECT agent_guard.revoke_grant(:group_grant);
UPDATE agent_guard._grants SET uses_left = 100;
SELECT count(*) FROM agent_guard._grants;
RESET ROLE;
SET client_min_messages = error;
SELECT agent_guard.tag_role('gr_root');
RESET client_min_messages;
SET ROLE gr_root;
SELECT agent_guard.allow('gr_bot', 'drop');
SELECT agent_guard.revoke_grant(:group_grant);
UPDATE agent_guard._grants SET uses_left = 100;
RESET ROLE;
SELECT agent_guard.untag_role('gr_root');

-- what the audit says: each grant made, used, revoked, with its id
SELECT e.role_name, e.class, e.decision, e.command, e.grant_id - :first_grant AS grant,
       e.estimated_rows, e.query
FROM agent_guard.events e WHERE e.id > :first_event AND e.grant_id IS NOT NULL ORDER BY e.id;
SELECT id - :first_grant AS grant, role, class, target, uses, uses_left, used, status
FROM agent_guard.grants WHERE id > :first_grant ORDER BY id;

-- dumped by pg_dump with the extension's other tables
SELECT c::regclass AS dumped FROM pg_extension e, unnest(e.extconfig) c
WHERE e.extname = 'agent_guard' ORDER BY 1::text;

-- who may run what
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
FROM pg_proc p WHERE p.pronamespace = 'agent_guard'::regnamespace
  AND p.proname IN ('allow', 'revoke_grant', '_use_grant') ORDER BY 1::text;
SELECT has_table_privilege('public', 'agent_guard.grants', 'SELECT') AS public_reads_grants;

DROP TABLE gr_sessions, gr_orders, gr_log, gr_member_t;
SELECT agent_guard.untag_role('gr_bot');
SELECT agent_guard.untag_role('gr_bots');
REVOKE CREATE ON SCHEMA public FROM gr_bot, gr_member;
REVOKE EXECUTE ON FUNCTION agent_guard.allow(regrole, text, regclass, bigint, interval, integer, text),
                           agent_guard.revoke_grant(bigint) FROM gr_approver, gr_bot;
REVOKE SELECT ON agent_guard.grants FROM gr_approver;
DROP ROLE gr_bot, gr_member, gr_bots, gr_approver, gr_root;
SELECT setval('agent_guard.requests_id_seq', :req_seq, :'req_seq_called') > 0 AS renumbered;
