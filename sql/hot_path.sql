-- hot_path: what the agent hot path's shortcuts must still catch: objects
-- created in the guard's schema (checked through the relcache and the
-- syscache), plans with more targets than the 64-bit mask, the static
-- row-count record under nested executors, permits covering cascades.
-- Roles: pr_super (superuser agent, reject), pr_bot (reject, max_rows 5),
-- pr_park (park, max_rows 5).
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
CREATE ROLE pr_super LOGIN SUPERUSER;
CREATE ROLE pr_bot LOGIN;
CREATE ROLE pr_park LOGIN;
SELECT agent_guard.tag_role('pr_super', 'reject');
SELECT agent_guard.tag_role('pr_bot', 'reject', max_rows => 5);
SELECT agent_guard.tag_role('pr_park', 'park', max_rows => 5);

-- ===== 1. creating objects in schema agent_guard (superuser agent) =====
-- every object in the guard's schema, before
CREATE VIEW pr_guard_objects AS
  SELECT 'class' AS k, relname::text AS n FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'type', typname FROM pg_type WHERE typnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'proc', proname FROM pg_proc WHERE pronamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'oper', oprname FROM pg_operator WHERE oprnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'coll', collname FROM pg_collation WHERE collnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'conv', conname FROM pg_conversion WHERE connamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'tscfg', cfgname FROM pg_ts_config WHERE cfgnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'tsdict', dictname FROM pg_ts_dict WHERE dictnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'tsprs', prsname FROM pg_ts_parser WHERE prsnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'tstmpl', tmplname FROM pg_ts_template WHERE tmplnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'stats', stxname FROM pg_statistic_ext WHERE stxnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'opclass', opcname FROM pg_opclass WHERE opcnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'opfamily', opfname FROM pg_opfamily WHERE opfnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'constraint', conname FROM pg_constraint WHERE connamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'extension', extname FROM pg_extension WHERE extnamespace = 'agent_guard'::regnamespace
  UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace)
  UNION ALL SELECT 'rule', rulename FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace)
  UNION ALL SELECT 'policy', polname FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace);
CREATE TEMP TABLE pr_before AS SELECT * FROM pr_guard_objects;
-- fixtures of a human
CREATE TABLE pr_src (a int PRIMARY KEY, b int);
INSERT INTO pr_src SELECT g, g FROM generate_series(1, 10) g;
CREATE TYPE pr_typ AS ENUM ('x');
CREATE FUNCTION pr_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE SEQUENCE pr_seq;
CREATE VIEW pr_view AS SELECT 1 AS a;
CREATE DOMAIN pr_dom AS int;
CREATE FUNCTION pr_sqlf() RETURNS void LANGUAGE sql AS 'CREATE TABLE agent_guard.pr_t7 (a int)';
CREATE PROCEDURE pr_proc() LANGUAGE plpgsql AS $$ BEGIN CREATE TABLE agent_guard.pr_t8 (a int); END $$;
CREATE FUNCTION pr_evtf() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('public.pr_moveme') IS NOT NULL THEN
    ALTER TABLE public.pr_moveme SET SCHEMA agent_guard;
  END IF;
END $$;
CREATE EXTENSION citext;
CREATE EXTENSION postgres_fdw;
SELECT current_setting('port') AS pr_port,
       split_part(current_setting('unix_socket_directories'), ',', 1) AS pr_sock \gset
CREATE SERVER pr_loop FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host :'pr_sock', port :'pr_port', dbname :'DBNAME');
CREATE USER MAPPING FOR PUBLIC SERVER pr_loop;
PREPARE pr_q AS SELECT 1 AS a;

