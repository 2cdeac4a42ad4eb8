-- unlogged: ALTER TABLE ... SET UNLOGGED of a committed table keeps its
-- rows only until the next crash (an OOM kill, a power loss: the table is
-- then empty), and from then on none of its rows reach a standby or a base
-- backup.  Class truncate, decided before the table is copied; its
-- estimated rows are what a crash would lose.  A sequence set unlogged is
-- reset to its start by a crash (as TRUNCATE ... RESTART IDENTITY resets
-- it): class truncate too.  New and temporary tables, and SET LOGGED, pass.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
CREATE ROLE ul_parker LOGIN;
GRANT CREATE ON SCHEMA public TO ul_parker;
SELECT agent_guard.tag_role('ul_parker', 'park');

SET ROLE ag_bot;
CREATE TABLE ul_t (id int GENERATED ALWAYS AS IDENTITY, v text);
INSERT INTO ul_t (v) SELECT 'v' || g FROM generate_series(1, 20) g;
CREATE TABLE ul_p (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE ul_p1 PARTITION OF ul_p FOR VALUES FROM (0) TO (100);
INSERT INTO ul_p SELECT g, g FROM generate_series(1, 5) g;
CREATE SEQUENCE ul_s;
SELECT nextval('ul_s') FROM generate_series(1, 3) OFFSET 2;
CREATE UNLOGGED TABLE ul_u (id int);
INSERT INTO ul_u VALUES (1);
RESET ROLE;
ANALYZE ul_t, ul_p;

SET ROLE ag_bot;
-- refused (one full message)
ALTER TABLE ul_t SET UNLOGGED;
\set VERBOSITY terse
ALTER TABLE IF EXISTS ul_t SET UNLOGGED;
ALTER TABLE ul_t ALTER COLUMN v SET DEFAULT 'x', SET UNLOGGED;
ALTER TABLE ul_p1 SET UNLOGGED;
ALTER SEQUENCE ul_s SET UNLOGGED;
ALTER TABLE ul_s SET UNLOGGED;
DO $$BEGIN EXECUTE 'ALTER TABLE ul_t SET UNLOGGED'; END$$;
CREATE FUNCTION ul_f() RETURNS void LANGUAGE sql AS 'ALTER TABLE ul_t SET UNLOGGED';
SELECT ul_f();
BEGIN;
SAVEPOINT a;
ALTER TABLE ul_t SET UNLOGGED;
ROLLBACK TO a;
COMMIT;
\set VERBOSITY default
-- allowed: an already unlogged table, SET LOGGED, a new table (a
-- temporary table has no logged status to change; a partitioned parent
-- holds no rows, and PostgreSQL ignores it before 18, refuses it since)
ALTER TABLE ul_u SET UNLOGGED;
ALTER TABLE ul_u SET LOGGED;
BEGIN;
CREATE TABLE ul_new (id int);
INSERT INTO ul_new VALUES (1);
ALTER TABLE ul_new SET UNLOGGED;
COMMIT;
RESET ROLE;
SELECT relname, relpersistence FROM pg_class
  WHERE relname IN ('ul_t', 'ul_t_id_seq', 'ul_p', 'ul_p1', 'ul_s', 'ul_u', 'ul_new')
  ORDER BY relname;

-- log mode: a warning, and it runs
SET ROLE ag_bot_log;
CREATE TABLE ul_log (id int);
INSERT INTO ul_log VALUES (1), (2);
RESET ROLE;
ANALYZE ul_log;
SET ROLE ag_bot_log;
ALTER TABLE ul_log SET UNLOGGED;
RESET ROLE;
SELECT relpersistence FROM pg_class WHERE relname = 'ul_log';
-- a human session is never touched
ALTER TABLE ul_log SET LOGGED;
ALTER TABLE ul_log SET UNLOGGED;

-- park, approve, re-run once
SET ROLE ul_parker;
CREATE TABLE ul_pk (id int);
INSERT INTO ul_pk VALUES (1);
RESET ROLE;
ANALYZE ul_pk;
SET ROLE ul_parker;
\set VERBOSITY sqlstate
ALTER TABLE ul_pk SET UNLOGGED;
\set VERBOSITY default
RESET ROLE;
SELECT max(id) AS ul_request FROM agent_guard.requests \gset
SELECT role_name, class, command, objects, query, estimated_rows, status
  FROM agent_guard.requests WHERE id = :ul_request;
SELECT status FROM agent_guard.approve(:ul_request);
SET ROLE ul_parker;
SET client_min_messages = warning;	-- its NOTICE names the request's id
ALTER TABLE ul_pk SET UNLOGGED;
RESET client_min_messages;
RESET ROLE;
SELECT relpersistence FROM pg_class WHERE relname = 'ul_pk';

SELECT role_name, class, decision, command, objects, estimated_rows, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP TABLE ul_t, ul_p, ul_u, ul_new, ul_log, ul_pk;
DROP SEQUENCE ul_s;
DROP FUNCTION ul_f();
SELECT agent_guard.untag_role('ul_parker');
REVOKE CREATE ON SCHEMA public FROM ul_parker;
DROP ROLE ul_parker;
