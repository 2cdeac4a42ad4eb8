-- rowlimit: row limits for agent DML (plan estimate before it runs, exact
-- count while it runs, cumulative over one top-level statement) and the
-- CASCADE preview with estimated rows for agent drops and truncates.
-- Roles: bl_bot (reject, max_rows 5), bl_park (park, 5), bl_log (log, 5),
-- bl_def (reject, no max_rows: the setting), bl_off (reject, max_rows 0).
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
SELECT coalesce(max(id), 0) AS last_req FROM agent_guard.requests \gset
SHOW agent_guard.max_rows;

CREATE ROLE bl_bot LOGIN;
CREATE ROLE bl_park LOGIN;
CREATE ROLE bl_log LOGIN;
CREATE ROLE bl_def LOGIN;
CREATE ROLE bl_off LOGIN;
GRANT CREATE ON SCHEMA public TO bl_bot, bl_park, bl_log, bl_def, bl_off;
SELECT agent_guard.tag_role('bl_bot', 'reject', max_rows => 5);
SELECT agent_guard.tag_role('bl_park', max_rows => 5);
SELECT agent_guard.tag_role('bl_log', 'log', 5);
SELECT agent_guard.tag_role('bl_def', 'reject');
SELECT agent_guard.tag_role('bl_off', 'reject', max_rows => 0);
SELECT role, action, max_rows FROM agent_guard.agents
WHERE role::text LIKE 'bl\_%' ORDER BY role::text;
SELECT provider, label FROM pg_shseclabel
WHERE objoid = 'bl_bot'::regrole ORDER BY 1;

-- bad input changes nothing; the 1.0 label form still parses (pg_dumpall)
SELECT agent_guard.tag_role('bl_bot', 'reject', max_rows => -1);
SECURITY LABEL FOR agent_guard ON ROLE bl_bot IS 'reject max_rows=lots';
SECURITY LABEL FOR agent_guard ON ROLE bl_bot IS 'reject max_rows=';
SECURITY LABEL FOR agent_guard ON ROLE bl_bot IS 'reject  max_rows=5';
SECURITY LABEL FOR agent_guard ON ROLE bl_bot IS 'destroy max_rows=5';
SECURITY LABEL FOR agent_guard ON ROLE bl_def IS 'reject';
SELECT role, action, max_rows FROM agent_guard.agents
WHERE role::text IN ('bl_bot', 'bl_def') ORDER BY role::text;

-- fixtures, owned by the human; agents act through privileges
CREATE TABLE bl_t (id int PRIMARY KEY, v int);
INSERT INTO bl_t SELECT g, g FROM generate_series(1, 20) g;
CREATE TABLE bl_src (id int);
CREATE TABLE bl_parent (id int PRIMARY KEY);
INSERT INTO bl_parent VALUES (1), (2);
CREATE TABLE bl_child (id int, pid int REFERENCES bl_parent ON DELETE CASCADE);
INSERT INTO bl_child SELECT g, 1 + g % 2 FROM generate_series(1, 10) g;
CREATE TABLE bl_ins (id int);
CREATE TABLE bl_defer (id int);
CREATE TABLE bl_ruled (id int);
ANALYZE bl_t, bl_parent, bl_child;
GRANT SELECT, INSERT, UPDATE, DELETE ON bl_t, bl_src, bl_parent, bl_child,
  bl_ins, bl_defer, bl_ruled TO bl_bot, bl_park, bl_log, bl_def, bl_off;
CREATE FUNCTION bl_del(i int) RETURNS void LANGUAGE sql
  AS 'DELETE FROM bl_t WHERE id = i';
CREATE FUNCTION bl_del_loop(n int) RETURNS int VOLATILE LANGUAGE plpgsql
  AS $$BEGIN FOR i IN 1..n LOOP DELETE FROM bl_t WHERE id = i; END LOOP; RETURN n; END$$;
-- IMMUTABLE: folded at plan time, so the deletes run while planning
CREATE FUNCTION bl_del_planned(n int) RETURNS int IMMUTABLE LANGUAGE plpgsql
  AS $$BEGIN RETURN bl_del_loop(n); END$$;