-- one representative case with full wording
SET ROLE pr_super;
CREATE TYPE public.pr_r2 AS RANGE (subtype = int4, multirange_type_name = agent_guard.pr_mr2);
\set VERBOSITY terse
-- relations (checked through the relcache)
CREATE TABLE agent_guard.pr_t1 (a int);
CREATE UNLOGGED TABLE agent_guard.pr_t2 (a int);
CREATE TABLE agent_guard.pr_inh () INHERITS (public.pr_src);
CREATE VIEW agent_guard.pr_v1 AS SELECT 1 AS a;
CREATE MATERIALIZED VIEW agent_guard.pr_mv1 AS SELECT 1 AS a;
CREATE SEQUENCE agent_guard.pr_s1;
CREATE INDEX pr_idx1 ON agent_guard.events (class);
SELECT 1 AS a INTO agent_guard.pr_si1;
CREATE TABLE agent_guard.pr_ctas1 AS SELECT 1 AS a;
CREATE TABLE agent_guard.pr_ctas2 AS SELECT 1 AS a WITH NO DATA;
CREATE TABLE agent_guard.pr_ctas3 AS EXECUTE pr_q;
CREATE FOREIGN TABLE agent_guard.pr_ft1 (a int) SERVER pr_loop;
-- a relation of another schema with a sequence in the guard's
CREATE TABLE public.pr_id (id int GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME agent_guard.pr_idseq));
CREATE TABLE public.pr_idt (a int NOT NULL);
ALTER TABLE public.pr_idt ALTER COLUMN a ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME agent_guard.pr_idseq2);
ALTER TABLE public.pr_idt ADD COLUMN b int GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME agent_guard.pr_idseq3);
CREATE TABLE public.pr_ptab (a int) PARTITION BY LIST (a);
CREATE TABLE agent_guard.pr_part1 PARTITION OF public.pr_ptab FOR VALUES IN (1);
-- types (a range makes a multirange type too; composite types are relations)
CREATE TYPE agent_guard.pr_e1 AS ENUM ('a');
CREATE TYPE agent_guard.pr_r1 AS RANGE (subtype = int4);
CREATE TYPE agent_guard.pr_c1 AS (a int);
CREATE TYPE agent_guard.pr_shell1;
CREATE DOMAIN agent_guard.pr_d1 AS int;
-- a shell type made on the way by a C-language function's return type
CREATE FUNCTION public.pr_in(cstring) RETURNS agent_guard.pr_shelly
  LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
-- other objects with a schema (checked through the syscache)
CREATE FUNCTION agent_guard.pr_f1() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE agent_guard.pr_p1() LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE agent_guard.pr_agg1 (int) (sfunc = int4pl, stype = int);
CREATE OPERATOR agent_guard.=== (leftarg = int, rightarg = int, function = int4eq);
-- a shell operator made on the way by a commutator or negator
CREATE OPERATOR public.<<< (leftarg = int, rightarg = int, function = int4lt,
  commutator = OPERATOR(agent_guard.>>>));
CREATE OPERATOR public.<<<< (leftarg = int, rightarg = int, function = int4lt,
  negator = OPERATOR(agent_guard.>=>=));
CREATE OPERATOR CLASS agent_guard.pr_opc FOR TYPE int USING btree
  AS OPERATOR 1 <, FUNCTION 1 btint4cmp(int, int);
