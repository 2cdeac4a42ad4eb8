-- dml: unbounded DELETE and UPDATE (classes delete and update).
-- "Unbounded" is decided on the plan (src/dml.c): no qual that references
-- a column of the target after constant folding, or a join with no join
-- condition.  Every path that runs a plan is covered, for ag_bot (reject),
-- ag_bot_log (log: runs with a WARNING) and ag_human (untouched), on tables
-- with committed rows; the table of cases is sql/dml_cases.inc.
\set SHOW_CONTEXT never

-- fixtures, owned by the human (the agents act through privileges) ...
CREATE TABLE dml_t (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE dml_o (id int PRIMARY KEY, x int NOT NULL);
CREATE TABLE dml_s (id int PRIMARY KEY, x int NOT NULL);
CREATE TABLE dml_p (id int NOT NULL, v int NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE dml_p1 PARTITION OF dml_p FOR VALUES FROM (1) TO (4);
CREATE TABLE dml_p2 PARTITION OF dml_p FOR VALUES FROM (4) TO (1000);
CREATE TABLE dml_a (id int);
CREATE TABLE dml_b (id int NOT NULL);
CREATE TABLE dml_log (id int);
CREATE VIEW dml_v AS SELECT id, v FROM dml_t;
CREATE VIEW dml_vw AS SELECT id, v FROM dml_t WHERE id >= 3;
INSERT INTO dml_t SELECT g, g * 10 FROM generate_series(1, 5) g;
INSERT INTO dml_o VALUES (1, 1), (2, 2);
INSERT INTO dml_s VALUES (1, 1);
INSERT INTO dml_p SELECT g, g * 10 FROM generate_series(1, 6) g;
INSERT INTO dml_b SELECT g FROM generate_series(1, 3) g;
ALTER TABLE dml_t OWNER TO ag_human;
ALTER TABLE dml_p OWNER TO ag_human;
GRANT ALL ON dml_t, dml_o, dml_s, dml_p, dml_a, dml_b, dml_log, dml_v, dml_vw
    TO PUBLIC;

-- dml_state(): what the tables hold now, then back to the fresh state.
-- It runs as the superuser but in the caller's session; its statements
-- are bounded, so the guard lets them through in every session.
CREATE FUNCTION dml_state() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog
AS $$
DECLARE
    s text;
BEGIN
    s := format('t %s/%s  p %s/%s  b %s  log %s',
                (SELECT count(*) FROM dml_t),
                (SELECT count(*) FROM dml_t WHERE v <> id * 10),
                (SELECT count(*) FROM dml_p),
                (SELECT count(*) FROM dml_p WHERE v <> id * 10),
                (SELECT count(*) FROM dml_b),
                (SELECT count(*) FROM dml_log));
    DELETE FROM dml_t WHERE id > 0;
    INSERT INTO dml_t SELECT g, g * 10 FROM generate_series(1, 5) g;
    DELETE FROM dml_p WHERE id > 0;
    INSERT INTO dml_p SELECT g, g * 10 FROM generate_series(1, 6) g;
    DELETE FROM dml_b WHERE id > 0;
    INSERT INTO dml_b SELECT g FROM generate_series(1, 3) g;
    DELETE FROM dml_log WHERE id > 0;
    RETURN s;
END
$$;
GRANT EXECUTE ON FUNCTION dml_state() TO PUBLIC;
SELECT dml_state();

-- functions the cases call (not SECURITY DEFINER unless named so)
CREATE FUNCTION dml_sql_wipe() RETURNS void LANGUAGE sql
    AS 'SELECT 1; DELETE FROM public.dml_t';
CREATE FUNCTION dml_sql_atomic_update() RETURNS void LANGUAGE sql
BEGIN ATOMIC
    UPDATE public.dml_t SET v = 0;
END;
CREATE FUNCTION dml_plpgsql_wipe() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM public.dml_t;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE PROCEDURE dml_proc_update() LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.dml_t SET v = 0;
    COMMIT;
END
$$;
CREATE FUNCTION dml_open_update_cursor() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE
    c refcursor := 'dml_ucur';
BEGIN
    OPEN c FOR UPDATE public.dml_t SET v = 0 RETURNING id;
    RETURN c;
END
$$;
SET ROLE ag_human;
CREATE FUNCTION dml_definer_human() RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'DELETE FROM public.dml_t';
RESET ROLE;

-- objects written by the agent ag_bot, in statements of their own
-- (committed, so not exempt): a table dml_own with rows, a SECURITY
-- DEFINER function, a trigger on dml_a that wipes dml_b, a table dml_ra
-- with a rule that wipes dml_b
SET ROLE ag_bot;
CREATE TABLE dml_own AS SELECT g AS id FROM generate_series(1, 3) g;
CREATE FUNCTION dml_definer_bot() RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'DELETE FROM public.dml_t';
CREATE FUNCTION dml_trg_wipe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM public.dml_b;
    RETURN NULL;
END
$$;
CREATE TRIGGER dml_a_wipe AFTER INSERT ON dml_a
    FOR EACH STATEMENT EXECUTE FUNCTION dml_trg_wipe();
CREATE TABLE dml_ra (id int);
GRANT ALL ON dml_ra TO PUBLIC;
CREATE RULE dml_ra_wipe AS ON INSERT TO dml_ra DO ALSO DELETE FROM public.dml_b;
RESET ROLE;

SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

-- one representative of each class at default verbosity: the message,
-- DETAIL and HINT an agent gets, and the WARNING of log mode
SET ROLE ag_bot;
DELETE FROM dml_t;
UPDATE dml_t SET v = 0;
SET ROLE ag_bot_log;
DELETE FROM dml_t;
RESET ROLE;
SELECT dml_state();
-- the agent deletes from a table it owns: still rejected
SET ROLE ag_bot;
DELETE FROM dml_own;
UPDATE dml_own SET id = 0 WHERE true;
RESET ROLE;
SELECT count(*), min(id) FROM dml_own;
-- each decision left one audit row
SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;
SELECT max(id) AS last_id FROM agent_guard.events \gset

-- the table of cases, once per role
\set VERBOSITY terse
SET ROLE ag_bot;
\i sql/dml_cases.inc
RESET ROLE;
SELECT max(id) AS bot_last_id FROM agent_guard.events \gset
SET ROLE ag_bot_log;
\i sql/dml_cases.inc
RESET ROLE;
SELECT max(id) AS log_last_id FROM agent_guard.events \gset
SET ROLE ag_human;
\i sql/dml_cases.inc
RESET ROLE;

-- a statement prepared (and planned) by a human session, executed after
-- SET ROLE to an agent: decided at execution
SET ROLE ag_human;
PREPARE dml_human_del AS DELETE FROM dml_t;
BEGIN;
EXECUTE dml_human_del;
ROLLBACK;
SET ROLE ag_bot;
EXECUTE dml_human_del;
SELECT dml_state();
SET ROLE ag_bot_log;
EXECUTE dml_human_del;
SELECT dml_state();
RESET ROLE;
DEALLOCATE dml_human_del;

-- PostgreSQL itself allows no SQL cursor over a data-modifying statement
BEGIN;
DECLARE dml_hold CURSOR WITH HOLD FOR
    WITH u AS (UPDATE dml_t SET v = 0 RETURNING id) SELECT * FROM u;
ROLLBACK;
\set VERBOSITY default

-- the audit trail: every rejection of ag_bot's pass, with the one
-- statement that was decided (inside a DO block, a function, a trigger:
-- the inner one; for a rule action: the statement that fired it; a
-- BEGIN ATOMIC body has no source text: the guard describes the action).
SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events
WHERE id > :last_id AND id <= :bot_last_id
ORDER BY id;
-- ag_bot_log's pass logged exactly the statements ag_bot's pass rejected
SELECT role_name, class, decision, command, count(*)
FROM agent_guard.events
WHERE id > :bot_last_id AND id <= :log_last_id
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
(SELECT class, command, objects, query FROM agent_guard.events
 WHERE id > :last_id AND id <= :bot_last_id
 EXCEPT ALL
 SELECT class, command, objects, query FROM agent_guard.events
 WHERE id > :bot_last_id AND id <= :log_last_id)
UNION ALL
(SELECT class, command, objects, query FROM agent_guard.events
 WHERE id > :bot_last_id AND id <= :log_last_id
 EXCEPT ALL
 SELECT class, command, objects, query FROM agent_guard.events
 WHERE id > :last_id AND id <= :bot_last_id);
-- the human's pass left no event; the EXECUTEs of the human's prepared
-- statement did (the query is the text the statement was prepared from)
SELECT role_name, class, decision, command, query
FROM agent_guard.events WHERE id > :log_last_id ORDER BY id;

-- clean up
DROP FUNCTION dml_state(), dml_sql_wipe(), dml_sql_atomic_update(),
    dml_plpgsql_wipe(), dml_open_update_cursor(), dml_definer_human(),
    dml_definer_bot(), dml_trg_wipe() CASCADE;
DROP PROCEDURE dml_proc_update();
DROP VIEW dml_v, dml_vw;
DROP TABLE dml_own, dml_ra, dml_a, dml_b, dml_log, dml_t, dml_o, dml_s, dml_p;