CREATE FUNCTION bl_trg() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN DELETE FROM bl_t WHERE id = NEW.id; RETURN NEW; END$$;
CREATE TRIGGER bl_trg AFTER INSERT ON bl_ins FOR EACH ROW EXECUTE FUNCTION bl_trg();
CREATE CONSTRAINT TRIGGER bl_deferred AFTER INSERT ON bl_defer
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bl_trg();
CREATE RULE bl_rule AS ON INSERT TO bl_ruled DO ALSO DELETE FROM bl_t WHERE id = NEW.id;
CREATE PROCEDURE bl_proc() LANGUAGE plpgsql
  AS $$BEGIN FOR i IN 1..10 LOOP DELETE FROM bl_t WHERE id = i; COMMIT; END LOOP; END$$;
INSERT INTO bl_src SELECT g FROM generate_series(1, 10) g;

-- 1. the plan estimate above the limit: decided before anything runs
SET ROLE bl_bot;
DELETE FROM bl_t WHERE id <= 10;
\set VERBOSITY terse
UPDATE bl_t SET v = 0 WHERE id <= 10;
\set VERBOSITY default

-- 2. an under-estimated statement (the planner guesses 1 row for v % 2 = 0)
-- is stopped by the exact count at row 6; the table is left intact
EXPLAIN (COSTS OFF) DELETE FROM bl_t WHERE v % 2 = 0;
DELETE FROM bl_t WHERE v % 2 = 0;
RESET ROLE;
SELECT count(*) FROM bl_t;

-- 3. every path adds into one total per top-level statement
SET ROLE bl_bot;
\set VERBOSITY terse
UPDATE bl_t SET v = v WHERE v % 2 = 1;
-- a DO loop of single-row deletes
DO $$BEGIN FOR i IN 1..10 LOOP DELETE FROM bl_t WHERE id = i; END LOOP; END$$;
-- a function, once per row of a query
SELECT bl_del(g) FROM generate_series(1, 10) g;
-- a trigger on another table
INSERT INTO bl_ins SELECT g FROM generate_series(1, 10) g;
-- a rule (its DELETE runs as a plan of its own)
INSERT INTO bl_ruled SELECT id FROM bl_t WHERE v % 2 = 0;
-- a foreign-key ON DELETE CASCADE (1 parent row + 5 child rows)
DELETE FROM bl_parent WHERE id = 1;
-- a data-modifying CTE
WITH d AS (DELETE FROM bl_t WHERE v % 2 = 0 RETURNING 1) SELECT count(*) FROM d;
-- two CTEs of 3 rows each: 6 in one statement
WITH a AS (DELETE FROM bl_t WHERE id IN (1, 2, 3) RETURNING 1),
     b AS (DELETE FROM bl_t WHERE id IN (4, 5, 6) RETURNING 1)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b);
-- MERGE: a condition on the target leaves it to the exact count
MERGE INTO bl_t t USING bl_src s ON t.id = s.id
  WHEN MATCHED AND t.v > 0 THEN DELETE;
MERGE INTO bl_t t USING bl_src s ON t.id = s.id
  WHEN MATCHED AND t.v > 0 THEN UPDATE SET v = t.v;
-- EXPLAIN ANALYZE runs it
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DELETE FROM bl_t WHERE v % 2 = 0;
-- a function folded at plan time
SELECT bl_del_planned(10);
-- the deferred triggers fired at COMMIT add up too
INSERT INTO bl_defer SELECT g FROM generate_series(1, 10) g;
-- a cursor read to the end in one FETCH
BEGIN;
DECLARE c CURSOR FOR SELECT bl_del(g) FROM generate_series(1, 10) g;
FETCH ALL FROM c;
ROLLBACK;
\set VERBOSITY default
RESET ROLE;
SELECT (SELECT count(*) FROM bl_t) AS t, (SELECT count(*) FROM bl_parent) AS parent,
       (SELECT count(*) FROM bl_child) AS child, (SELECT count(*) FROM bl_ins) AS ins,
       (SELECT count(*) FROM bl_defer) AS defer, (SELECT count(*) FROM bl_ruled) AS ruled;