CREATE OPERATOR FAMILY agent_guard.pr_opf USING btree;
CREATE COLLATION agent_guard.pr_coll1 FROM "C";
CREATE CONVERSION agent_guard.pr_conv1 FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
CREATE TEXT SEARCH CONFIGURATION agent_guard.pr_tsc1 (COPY = english);
CREATE TEXT SEARCH DICTIONARY agent_guard.pr_tsd1 (TEMPLATE = simple);
CREATE TEXT SEARCH PARSER agent_guard.pr_tsp1 (START = prsd_start,
  GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
CREATE TEXT SEARCH TEMPLATE agent_guard.pr_tst1 (LEXIZE = dsimple_lexize);
CREATE STATISTICS agent_guard.pr_st1 ON a, b FROM public.pr_src;
-- objects without a schema of their own, on the guard's tables
CREATE TRIGGER pr_trg BEFORE INSERT ON agent_guard.events
  FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE RULE pr_rule AS ON INSERT TO agent_guard.events DO INSTEAD NOTHING;
CREATE POLICY pr_pol ON agent_guard.events USING (true);
-- moving objects in
ALTER TABLE public.pr_src SET SCHEMA agent_guard;
ALTER TYPE public.pr_typ SET SCHEMA agent_guard;
ALTER FUNCTION public.pr_fn() SET SCHEMA agent_guard;
ALTER SEQUENCE public.pr_seq SET SCHEMA agent_guard;
ALTER VIEW public.pr_view SET SCHEMA agent_guard;
ALTER DOMAIN public.pr_dom SET SCHEMA agent_guard;
ALTER EXTENSION citext SET SCHEMA agent_guard;
BEGIN;
CREATE TABLE public.pr_tx (a int);
ALTER TABLE public.pr_tx SET SCHEMA agent_guard;
ROLLBACK;
-- ... or by an event trigger
CREATE EVENT TRIGGER pr_evt ON ddl_command_end EXECUTE FUNCTION public.pr_evtf();
CREATE TABLE public.pr_moveme (a int);
RESET ROLE;
DROP EVENT TRIGGER pr_evt;
SET ROLE pr_super;
-- CREATE SCHEMA elements must be in the new schema anyway
CREATE SCHEMA pr_sch CREATE TABLE agent_guard.pr_t3 (a int);
-- search_path, DO blocks, dynamic SQL, SQL functions, procedures
SET search_path = agent_guard, public;
CREATE TABLE pr_sp_t (a int);
CREATE FUNCTION pr_sp_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TYPE pr_sp_e AS ENUM ('a');
RESET search_path;
DO $$ BEGIN CREATE TABLE agent_guard.pr_t4 (a int); END $$;
DO $$ BEGIN EXECUTE 'CREATE TYPE agent_guard.pr_e5 AS ENUM (''x'')'; END $$;
DO $$ BEGIN
  EXECUTE 'CREATE TABLE agent_guard.pr_t6 (a int)';
EXCEPTION WHEN SQLSTATE '42AG2' THEN RAISE NOTICE 'caught %', SQLSTATE;
END $$;
SELECT public.pr_sqlf();
CALL public.pr_proc();
-- extensions and foreign schemas
CREATE EXTENSION hstore SCHEMA agent_guard;
IMPORT FOREIGN SCHEMA public LIMIT TO (pr_view) FROM SERVER pr_loop INTO agent_guard;
-- temporary objects and objects in other schemas still pass
CREATE TEMP TABLE pr_tmp1 (a int);
CREATE FUNCTION pg_temp.pr_tmpf() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE public.pr_ok (id serial PRIMARY KEY, a int);
CREATE INDEX ON public.pr_ok (a);
CREATE TYPE public.pr_okt AS ENUM ('a');
CREATE TYPE public.pr_okr AS RANGE (subtype = int4);
CREATE TYPE public.pr_okc AS (a int);
CREATE FUNCTION public.pr_okf() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE public.pr_okas AS SELECT 1 AS a;
CREATE SCHEMA pr_sch2 CREATE TABLE t (a int) CREATE VIEW v AS SELECT 1 AS a;
CREATE TABLE public.pr_like (LIKE agent_guard.events INCLUDING ALL);
ALTER TABLE public.pr_ok ALTER COLUMN a TYPE bigint;
CLUSTER public.pr_ok USING pr_ok_pkey;
CREATE INDEX CONCURRENTLY pr_ok_cic ON public.pr_ok (a);
CREATE INDEX CONCURRENTLY pr_cic ON agent_guard.events (class);
RESET ROLE;
\set VERBOSITY default
-- nothing was left behind in the guard's schema
SELECT * FROM pr_guard_objects EXCEPT SELECT * FROM pr_before ORDER BY 1, 2;
SELECT * FROM pr_before EXCEPT SELECT * FROM pr_guard_objects ORDER BY 1, 2;
-- and the objects that passed are where they were created
SELECT relname, relnamespace::regnamespace FROM pg_class
WHERE relname IN ('pr_ok', 'pr_okas', 'pr_like', 'pr_src', 'pr_ok_cic', 't', 'v')
  AND relnamespace::regnamespace::text IN ('public', 'pr_sch2', 'agent_guard')
ORDER BY 1;
SELECT count(*) AS pr_tmp1_is_temp FROM pg_class WHERE relname = 'pr_tmp1' AND relpersistence = 't';

-- ===== 2. plans with more than 64 range table entries =====
-- 70 partitions: the partitions past the 63rd are targets past the bit mask
CREATE TABLE pr_pt (id int, v int) PARTITION BY LIST (id);
DO $$ BEGIN
  FOR g IN 1..70 LOOP
    EXECUTE format('CREATE TABLE pr_pt_%s PARTITION OF pr_pt FOR VALUES IN (%s)', g, g);
  END LOOP;
END $$;
INSERT INTO pr_pt SELECT g, g FROM generate_series(1, 70) g;
CREATE TABLE pr_t (id int PRIMARY KEY, v int);
CREATE TABLE pr_u (id int PRIMARY KEY, v int);
INSERT INTO pr_t SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO pr_u SELECT g, g FROM generate_series(1, 10) g;
GRANT ALL ON pr_pt, pr_t, pr_u TO pr_bot;
ANALYZE pr_pt, pr_t, pr_u;
-- a limit far above these tables: only boundedness decides here
SELECT agent_guard.tag_role('pr_bot', 'reject', max_rows => 1000);
SET ROLE pr_bot;
\set VERBOSITY terse
-- unbounded: every partition is scanned without a condition
DELETE FROM pr_pt;
UPDATE pr_pt SET v = 0;
DELETE FROM pr_pt WHERE 1 = 1;
DELETE FROM pr_pt WHERE id > 60 OR true;
MERGE INTO pr_pt USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE;
MERGE INTO pr_pt USING pr_u s ON s.v = 1 WHEN MATCHED THEN UPDATE SET v = 0;
-- a data-modifying CTE after 72 range table entries of the main query: its
-- target is entry 73
WITH d AS (DELETE FROM pr_t RETURNING 1) SELECT count(*) FROM d, pr_pt;
WITH d AS (UPDATE pr_t SET v = 0 RETURNING 1) SELECT count(*) FROM d, pr_pt;
WITH d AS (DELETE FROM pr_t WHERE true RETURNING 1) SELECT count(*) FROM d, pr_pt;
WITH d AS (DELETE FROM pr_t USING pr_u WHERE pr_u.v = 1 RETURNING 1) SELECT count(*) FROM d, pr_pt;
WITH d AS (DELETE FROM pr_t WHERE EXISTS (SELECT 1 FROM pr_u WHERE v = 1) RETURNING 1)
  SELECT count(*) FROM d, pr_pt;
-- bounded: they run
BEGIN;
DELETE FROM pr_pt WHERE v = 69;
UPDATE pr_pt SET v = -v WHERE v IN (1, 64, 65, 70);
DELETE FROM pr_pt WHERE id >= 66 AND v > 0;
MERGE INTO pr_pt USING pr_u s ON pr_pt.id = s.id WHEN MATCHED AND s.id = 5 THEN DELETE;
MERGE INTO pr_pt USING (SELECT 67 AS id) s ON pr_pt.id = s.id WHEN MATCHED THEN UPDATE SET v = 0;
WITH d AS (DELETE FROM pr_t WHERE id = 3 RETURNING 1) SELECT count(*) FROM d, pr_pt;
WITH d AS (DELETE FROM pr_t USING pr_u WHERE pr_t.id = pr_u.id AND pr_u.v = 4 RETURNING 1)
  SELECT count(*) FROM d, pr_pt;
WITH d AS (UPDATE pr_t SET v = -v WHERE id IN (SELECT id FROM pr_u WHERE v > 8) RETURNING 1)
  SELECT count(*) FROM d, pr_pt;
SELECT count(*) AS pt_rows, sum(v) AS pt_sum FROM pr_pt;
SELECT count(*) AS t_rows, sum(v) AS t_sum FROM pr_t;
ROLLBACK;
RESET ROLE;
SELECT agent_guard.tag_role('pr_bot', 'reject', max_rows => 5);
SELECT count(*) AS pt_rows, sum(v) AS pt_sum FROM pr_pt;
SELECT count(*) AS t_rows, sum(v) AS t_sum FROM pr_t;

-- ===== 3. the exact count: nested executors in every order =====
-- pr_b holds the rows counted; pr_a's triggers change it: NEW.v between -99
-- and -1 deletes row -v of pr_b, NEW.v = -(1000 * k + lo) MERGE-deletes
-- rows lo .. lo + k - 1 of pr_b
CREATE TABLE pr_a (id int PRIMARY KEY, v int);
CREATE TABLE pr_b (id int PRIMARY KEY, v int);
INSERT INTO pr_a SELECT g, g FROM generate_series(1, 30) g;
INSERT INTO pr_b SELECT g, g FROM generate_series(1, 30) g;
CREATE FUNCTION pr_del_b(i int) RETURNS int LANGUAGE sql
  AS $$ DELETE FROM pr_b WHERE id = i RETURNING id $$;
CREATE FUNCTION pr_merge_b(lo int, hi int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  MERGE INTO pr_b USING generate_series(lo, hi) s(i) ON pr_b.id = s.i
    WHEN MATCHED THEN DELETE;
  RETURN hi - lo + 1;
END $$;
CREATE FUNCTION pr_a_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.v <= -1000 THEN
    PERFORM pr_merge_b(-NEW.v % 1000, -NEW.v % 1000 + (-NEW.v / 1000) - 1);
  ELSIF NEW.v < 0 THEN
    DELETE FROM pr_b WHERE id = -NEW.v;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pr_a_upd AFTER UPDATE ON pr_a FOR EACH ROW EXECUTE FUNCTION pr_a_trg();
-- a DELETE rolled back by an exception block: its executor is freed by the
-- subtransaction's abort, its row still counts
CREATE FUNCTION pr_del_caught(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    DELETE FROM pr_b WHERE id = i;
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN i;
END $$;
CREATE FUNCTION pr_del_fail(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pr_b WHERE id = i;
  IF i = 3 THEN RAISE EXCEPTION 'failed at row %', i; END IF;
  RETURN i;
END $$;
GRANT ALL ON pr_a, pr_b TO pr_bot;
CREATE VIEW pr_state AS
  SELECT (SELECT count(*) FROM pr_a WHERE v > 0) AS a, (SELECT sum(v) FROM pr_a) AS asum,
         (SELECT count(*) FROM pr_b) AS b;
GRANT SELECT ON pr_state TO pr_bot;
ANALYZE pr_a, pr_b;
SET ROLE pr_bot;
-- the outer UPDATE (the first counted node) 3 rows + its trigger's 3 deletes
UPDATE pr_a SET v = -v WHERE id IN (1, 2, 3);
-- a MERGE that is not the first counted node: 1 row + 5 merged deletes
UPDATE pr_a SET v = -5010 WHERE id = 1;
-- ... after a DELETE of the same statement: 1 + 5
SELECT pr_del_b(1), pr_merge_b(2, 6);
-- the same through EXPLAIN ANALYZE
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) UPDATE pr_a SET v = -5010 WHERE id = 1;
-- 8 deletes each rolled back by its exception block
SELECT count(pr_del_caught(g)) FROM generate_series(1, 8) g;
-- an error after 3 rows, then counts start afresh: 5 rows run
SELECT count(pr_del_fail(g)) FROM generate_series(1, 8) g;
BEGIN;
DELETE FROM pr_b WHERE id <= 5;
ROLLBACK;
-- a temporary table's DELETE is not counted, the deletes its trigger runs are
CREATE TEMP TABLE pr_tmp (id int);
INSERT INTO pr_tmp SELECT generate_series(11, 18);
CREATE FUNCTION pg_temp.pr_tmp_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM pr_b WHERE id = OLD.id; RETURN OLD; END $$;
CREATE TRIGGER pr_tmp_del AFTER DELETE ON pr_tmp FOR EACH ROW EXECUTE FUNCTION pg_temp.pr_tmp_trg();
DELETE FROM pr_tmp;
-- a data-modifying CTE whose rows feed an UPDATE whose trigger deletes: 3 + 3 + 1
WITH d AS (DELETE FROM pr_b WHERE id IN (1, 2, 3) RETURNING id)
  UPDATE pr_a SET v = -4 WHERE id IN (SELECT id FROM d);
-- two SPI cursors fetched in turn, each call deleting one row
DO $$
DECLARE c1 refcursor; c2 refcursor; x int;
BEGIN
  OPEN c1 FOR SELECT pr_del_b(g) FROM generate_series(11, 15) g;
  OPEN c2 FOR SELECT pr_del_b(g) FROM generate_series(21, 25) g;
  FOR i IN 1..4 LOOP
    FETCH c1 INTO x; RAISE NOTICE 'c1 %', x;
    FETCH c2 INTO x; RAISE NOTICE 'c2 %', x;
  END LOOP;
END $$;
-- a cursor held over COMMIT runs its remaining rows at COMMIT: counted there
BEGIN;
DECLARE pr_c CURSOR WITH HOLD FOR SELECT pr_del_b(g) FROM generate_series(11, 20) g;
FETCH 2 FROM pr_c;
COMMIT;
-- nothing of all this was changed
RESET ROLE;
SELECT * FROM pr_state;
SET ROLE pr_bot;
-- within the limit, in every one of these shapes: they run
BEGIN;
UPDATE pr_a SET v = -v WHERE id IN (1, 2);
UPDATE pr_a SET v = -4010 WHERE id = 3;
SELECT pr_del_b(1), pr_merge_b(14, 17);
SELECT count(pr_del_caught(g)) FROM generate_series(21, 25) g;
DELETE FROM pr_tmp WHERE id IN (18, 19);
WITH d AS (DELETE FROM pr_b WHERE id IN (5, 6) RETURNING id)
  UPDATE pr_a SET v = -7 WHERE id IN (SELECT id FROM d);
SELECT * FROM pr_state;
ROLLBACK;
-- a cursor across statements: each FETCH is a statement of its own
BEGIN;
DECLARE pr_c2 CURSOR FOR SELECT pr_del_b(g) FROM generate_series(11, 30) g;
FETCH 5 FROM pr_c2;
DELETE FROM pr_b WHERE id IN (1, 2);
FETCH 5 FROM pr_c2;
FETCH 6 FROM pr_c2;
ROLLBACK;
RESET ROLE;
SELECT * FROM pr_state;

-- ===== 4. a permit covers the cascade of the statement approved =====
CREATE TABLE pr_p (id int PRIMARY KEY);
CREATE TABLE pr_c (pid int REFERENCES pr_p ON DELETE CASCADE);
INSERT INTO pr_p SELECT generate_series(1, 3);
INSERT INTO pr_c SELECT 1 + g % 3 FROM generate_series(1, 20) g;
GRANT ALL ON pr_p, pr_c TO pr_park;
SET ROLE pr_park;
\set VERBOSITY sqlstate
DELETE FROM pr_p;
RESET ROLE;
SELECT id AS pr_req FROM agent_guard.requests
WHERE role_name = 'pr_park' AND status = 'pending' \gset
SELECT status, class, command, objects, query FROM agent_guard.requests WHERE id = :pr_req;
SELECT count(*) > 0 AS approved FROM agent_guard.approve(:pr_req);
SET ROLE pr_park;
SET client_min_messages = warning;
DELETE FROM pr_p;
RESET client_min_messages;
-- without a permit, the same cascade is counted: 1 + 7 rows
INSERT INTO pr_p VALUES (1);
RESET ROLE;
INSERT INTO pr_c SELECT 1 FROM generate_series(1, 7);
SET ROLE pr_park;
DELETE FROM pr_p WHERE id = 1;
RESET ROLE;
\set VERBOSITY default
SELECT status FROM agent_guard.requests WHERE id = :pr_req;
SELECT (SELECT count(*) FROM pr_p) AS p, (SELECT count(*) FROM pr_c) AS c;

-- ===== 5. the audit, and the server is still up =====
SELECT class, decision, count(*)
FROM agent_guard.events WHERE id > :last_id GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 1 AS alive;

-- clean up
DROP VIEW pr_guard_objects, pr_state;
DROP TABLE pr_src, pr_idt, pr_ptab, pr_ok, pr_okas, pr_like, pr_pt, pr_t, pr_u,
  pr_a, pr_b, pr_p, pr_c CASCADE;
DROP TABLE pr_tmp1, pr_tmp;
DROP FUNCTION pg_temp.pr_tmpf(), pg_temp.pr_tmp_trg();
DROP TYPE pr_typ, pr_okt, pr_okr, pr_okc;
DROP DOMAIN pr_dom;
DROP VIEW pr_view;
DROP SEQUENCE pr_seq;
DROP FUNCTION pr_fn(), pr_sqlf(), pr_evtf(), pr_okf(),
  pr_del_b(int), pr_merge_b(int, int), pr_a_trg(), pr_del_caught(int), pr_del_fail(int);
DROP PROCEDURE pr_proc();
DROP SCHEMA pr_sch2 CASCADE;
DROP USER MAPPING FOR PUBLIC SERVER pr_loop;
DROP SERVER pr_loop;
DROP EXTENSION citext, postgres_fdw;
DEALLOCATE pr_q;
DROP ROLE pr_super, pr_bot, pr_park;
