-- rewrite: ALTER TABLE ... ALTER COLUMN ... TYPE that rewrites a committed
-- table computes a new value for every row (USING NULL wipes the column,
-- numeric to integer rounds it): an UPDATE without a WHERE clause in
-- another form, class update.  A type change PostgreSQL makes without a
-- rewrite keeps every value and passes; so do temporary tables and tables
-- created in the same transaction.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
SELECT coalesce(max(id), 0) AS first_request FROM agent_guard.requests \gset
CREATE ROLE rw_parker LOGIN;
GRANT CREATE ON SCHEMA public TO rw_parker;
SELECT agent_guard.tag_role('rw_parker', 'park');

SET ROLE ag_bot;
CREATE TABLE rw_t (id int PRIMARY KEY, price numeric(10,2), name varchar(10),
                   seen timestamptz);
INSERT INTO rw_t SELECT g, g + 0.25, 'n' || g, '2026-01-02 03:04:05+00'
  FROM generate_series(1, 5) g;
CREATE TABLE rw_p (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE rw_p1 PARTITION OF rw_p FOR VALUES FROM (0) TO (10);
CREATE TABLE rw_p2 PARTITION OF rw_p FOR VALUES FROM (10) TO (20);
INSERT INTO rw_p SELECT g, g FROM generate_series(1, 15) g;
CREATE TYPE rw_comp AS (a numeric);
CREATE TABLE rw_typed OF rw_comp;
INSERT INTO rw_typed VALUES (1.5);
RESET ROLE;
-- statistics, as autovacuum keeps them: the estimated rows are then exact
-- (a table never analyzed is estimated from its size and row width)
ANALYZE rw_t, rw_p;

SET ROLE ag_bot;
-- kept values, no rewrite: allowed
ALTER TABLE rw_t ALTER COLUMN name TYPE varchar(20);
ALTER TABLE rw_t ALTER COLUMN name TYPE text;
ALTER TABLE rw_t ALTER COLUMN name TYPE text USING name;
-- a new value for every row: refused (one full message first)
ALTER TABLE rw_t ALTER COLUMN price TYPE int;
\set VERBOSITY terse
ALTER TABLE rw_t ALTER COLUMN name TYPE text USING NULL;
ALTER TABLE rw_t ALTER COLUMN name TYPE text USING upper(name);
ALTER TABLE rw_t ALTER COLUMN seen TYPE date;
ALTER TABLE rw_t ALTER COLUMN id TYPE bigint;
ALTER TABLE rw_t ALTER COLUMN price TYPE numeric(10,0);
ALTER TABLE rw_t ALTER COLUMN name TYPE varchar(2) USING left(name, 2);
-- the same through ALTER TABLE ... IF EXISTS, several subcommands, a DO
-- block, a function, and a prepared-statement-free EXECUTE
ALTER TABLE IF EXISTS rw_t ALTER COLUMN name SET DEFAULT 'x', ALTER COLUMN price TYPE int;
DO $$BEGIN EXECUTE 'ALTER TABLE rw_t ALTER COLUMN price TYPE int'; END$$;
CREATE FUNCTION rw_f() RETURNS void LANGUAGE sql
  AS 'ALTER TABLE rw_t ALTER COLUMN price TYPE int';
SELECT rw_f();
-- a partitioned table: every partition is rewritten
ALTER TABLE rw_p ALTER COLUMN v TYPE bigint;
-- a composite type: CASCADE rewrites its typed tables
ALTER TYPE rw_comp ALTER ATTRIBUTE a TYPE int CASCADE;
-- caught by an exception block: the table is as it was, the audit row stays
DO $$BEGIN
  ALTER TABLE rw_t ALTER COLUMN price TYPE int;
EXCEPTION WHEN SQLSTATE '42AG1' THEN RAISE NOTICE 'caught: %', SQLERRM;
END$$;
\set VERBOSITY default
-- exempt: a temporary table, a table created in the same transaction
CREATE TEMP TABLE rw_tmp (a numeric);
INSERT INTO rw_tmp VALUES (1.5);
ALTER TABLE rw_tmp ALTER COLUMN a TYPE int;
BEGIN;
CREATE TABLE rw_new (a numeric);
INSERT INTO rw_new VALUES (2.5);
ALTER TABLE rw_new ALTER COLUMN a TYPE int USING NULL;
COMMIT;
SELECT a FROM rw_tmp;
SELECT a FROM rw_new;
RESET ROLE;
-- nothing changed: types and values as before the refused statements
SELECT id, price, name, seen FROM rw_t ORDER BY id;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
  WHERE attrelid = 'rw_t'::regclass AND attnum > 0 ORDER BY attnum;
SELECT format_type(atttypid, atttypmod) AS rw_p2_v FROM pg_attribute
  WHERE attrelid = 'rw_p2'::regclass AND attname = 'v';
SELECT a FROM rw_typed;

-- log mode: a warning, and the statement runs
SET ROLE ag_bot_log;
CREATE TABLE rw_log (a numeric);
INSERT INTO rw_log VALUES (3.5);
RESET ROLE;
SET ROLE ag_bot_log;
ALTER TABLE rw_log ALTER COLUMN a TYPE int;
RESET ROLE;
SELECT a FROM rw_log;
-- a human session is never touched
ALTER TABLE rw_log ALTER COLUMN a TYPE numeric USING a * 2;
SELECT a FROM rw_log;

-- park, approve, re-run once
SET ROLE rw_parker;
CREATE TABLE rw_pk (a numeric);
INSERT INTO rw_pk VALUES (4.5), (5.5);
RESET ROLE;
SET ROLE rw_parker;
\set VERBOSITY sqlstate
ALTER TABLE rw_pk ALTER COLUMN a TYPE int;
\set VERBOSITY default
RESET ROLE;
SELECT id - :first_request AS req, role_name, class, command, objects, query,
       estimated_rows, status
  FROM agent_guard.requests WHERE id > :first_request ORDER BY id;
SELECT max(id) AS rw_request FROM agent_guard.requests \gset
SELECT status, decided_by FROM agent_guard.approve(:rw_request);
SET ROLE rw_parker;
SET client_min_messages = warning;	-- its NOTICE names the request's id
ALTER TABLE rw_pk ALTER COLUMN a TYPE int;
RESET client_min_messages;
-- the permit is used up: the next rewrite is parked again
\set VERBOSITY sqlstate
ALTER TABLE rw_pk ALTER COLUMN a TYPE numeric USING a * 10;
\set VERBOSITY default
RESET ROLE;
SELECT a FROM rw_pk ORDER BY a;
SELECT id - :first_request AS req, query, status
  FROM agent_guard.requests WHERE id > :first_request ORDER BY id;

SELECT role_name, class, decision, command, objects, estimated_rows, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP TABLE rw_t, rw_p, rw_new, rw_log, rw_pk, rw_typed;
DROP TYPE rw_comp;
DROP FUNCTION rw_f();
SELECT agent_guard.untag_role('rw_parker');
REVOKE CREATE ON SCHEMA public FROM rw_parker;
DROP ROLE rw_parker;