-- 4. ways around the count that do not work
SET ROLE bl_bot;
-- an exception block that catches the error does not reset the count: the
-- loop goes on, but every delete after the fifth is stopped
DO $$
DECLARE n int := 0; stopped int := 0;
BEGIN
  FOR i IN 1..10 LOOP
    BEGIN
      DELETE FROM bl_t WHERE id = i;
      n := n + 1;
    EXCEPTION WHEN SQLSTATE '42AG1' THEN stopped := stopped + 1;
    END;
  END LOOP;
  RAISE NOTICE 'deleted %, stopped %', n, stopped;
END$$;
-- nor does an exception block whose delete failed for another reason
DO $$
BEGIN
  FOR i IN 11..20 LOOP
    BEGIN
      DELETE FROM bl_t WHERE id = i;
      PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
  END LOOP;
END$$;
RESET ROLE;
SELECT count(*) FROM bl_t;
INSERT INTO bl_t SELECT g, g FROM generate_series(1, 5) g;
-- a procedure that commits after each row: the count goes on across its
-- COMMITs (what it committed before the limit stays committed)
SET ROLE bl_bot;
CALL bl_proc();
RESET ROLE;
SELECT count(*) FROM bl_t;
INSERT INTO bl_t SELECT g, g FROM generate_series(1, 5) g;
-- each top-level statement has its own count: savepoints and FETCHes are
-- statements of their own, as if sent one by one
SET ROLE bl_bot;
BEGIN;
SAVEPOINT s;
DELETE FROM bl_t WHERE id IN (1, 2, 3);
ROLLBACK TO SAVEPOINT s;
DELETE FROM bl_t WHERE id IN (1, 2, 3);
DELETE FROM bl_t WHERE id IN (4, 5, 6);
DECLARE c CURSOR FOR SELECT bl_del(g) FROM generate_series(7, 12) g;
FETCH 3 FROM c;
FETCH 3 FROM c;
ROLLBACK;
-- temporary tables are exempt: not counted
CREATE TEMP TABLE bl_tmp AS SELECT g FROM generate_series(1, 100) g;
DELETE FROM bl_tmp WHERE g > 0;
DROP TABLE bl_tmp;
-- the limit is not an agent's to change
SET agent_guard.max_rows = 0;
\set VERBOSITY terse
SELECT set_config('agent_guard.max_rows', '0', false);
RESET agent_guard.max_rows;
\set VERBOSITY default
RESET ROLE;

-- 5. the setting, and a role's own limit overriding it
SET agent_guard.max_rows = 3;
SET ROLE bl_def;
DELETE FROM bl_t WHERE id IN (1, 2, 3, 4);
RESET ROLE;
\set VERBOSITY terse
-- bl_bot's own 5 overrides the setting's 3
SET ROLE bl_bot;
BEGIN;
DELETE FROM bl_t WHERE id IN (1, 2, 3, 4, 5);
ROLLBACK;
RESET ROLE;
-- bl_off's own 0: no limit for that role
SET ROLE bl_off;
BEGIN;
DELETE FROM bl_t WHERE v % 2 = 0;
ROLLBACK;
RESET ROLE;
-- setting 0: no limit for roles without their own
SET agent_guard.max_rows = 0;
SET ROLE bl_def;
BEGIN;
DELETE FROM bl_t WHERE v % 2 = 0;
ROLLBACK;
RESET ROLE;
RESET agent_guard.max_rows;
-- a session under two tags: the strictest limit wins
GRANT bl_bot TO bl_off;
SET ROLE bl_off;
DELETE FROM bl_t WHERE v % 2 = 0;
RESET ROLE;
REVOKE bl_bot FROM bl_off;
\set VERBOSITY default
-- humans are never counted
BEGIN;
DELETE FROM bl_t WHERE v % 2 = 0;
ROLLBACK;

-- 6. log: one WARNING per statement, and it runs
SET ROLE bl_log;
BEGIN;
DELETE FROM bl_t WHERE v % 2 = 0;
SELECT count(*) FROM bl_t;
ROLLBACK;
BEGIN;
\set VERBOSITY terse
DELETE FROM bl_t WHERE id <= 10;
\set VERBOSITY default
ROLLBACK;
RESET ROLE;

