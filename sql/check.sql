-- check: agent_guard.check(query) reports what the guard would decide for
-- one statement in the caller's session, for every class and action,
-- without running it and without recording anything (no request, no
-- audit row, no NOTIFY, no counter).
\set SHOW_CONTEXT never
CREATE ROLE ck_bot LOGIN;
CREATE ROLE ck_logbot LOGIN;
CREATE ROLE ck_rejbot LOGIN;
GRANT CREATE ON SCHEMA public TO ck_bot;
SELECT agent_guard.tag_role('ck_bot', 'park', max_rows => 10);
SELECT agent_guard.tag_role('ck_logbot', 'log');
SELECT agent_guard.tag_role('ck_rejbot', 'reject');
SET ROLE ck_bot;
CREATE TABLE ck_t (id int PRIMARY KEY, v text);
INSERT INTO ck_t SELECT g, 'x' FROM generate_series(1, 50) g;
CREATE VIEW ck_v AS SELECT id FROM ck_t;
CREATE TABLE ck_small (id int);
INSERT INTO ck_small VALUES (1), (2);
RESET ROLE;
GRANT ALL ON ck_t, ck_small TO ck_logbot, ck_rejbot;
ANALYZE ck_t, ck_small;
SELECT count(*) AS events_before FROM agent_guard.events \gset
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
CREATE TEMP TABLE ck_counters AS SELECT * FROM agent_guard.counters;
LISTEN agent_guard;

SET ROLE ck_bot;
-- drop: what a CASCADE would take
SELECT * FROM agent_guard.check('DROP TABLE ck_t CASCADE');
SELECT * FROM agent_guard.check('ALTER TABLE ck_t DROP COLUMN v');
-- truncate
SELECT * FROM agent_guard.check('TRUNCATE ck_small');
-- delete and update: unbounded, above the row limit, bounded
SELECT * FROM agent_guard.check('DELETE FROM ck_t');
SELECT * FROM agent_guard.check('DELETE FROM ck_t WHERE id > 5');
SELECT * FROM agent_guard.check('DELETE FROM ck_t WHERE id = 5');
SELECT * FROM agent_guard.check('UPDATE ck_t SET v = NULL');
SELECT * FROM agent_guard.check('WITH d AS (DELETE FROM ck_small RETURNING *) SELECT * FROM d');
SELECT * FROM agent_guard.check('MERGE INTO ck_small s USING ck_t t ON s.id = t.id WHEN MATCHED THEN DELETE');
SELECT * FROM agent_guard.check('ALTER TABLE ck_small ALTER COLUMN id TYPE bigint');
-- guard
SELECT * FROM agent_guard.check('DELETE FROM agent_guard.events');
SELECT * FROM agent_guard.check('DROP EXTENSION agent_guard');
SELECT * FROM agent_guard.check('SET agent_guard.max_rows = 0');
-- allowed
SELECT * FROM agent_guard.check('SELECT count(*) FROM ck_t');
SELECT * FROM agent_guard.check('CREATE TABLE ck_new (id int)');
SELECT * FROM agent_guard.check('INSERT INTO ck_small VALUES (3)');
-- unknown: statements check() does not run, and errors before a decision
SELECT * FROM agent_guard.check('VACUUM ck_t');
SELECT * FROM agent_guard.check('COMMIT');
SELECT * FROM agent_guard.check('CREATE INDEX CONCURRENTLY ON ck_t (v)');
SELECT * FROM agent_guard.check('DROP TABLE ck_t');
SELECT * FROM agent_guard.check('DROP TABLE ck_missing');
-- functions are decided when they run: check() plans a SELECT, it does not
-- call what it calls (here approve(), which an agent session may not run,
-- and check() itself)
SELECT * FROM agent_guard.check('SELECT agent_guard.approve(1)');
SELECT * FROM agent_guard.check('SELECT agent_guard.check(''DROP TABLE ck_t'')');
-- decided before they would run: the drops that cannot be rolled back
RESET ROLE;
SELECT format('DROP DATABASE %I', current_database()) AS drop_db \gset
SET ROLE ck_bot;
SELECT * FROM agent_guard.check(:'drop_db');
SELECT * FROM agent_guard.check('DROP DATABASE ck_no_such_db');
-- a DO block that swallows the guard's error, EXPLAIN ANALYZE, a prepared
-- statement: the decision is still reported, and nothing stays
SELECT * FROM agent_guard.check('DO $$ BEGIN DELETE FROM ck_t; EXCEPTION WHEN OTHERS THEN NULL; END $$');
SELECT * FROM agent_guard.check('EXPLAIN ANALYZE DELETE FROM ck_t');
PREPARE ck_wipe AS DELETE FROM ck_small;
SELECT * FROM agent_guard.check('EXECUTE ck_wipe');
DEALLOCATE ck_wipe;
-- nothing ran: the rows, the view, the column, the new table
SELECT count(*) AS ck_t_rows, count(v) AS v_values FROM ck_t;
SELECT current_database() IS NOT NULL AS database_kept;
SELECT count(*) AS ck_small_rows FROM ck_small;
SELECT to_regclass('ck_v') IS NOT NULL AS view_kept, to_regclass('ck_new') IS NULL AS no_new_table;
RESET ROLE;

-- log and reject actions: what they would do
SET ROLE ck_logbot;
SELECT * FROM agent_guard.check('DELETE FROM ck_t');
RESET ROLE;
SET ROLE ck_rejbot;
SELECT * FROM agent_guard.check('TRUNCATE ck_t');
RESET ROLE;

-- a human session: the guard does not touch it, check() runs nothing
SELECT * FROM agent_guard.check('DROP TABLE ck_t CASCADE');
SELECT to_regclass('ck_t') IS NOT NULL AS table_kept;

-- bad input
SELECT * FROM agent_guard.check(NULL);
SELECT * FROM agent_guard.check('');
SELECT * FROM agent_guard.check('DELETE FROM ck_t; DROP TABLE ck_t');
SELECT * FROM agent_guard.check('DELEET FROM ck_t');

-- nothing recorded: no audit row, no request, no counter, no NOTIFY
-- (psql would print a notification after the next command)
SELECT count(*) - :events_before AS new_events FROM agent_guard.events;
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;
SELECT c.class FROM agent_guard.counters c JOIN ck_counters o USING (class)
WHERE (c.parked, c.rejected, c.logged, c.used) IS DISTINCT FROM (o.parked, o.rejected, o.logged, o.used);
UNLISTEN agent_guard;

SELECT has_function_privilege('public', 'agent_guard.check(text)', 'EXECUTE') AS public_may_run;

DROP TABLE ck_t CASCADE;
DROP TABLE ck_small;
SELECT agent_guard.untag_role('ck_bot');
SELECT agent_guard.untag_role('ck_logbot');
SELECT agent_guard.untag_role('ck_rejbot');
REVOKE CREATE ON SCHEMA public FROM ck_bot;
DROP ROLE ck_bot, ck_logbot, ck_rejbot;
