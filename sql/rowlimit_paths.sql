-- rowlimit_paths: row-limit paths an agent that OWNS its tables might use to
-- change more than max_rows rows in one top-level statement; each must be
-- stopped (42AG1) with nothing lost, or counted as documented.
-- Role: rt_rl_bot (reject, max_rows 5), owner of every table below.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
CREATE ROLE rt_rl_bot LOGIN;
GRANT CREATE ON SCHEMA public TO rt_rl_bot;
SELECT agent_guard.tag_role('rt_rl_bot', 'reject', max_rows => 5);

-- fixtures created by the agent (committed before any guarded statement)
SET ROLE rt_rl_bot;
CREATE TABLE rt_w (id int PRIMARY KEY, v int);
CREATE TABLE rt_u (id int PRIMARY KEY, v int);
CREATE TABLE rt_c (id int PRIMARY KEY, wid int REFERENCES rt_w ON DELETE CASCADE);
CREATE INDEX ON rt_c (wid);
CREATE VIEW rt_wv AS SELECT * FROM rt_w;
CREATE TABLE rt_pt (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE rt_pt1 PARTITION OF rt_pt FOR VALUES FROM (0) TO (50);
CREATE TABLE rt_pt2 PARTITION OF rt_pt FOR VALUES FROM (50) TO (1000);
CREATE TABLE rt_d (id int);
INSERT INTO rt_w SELECT g, g FROM generate_series(1, 100) g;
INSERT INTO rt_u SELECT g, g FROM generate_series(1, 100) g;
INSERT INTO rt_c SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO rt_pt SELECT g, g FROM generate_series(1, 100) g;
CREATE FUNCTION rt_del(i int) RETURNS int LANGUAGE sql
  AS $$ DELETE FROM rt_u WHERE id = i RETURNING id $$;
CREATE FUNCTION rt_del_srf(n int) RETURNS SETOF int LANGUAGE plpgsql
  AS $$ BEGIN FOR i IN 1..n LOOP DELETE FROM rt_u WHERE id = i; RETURN NEXT i; END LOOP; END $$;
CREATE PROCEDURE rt_proc(n int) LANGUAGE plpgsql
  AS $$ BEGIN FOR i IN 1..n LOOP DELETE FROM rt_u WHERE id = i; COMMIT; END LOOP; END $$;
CREATE FUNCTION rt_trg() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM rt_u WHERE id = NEW.id; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER rt_dt AFTER INSERT ON rt_d DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION rt_trg();
RESET ROLE;
-- a SECURITY DEFINER function owned by the human: the session is still the agent's
CREATE FUNCTION rt_human_del(i int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN DELETE FROM rt_u WHERE id = i; RETURN i; END $$;
GRANT EXECUTE ON FUNCTION rt_human_del(int) TO rt_rl_bot;
ANALYZE rt_w, rt_u, rt_c, rt_pt;
CREATE VIEW rt_state AS
  SELECT (SELECT count(*) FROM rt_w) AS w, (SELECT sum(v) FROM rt_w) AS wsum,
         (SELECT count(*) FROM rt_u) AS u, (SELECT count(*) FROM rt_c) AS c,
         (SELECT count(*) FROM rt_pt) AS pt, (SELECT sum(id) FROM rt_pt) AS ptsum;

-- one representative case with full wording: v % 10 = 1 is estimated at 1 row,
-- matches 10: the exact count stops it at the 6th
SET ROLE rt_rl_bot;
EXPLAIN (COSTS OFF) DELETE FROM rt_w WHERE v % 10 = 1;
DELETE FROM rt_w WHERE v % 10 = 1;
\set VERBOSITY terse
-- each statement below would change more than 5 rows; each is stopped
DELETE FROM rt_wv WHERE v % 10 = 1;
DELETE FROM rt_pt WHERE v % 10 = 1;
UPDATE rt_pt SET id = id + 500 WHERE v % 10 = 1;
WITH d AS (DELETE FROM rt_w WHERE v % 10 = 1 RETURNING *) SELECT 1;
WITH d AS (DELETE FROM rt_w WHERE v % 10 = 1 RETURNING *) SELECT 1 FROM d LIMIT 1;
UPDATE rt_w SET v = 0 FROM rt_u WHERE rt_w.id = rt_u.id AND rt_u.v % 10 = 1;
MERGE INTO rt_w USING (SELECT * FROM rt_u WHERE v % 10 = 1) s ON rt_w.id = s.id
  WHEN MATCHED AND rt_w.v > 0 THEN DELETE;
-- a foreign-key cascade adds into the same count: 3 parents + 3 children
DELETE FROM rt_w WHERE id IN (1, 2, 3);
-- functions called from a SELECT, one row each
SELECT count(rt_del(g)) FROM generate_series(1, 8) g;
SELECT * FROM rt_del_srf(8) LIMIT 3;
SELECT count(rt_human_del(g)) FROM generate_series(1, 8) g;
-- dynamic SQL, one row per EXECUTE, with the error caught: rows 6.. are stopped again
DO $$ BEGIN
  FOR i IN 1..8 LOOP
    BEGIN
      EXECUTE format('DELETE FROM rt_u WHERE id = %s', i);
    EXCEPTION WHEN SQLSTATE '42AG1' THEN RAISE NOTICE 'row % stopped', i;
    END;
  END LOOP;
END $$;
-- the DO block committed only its first 5 rows
RESET ROLE;
SELECT * FROM rt_state;
SELECT min(id) FROM rt_u;
INSERT INTO rt_u SELECT g, g FROM generate_series(1, 5) g;
SET ROLE rt_rl_bot;
-- deferred triggers run at COMMIT: 4 + 4 rows from two statements, counted together
BEGIN;
INSERT INTO rt_d SELECT generate_series(1, 4);
INSERT INTO rt_d SELECT generate_series(5, 8);
COMMIT;
-- a procedure that COMMITs keeps its count: stopped at the 6th, the first 5 stay
CALL rt_proc(8);
-- a ROLLBACK inside a procedure keeps the count too (rows rolled back were
-- changed all the same): 3 + 3 rows stop it at the 6th, and later
-- statements are counted afresh
CREATE PROCEDURE rt_proc_rb() LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM rt_w WHERE id BETWEEN 91 AND 93;
  ROLLBACK;
  DELETE FROM rt_w WHERE id BETWEEN 91 AND 93;
  COMMIT;
END $$;
CALL rt_proc_rb();
DELETE FROM rt_w WHERE id BETWEEN 91 AND 93;
INSERT INTO rt_w SELECT g, g FROM generate_series(91, 93) g;
RESET ROLE;
SELECT * FROM rt_state;
SELECT min(id) FROM rt_u;
INSERT INTO rt_u SELECT g, g FROM generate_series(1, 5) g;

-- INSERT ... ON CONFLICT DO UPDATE counts every row it proposes: 10 rows of
-- rt_w picked by a condition estimated at 1 row overwrite rows of rt_u
SET ROLE rt_rl_bot;
INSERT INTO rt_u SELECT id, 0 FROM rt_w WHERE v % 10 = 1
  ON CONFLICT (id) DO UPDATE SET v = 0;
-- ... and is judged by its estimate before it runs
INSERT INTO rt_u SELECT g, 0 FROM generate_series(1, 8) g
  ON CONFLICT (id) DO UPDATE SET v = 0;
-- DO NOTHING overwrites nothing: not counted
INSERT INTO rt_u SELECT g, 0 FROM generate_series(1, 8) g ON CONFLICT DO NOTHING;
-- a rule's actions are part of the statement: 4 rows updated + 4 deleted
CREATE TABLE rt_r (id int PRIMARY KEY, v int);
INSERT INTO rt_r SELECT g, g FROM generate_series(11, 14) g;
CREATE RULE rt_rr AS ON UPDATE TO rt_r DO ALSO DELETE FROM rt_w WHERE rt_w.id = new.id;
UPDATE rt_r SET v = v + 1 WHERE id IN (11, 12, 13, 14);
-- a function run inside ExecutorStart (initial partition pruning calls a
-- STABLE function; its first two calls come from the planner) belongs to
-- the statement: stopped at the 6th row
CREATE FUNCTION rt_delloop(n int) RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN FOR i IN 1..n LOOP DELETE FROM rt_u WHERE id = i; END LOOP; RETURN 1; END $$;
CREATE FUNCTION rt_stab(n int) RETURNS int LANGUAGE plpgsql STABLE AS $$
DECLARE k int := coalesce(nullif(current_setting('rt.k', true), ''), '0')::int + 1;
BEGIN PERFORM set_config('rt.k', k::text, false);
  IF k >= 3 THEN RETURN rt_delloop(n); END IF; RETURN 1; END $$;
SELECT count(*) FROM rt_pt WHERE id = rt_stab(100);
-- a one-row delete whose foreign-key cascade the planner over-estimates
-- (an empty child without an index) is not refused: the cascade is judged
-- by its exact count only
CREATE TABLE rt_c2 (id int PRIMARY KEY, uid int REFERENCES rt_u ON DELETE CASCADE);
DELETE FROM rt_u WHERE id = 100;
RESET ROLE;
SELECT * FROM rt_state;
SELECT count(*) AS rt_r_rows, sum(v) AS rt_r_sum FROM rt_r;
INSERT INTO rt_u VALUES (100, 100);

-- the estimate: bounded statements the planner puts above the limit
SET ROLE rt_rl_bot;
\set VERBOSITY default
DELETE FROM rt_w WHERE id <= 50;
\set VERBOSITY terse
UPDATE rt_w SET v = 0 FROM rt_u WHERE rt_w.id = rt_u.id AND rt_u.id > 50;
MERGE INTO rt_w USING rt_u ON rt_w.id = rt_u.id AND rt_u.id > 50
  WHEN MATCHED THEN UPDATE SET v = 0;
-- a generic plan has no value for $1: estimated at a third of the table
SET plan_cache_mode = force_generic_plan;
PREPARE rt_q(int) AS DELETE FROM rt_w WHERE id > $1;
EXECUTE rt_q(98);
DEALLOCATE rt_q;
RESET plan_cache_mode;
-- within the limit: runs
DELETE FROM rt_w WHERE id IN (99, 100);
-- the limit cannot be changed by the agent
SET agent_guard.max_rows = 0;
ALTER ROLE rt_rl_bot SET agent_guard.max_rows = 0;
SELECT agent_guard.tag_role('rt_rl_bot', 'reject', max_rows => 0);
RESET ROLE;
\set VERBOSITY default
SELECT * FROM rt_state;

-- the audit
SELECT class, decision, command,
       regexp_replace(left(query, 60), '\s+', ' ', 'g') AS query, estimated_rows
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- clean up
DROP VIEW rt_state;
DROP TABLE rt_c, rt_c2, rt_r, rt_w, rt_u, rt_pt, rt_d CASCADE;
DROP FUNCTION rt_del(int), rt_del_srf(int), rt_trg(), rt_human_del(int),
  rt_delloop(int), rt_stab(int);
DROP PROCEDURE rt_proc(int), rt_proc_rb();
REVOKE CREATE ON SCHEMA public FROM rt_rl_bot;
DROP ROLE rt_rl_bot;