-- 7. park: a request with the estimate or the count reached; an approved
-- re-run runs once, without the limit
SET ROLE bl_park;
DELETE FROM bl_t WHERE id <= 10;
DELETE FROM bl_t WHERE v % 2 = 0;
RESET ROLE;
SELECT class, command, objects, query, estimated_rows FROM agent_guard.pending
WHERE id > :last_req ORDER BY id;
SELECT (agent_guard.approve(id)).status FROM agent_guard.requests
WHERE id > :last_req AND status = 'pending';
SET ROLE bl_park;
BEGIN;
DELETE FROM bl_t WHERE id <= 10;
SELECT count(*) FROM bl_t;
ROLLBACK;
BEGIN;
DELETE FROM bl_t WHERE v % 2 = 0;
SELECT count(*) FROM bl_t;
ROLLBACK;
RESET ROLE;
SELECT status, estimated_rows FROM agent_guard.requests WHERE id > :last_req ORDER BY id;

-- 8. CASCADE preview: every object the drop takes, and the rows lost
CREATE TABLE bl_c (id int PRIMARY KEY, v text);
INSERT INTO bl_c SELECT g, 'v' || g FROM generate_series(1, 40) g;
CREATE TABLE bl_cref (id int, cid int REFERENCES bl_c);
INSERT INTO bl_cref VALUES (1, 1), (2, 2);
CREATE VIEW bl_cv AS SELECT id, v FROM bl_c;
CREATE VIEW bl_cvv AS SELECT v FROM bl_c;
CREATE FUNCTION bl_cfn(r bl_c) RETURNS int LANGUAGE sql AS 'SELECT r.id';
CREATE SCHEMA bl_s;
CREATE TABLE bl_s.a (id int);
CREATE TABLE bl_s.b (id int);
INSERT INTO bl_s.a SELECT generate_series(1, 30);
INSERT INTO bl_s.b SELECT generate_series(1, 12);
CREATE VIEW bl_s.v AS SELECT id FROM bl_s.a;
ANALYZE bl_c, bl_cref, bl_s.a, bl_s.b;
-- owned by an untagged group both agents belong to
CREATE ROLE bl_owner;
GRANT bl_owner TO bl_bot, bl_park;
ALTER TABLE bl_c OWNER TO bl_owner;
ALTER TABLE bl_cref OWNER TO bl_owner;
ALTER SCHEMA bl_s OWNER TO bl_owner;
ALTER TABLE bl_s.a OWNER TO bl_owner;
ALTER TABLE bl_s.b OWNER TO bl_owner;
ALTER VIEW bl_s.v OWNER TO bl_owner;
SET ROLE bl_bot;
DROP TABLE bl_c CASCADE;
DROP SCHEMA bl_s CASCADE;
ALTER TABLE bl_c DROP COLUMN v CASCADE;
TRUNCATE bl_c CASCADE;
RESET ROLE;
SET ROLE bl_park;
DROP TABLE bl_c CASCADE;
RESET ROLE;
SELECT class, command, objects, estimated_rows FROM agent_guard.pending
WHERE id > :last_req ORDER BY id;
SELECT (SELECT count(*) FROM bl_c) AS c, (SELECT count(*) FROM bl_cref) AS cref,
       (SELECT count(*) FROM bl_s.a) AS a, to_regclass('bl_cv') IS NOT NULL AS view_kept;

-- the audit
SELECT role_name, class, decision, command,
       regexp_replace(left(query, 60), '\s+', ' ', 'g') AS query, estimated_rows
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- clean up
SELECT (agent_guard.reject(id)).status FROM agent_guard.requests
WHERE id > :last_req AND status = 'pending';
DROP SCHEMA bl_s CASCADE;
DROP TABLE bl_c, bl_cref, bl_t, bl_src, bl_parent, bl_child, bl_ins, bl_defer,
  bl_ruled CASCADE;
DROP FUNCTION bl_del(int), bl_del_planned(int), bl_del_loop(int), bl_trg();
DROP PROCEDURE bl_proc();
REVOKE CREATE ON SCHEMA public FROM bl_bot, bl_park, bl_log, bl_def, bl_off;
DROP ROLE bl_bot, bl_park, bl_log, bl_def, bl_off, bl_owner;
