-- drop: class "drop" (doc/design.md section 3).  The same set of committed
-- objects is built for an agent tagged reject (ag_bot, prefix dr_r_), one
-- tagged log (ag_bot_log, dr_l_) and the human (ag_human, dr_h_); each then
-- runs the same table of drops.  Reject: every case fails with 42AG1 and
-- everything is still there.  Log: every case runs, with a WARNING.
-- Human: every case runs, the guard prints nothing.  Then the exemptions
-- (temporary objects, objects created in the same transaction) and the
-- audit rows.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

-- A foreign-data wrapper without handler: foreign tables can be created
-- (not read), which is all a drop needs; postgres_fdw is not required.
CREATE FOREIGN DATA WRAPPER dr_dummy;

-- dr_maker builds each set; REASSIGN OWNED then gives it to its role.
CREATE ROLE dr_maker;
GRANT CREATE ON SCHEMA public TO dr_maker;
GRANT USAGE ON FOREIGN DATA WRAPPER dr_dummy TO dr_maker;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO dr_maker, ag_bot', current_database()); END $$;

CREATE PROCEDURE dr_make(p text, lo oid) LANGUAGE plpgsql AS $make$
BEGIN
  EXECUTE format($f$
    CREATE TABLE %1$s_tab (id int PRIMARY KEY, v text);
    INSERT INTO %1$s_tab SELECT g, 'v' || g FROM generate_series(1, 3) g;
    CREATE TABLE %1$s_src (id int, a int, b int, c int,
                           d int CONSTRAINT %1$s_src_d_chk CHECK (d > 0));
    INSERT INTO %1$s_src SELECT g, g, g, g, g FROM generate_series(1, 3) g;
    CREATE VIEW %1$s_v AS SELECT id, b FROM %1$s_src;
    CREATE VIEW %1$s_va AS SELECT id, a FROM %1$s_src;
    CREATE MATERIALIZED VIEW %1$s_mv AS SELECT id FROM %1$s_src;
    CREATE SEQUENCE %1$s_seq;
    CREATE INDEX %1$s_idx ON %1$s_src (b);
    CREATE INDEX %1$s_cidx ON %1$s_src (id);
    CREATE SCHEMA %1$s_sch;
    CREATE TABLE %1$s_sch.t (id int);
    INSERT INTO %1$s_sch.t VALUES (1), (2);
    CREATE FUNCTION %1$s_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
    CREATE PROCEDURE %1$s_pr() LANGUAGE sql AS 'SELECT 1';
    CREATE TYPE %1$s_ty AS ENUM ('a', 'b');
    CREATE DOMAIN %1$s_dom AS int;
    CREATE FUNCTION %1$s_trgfn() RETURNS trigger LANGUAGE plpgsql
      AS $b$BEGIN RETURN NEW; END$b$;
    CREATE TRIGGER %1$s_trg BEFORE INSERT ON %1$s_src
      FOR EACH ROW EXECUTE FUNCTION %1$s_trgfn();
    CREATE RULE %1$s_rule AS ON UPDATE TO %1$s_src DO ALSO NOTHING;
    CREATE POLICY %1$s_pol ON %1$s_src USING (true);
    CREATE SERVER %1$s_srv FOREIGN DATA WRAPPER dr_dummy;
    CREATE FOREIGN TABLE %1$s_ft (id int) SERVER %1$s_srv;
    CREATE SERVER %1$s_srv2 FOREIGN DATA WRAPPER dr_dummy;
    CREATE TABLE %1$s_dep (id int);
    INSERT INTO %1$s_dep VALUES (1);
    CREATE VIEW %1$s_depv AS SELECT id FROM %1$s_dep;
    CREATE TABLE %1$s_m1 (id int);
    CREATE TABLE %1$s_m2 (id int);
    INSERT INTO %1$s_m1 VALUES (1);
    INSERT INTO %1$s_m2 VALUES (2);
    CREATE TABLE %1$s_x1 (id int);
    CREATE TABLE %1$s_x2 (id int);
    CREATE TABLE %1$s_x3 (id int);
    CREATE TABLE %1$s_x4 (id int);
    INSERT INTO %1$s_x1 VALUES (1);
    INSERT INTO %1$s_x2 VALUES (1);
    INSERT INTO %1$s_x3 VALUES (1);
    INSERT INTO %1$s_x4 VALUES (1);
    CREATE FUNCTION %1$s_dropfn() RETURNS void LANGUAGE sql
      AS 'DROP TABLE %1$s_x2';
    CREATE PROCEDURE %1$s_droppr() LANGUAGE plpgsql
      AS $b$BEGIN DROP TABLE %1$s_x3; END$b$;
  $f$, p);
  PERFORM lo_from_bytea(lo, convert_to(p, 'UTF8'));
END
$make$;

-- a SECURITY DEFINER function owned by the superuser does not make the
-- agent's session a human one
CREATE FUNCTION dr_sd_drop() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public AS $$BEGIN DROP TABLE dr_r_m1; END$$;

-- What is left of a set: one row per object of the table of cases.
CREATE FUNCTION dr_inventory(p text, db text, victim text, owned text, lo oid)
RETURNS TABLE (object text, present boolean) LANGUAGE sql AS $$
  SELECT o, e FROM (VALUES
    ('table',             to_regclass(p || '_tab') IS NOT NULL),
    ('view',              to_regclass(p || '_v') IS NOT NULL),
    ('materialized view', to_regclass(p || '_mv') IS NOT NULL),
    ('sequence',          to_regclass(p || '_seq') IS NOT NULL),
    ('index',             to_regclass(p || '_idx') IS NOT NULL),
    ('schema',            to_regnamespace(p || '_sch') IS NOT NULL),
    ('table in schema',   to_regclass(p || '_sch.t') IS NOT NULL),
    ('function',          to_regprocedure(p || '_fn()') IS NOT NULL),
    ('procedure',         to_regprocedure(p || '_pr()') IS NOT NULL),
    ('type',              to_regtype(p || '_ty') IS NOT NULL),
    ('domain',            to_regtype(p || '_dom') IS NOT NULL),
    ('trigger',           EXISTS (SELECT FROM pg_trigger WHERE tgname = p || '_trg')),
    ('rule',              EXISTS (SELECT FROM pg_rewrite WHERE rulename = p || '_rule')),
    ('policy',            EXISTS (SELECT FROM pg_policy WHERE polname = p || '_pol')),
    ('foreign table',     to_regclass(p || '_ft') IS NOT NULL),
    ('server',            EXISTS (SELECT FROM pg_foreign_server WHERE srvname = p || '_srv2')),
    ('owned table',       to_regclass(owned || '_t') IS NOT NULL),
    ('column c',          EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(p || '_src')
                                    AND attname = 'c' AND NOT attisdropped)),
    ('column a',          EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(p || '_src')
                                    AND attname = 'a' AND NOT attisdropped)),
    ('view on column a',  to_regclass(p || '_va') IS NOT NULL),
    ('constraint',        EXISTS (SELECT FROM pg_constraint WHERE conname = p || '_src_d_chk')),
    ('table m1',          to_regclass(p || '_m1') IS NOT NULL),
    ('table m2',          to_regclass(p || '_m2') IS NOT NULL),
    ('index (concurrently)', to_regclass(p || '_cidx') IS NOT NULL),
    ('database',          EXISTS (SELECT FROM pg_database WHERE datname = db)),
    ('role',              EXISTS (SELECT FROM pg_roles WHERE rolname = victim)),
    ('large object',      EXISTS (SELECT FROM pg_largeobject_metadata WHERE oid = lo)),
    ('table x1 (DO)',     to_regclass(p || '_x1') IS NOT NULL),
    ('table x2 (SQL function)', to_regclass(p || '_x2') IS NOT NULL),
    ('table x3 (procedure)', to_regclass(p || '_x3') IS NOT NULL),
    ('table x4 (multi-statement)', to_regclass(p || '_x4') IS NOT NULL),
    ('table dep',         to_regclass(p || '_dep') IS NOT NULL),
    ('view on dep',       to_regclass(p || '_depv') IS NOT NULL)
  ) AS t(o, e)
$$;

-- the three sets, each given to its role; each role also gets a database
-- it owns, a role it may drop and a role whose objects DROP OWNED can take
SET ROLE dr_maker;
CALL dr_make('dr_r', 4247001);
RESET ROLE;
REASSIGN OWNED BY dr_maker TO ag_bot;
SET ROLE dr_maker;
CALL dr_make('dr_l', 4247002);
RESET ROLE;
REASSIGN OWNED BY dr_maker TO ag_bot_log;
SET ROLE dr_maker;
CALL dr_make('dr_h', 4247003);
RESET ROLE;
REASSIGN OWNED BY dr_maker TO ag_human;
CREATE DATABASE dr_db_r OWNER ag_bot;
CREATE DATABASE dr_db_l OWNER ag_bot_log;
CREATE DATABASE dr_db_h OWNER ag_human;
CREATE ROLE dr_victim_r;
CREATE ROLE dr_victim_l;
CREATE ROLE dr_victim_h;
ALTER ROLE ag_bot CREATEROLE;
ALTER ROLE ag_bot_log CREATEROLE;
ALTER ROLE ag_human CREATEROLE;
CREATE ROLE dr_own_r;
CREATE ROLE dr_own_l;
CREATE ROLE dr_own_h;
GRANT CREATE ON SCHEMA public TO dr_own_r, dr_own_l, dr_own_h;
SET ROLE dr_own_r;
CREATE TABLE dr_own_r_t AS SELECT 1 AS id;
SET ROLE dr_own_l;
CREATE TABLE dr_own_l_t AS SELECT 1 AS id;
SET ROLE dr_own_h;
CREATE TABLE dr_own_h_t AS SELECT 1 AS id;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM dr_own_r, dr_own_l, dr_own_h;
GRANT dr_own_r TO ag_bot;
GRANT dr_own_l TO ag_bot_log;
GRANT dr_own_h TO ag_human;
SELECT object FROM dr_inventory('dr_r', 'dr_db_r', 'dr_victim_r', 'dr_own_r', 4247001)
WHERE NOT present;
SELECT object FROM dr_inventory('dr_l', 'dr_db_l', 'dr_victim_l', 'dr_own_l', 4247002)
WHERE NOT present;
SELECT object FROM dr_inventory('dr_h', 'dr_db_h', 'dr_victim_h', 'dr_own_h', 4247003)
WHERE NOT present;
SELECT c.relname, c.relowner::regrole
FROM pg_class c
WHERE c.relname IN ('dr_r_tab', 'dr_l_tab', 'dr_h_tab', 'dr_r_ft', 'dr_own_r_t')
ORDER BY 1;
SELECT srvname, srvowner::regrole FROM pg_foreign_server ORDER BY 1;

-- ===== agent tagged reject: every case is refused, nothing is dropped
SET ROLE ag_bot;
\set VERBOSITY terse
DROP TABLE dr_r_tab;
DROP VIEW dr_r_v;
DROP MATERIALIZED VIEW dr_r_mv;
DROP SEQUENCE dr_r_seq;
DROP INDEX dr_r_idx;
DROP SCHEMA dr_r_sch CASCADE;
DROP FUNCTION dr_r_fn();
DROP PROCEDURE dr_r_pr();
DROP TYPE dr_r_ty;
DROP DOMAIN dr_r_dom;
DROP TRIGGER dr_r_trg ON dr_r_src;
DROP RULE dr_r_rule ON dr_r_src;
DROP POLICY dr_r_pol ON dr_r_src;
DROP FOREIGN TABLE dr_r_ft;
DROP SERVER dr_r_srv2;
DROP OWNED BY dr_own_r;
ALTER TABLE dr_r_src DROP COLUMN c;
ALTER TABLE dr_r_src DROP COLUMN a CASCADE;
ALTER TABLE dr_r_src DROP CONSTRAINT dr_r_src_d_chk;
DROP TABLE dr_r_m1, dr_r_m2;
DROP INDEX CONCURRENTLY dr_r_cidx;
DROP DATABASE dr_db_r;
DROP ROLE dr_victim_r;
-- the paths a drop can take: DO block, SQL function, procedure, one query
-- string holding several statements
DO $$BEGIN EXECUTE 'DROP TABLE dr_r_x1'; END$$;
SELECT dr_r_dropfn();
CALL dr_r_droppr();
SELECT dr_sd_drop();
SELECT 1 \; DROP TABLE dr_r_x4 \; SELECT 2;
-- nothing to drop: no error, no event
DROP TABLE IF EXISTS dr_r_missing;
DROP INDEX CONCURRENTLY IF EXISTS dr_r_missing_idx;
DROP DATABASE IF EXISTS dr_db_missing;
-- lo_unlink() outside any utility statement: in a query, and through the
-- fast-path protocol (psql's \lo_unlink)
\set VERBOSITY sqlstate
SELECT lo_unlink(4247001);
\lo_unlink 4247001
-- CASCADE: DETAIL lists the dependent view and the table
\set VERBOSITY default
DROP TABLE dr_r_dep CASCADE;
RESET ROLE;
SELECT object FROM dr_inventory('dr_r', 'dr_db_r', 'dr_victim_r', 'dr_own_r', 4247001)
WHERE NOT present;
SELECT count(*) FROM dr_r_tab;
SELECT count(*) FROM dr_r_sch.t;
SELECT a, c, d FROM dr_r_src ORDER BY id;
SELECT (SELECT count(*) FROM dr_r_m1) AS m1, (SELECT count(*) FROM dr_r_m2) AS m2,
       (SELECT count(*) FROM dr_r_x4) AS x4, (SELECT count(*) FROM dr_r_dep) AS dep;
SELECT convert_from(lo_get(4247001), 'UTF8');

-- ===== agent tagged log: every case runs, with a WARNING
SET ROLE ag_bot_log;
\set VERBOSITY terse
DROP TABLE dr_l_tab;
DROP VIEW dr_l_v;
DROP MATERIALIZED VIEW dr_l_mv;
DROP SEQUENCE dr_l_seq;
DROP INDEX dr_l_idx;
DROP SCHEMA dr_l_sch CASCADE;
DROP FUNCTION dr_l_fn();
DROP PROCEDURE dr_l_pr();
DROP TYPE dr_l_ty;
DROP DOMAIN dr_l_dom;
DROP TRIGGER dr_l_trg ON dr_l_src;
DROP RULE dr_l_rule ON dr_l_src;
DROP POLICY dr_l_pol ON dr_l_src;
DROP FOREIGN TABLE dr_l_ft;
DROP SERVER dr_l_srv2;
DROP OWNED BY dr_own_l;
ALTER TABLE dr_l_src DROP COLUMN c;
ALTER TABLE dr_l_src DROP COLUMN a CASCADE;
ALTER TABLE dr_l_src DROP CONSTRAINT dr_l_src_d_chk;
DROP TABLE dr_l_m1, dr_l_m2;
DROP INDEX CONCURRENTLY dr_l_cidx;
DROP DATABASE dr_db_l;
DROP ROLE dr_victim_l;
DO $$BEGIN EXECUTE 'DROP TABLE dr_l_x1'; END$$;
SELECT dr_l_dropfn();
CALL dr_l_droppr();
SELECT 1 \; DROP TABLE dr_l_x4 \; SELECT 2;
DROP TABLE IF EXISTS dr_l_missing;
\set VERBOSITY sqlstate
SELECT lo_unlink(4247002);
\set VERBOSITY default
DROP TABLE dr_l_dep CASCADE;
RESET ROLE;
SELECT object FROM dr_inventory('dr_l', 'dr_db_l', 'dr_victim_l', 'dr_own_l', 4247002)
WHERE present;

-- ===== human: every case runs, the guard says nothing
SET ROLE ag_human;
\set VERBOSITY terse
DROP TABLE dr_h_tab;
DROP VIEW dr_h_v;
DROP MATERIALIZED VIEW dr_h_mv;
DROP SEQUENCE dr_h_seq;
DROP INDEX dr_h_idx;
DROP SCHEMA dr_h_sch CASCADE;
DROP FUNCTION dr_h_fn();
DROP PROCEDURE dr_h_pr();
DROP TYPE dr_h_ty;
DROP DOMAIN dr_h_dom;
DROP TRIGGER dr_h_trg ON dr_h_src;
DROP RULE dr_h_rule ON dr_h_src;
DROP POLICY dr_h_pol ON dr_h_src;
DROP FOREIGN TABLE dr_h_ft;
DROP SERVER dr_h_srv2;
DROP OWNED BY dr_own_h;
ALTER TABLE dr_h_src DROP COLUMN c;
ALTER TABLE dr_h_src DROP COLUMN a CASCADE;
ALTER TABLE dr_h_src DROP CONSTRAINT dr_h_src_d_chk;
DROP TABLE dr_h_m1, dr_h_m2;
DROP INDEX CONCURRENTLY dr_h_cidx;
DROP DATABASE dr_db_h;
DROP ROLE dr_victim_h;
DO $$BEGIN EXECUTE 'DROP TABLE dr_h_x1'; END$$;
SELECT dr_h_dropfn();
CALL dr_h_droppr();
SELECT 1 \; DROP TABLE dr_h_x4 \; SELECT 2;
DROP TABLE IF EXISTS dr_h_missing;
SELECT lo_unlink(4247003);
\set VERBOSITY default
DROP TABLE dr_h_dep CASCADE;
RESET ROLE;
SELECT object FROM dr_inventory('dr_h', 'dr_db_h', 'dr_victim_h', 'dr_own_h', 4247003)
WHERE present;

-- ===== exemptions (agent tagged reject): nothing committed can be lost
SET ROLE ag_bot;
\set VERBOSITY terse
-- temporary table and view
CREATE TEMP TABLE dr_tmp (id int);
INSERT INTO dr_tmp VALUES (1);
DROP TABLE dr_tmp;
CREATE TEMP VIEW dr_tmpv AS SELECT id FROM dr_r_tab;
DROP VIEW dr_tmpv;
-- objects created earlier in the same transaction
BEGIN;
CREATE TABLE dr_new (id int);
INSERT INTO dr_new VALUES (1);
CREATE VIEW dr_newv AS SELECT id FROM dr_new;
CREATE FUNCTION dr_newfn() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TYPE dr_newty AS ENUM ('x');
DROP VIEW dr_newv;
DROP TABLE dr_new;
DROP FUNCTION dr_newfn();
DROP TYPE dr_newty;
COMMIT;
-- a new table with a serial column and an index: all of it is new
BEGIN;
CREATE TABLE dr_new2 (id serial PRIMARY KEY, v text);
CREATE INDEX dr_new2_v ON dr_new2 (v);
INSERT INTO dr_new2 (v) VALUES ('a');
DROP INDEX dr_new2_v;
DROP TABLE dr_new2;
COMMIT;
-- a new index on an old table
BEGIN;
CREATE INDEX dr_r_tab_v ON dr_r_tab (v);
DROP INDEX dr_r_tab_v;
COMMIT;
-- a role created (and tagged) in the same transaction
BEGIN;
CREATE ROLE dr_newrole;
DROP ROLE dr_newrole;
COMMIT;
SELECT to_regclass('dr_new'), to_regclass('dr_new2'), to_regclass('dr_new2_id_seq'),
       to_regclass('dr_r_tab_v'), to_regprocedure('dr_newfn()'),
       (SELECT count(*) FROM pg_roles WHERE rolname = 'dr_newrole') AS newrole;
-- one temporary and one committed table in one DROP: only the committed
-- one is listed, nothing is dropped
CREATE TEMP TABLE dr_tmp2 (id int);
DROP TABLE dr_tmp2, dr_r_tab;
SELECT to_regclass('dr_tmp2') IS NOT NULL AS tmp2, to_regclass('dr_r_tab') IS NOT NULL AS tab;
DROP TABLE dr_tmp2;
-- not exempt inside a transaction that also created objects: rejected,
-- and the whole transaction is rolled back
BEGIN;
CREATE TABLE dr_new3 (id int);
CREATE TEMP TABLE dr_tmp3 (id int);
DROP TABLE dr_tmp3;
DROP TABLE dr_r_m1;
COMMIT;
SELECT to_regclass('dr_new3'), to_regclass('dr_r_m1') IS NOT NULL AS m1;
-- a new schema holding an old table: the schema is new, the table is not
BEGIN;
CREATE SCHEMA dr_newsch;
ALTER TABLE dr_r_tab SET SCHEMA dr_newsch;
DROP SCHEMA dr_newsch CASCADE;
ROLLBACK;
-- CREATE OR REPLACE does not make an old function new
BEGIN;
CREATE OR REPLACE FUNCTION dr_r_fn() RETURNS int LANGUAGE sql AS 'SELECT 2';
DROP FUNCTION dr_r_fn();
ROLLBACK;
-- in a savepoint: rejected, and rolling back to the savepoint lets the
-- transaction go on with the table intact
BEGIN;
SAVEPOINT s1;
DROP TABLE dr_r_m2;
ROLLBACK TO SAVEPOINT s1;
SELECT count(*) FROM dr_r_m2;
COMMIT;
-- the log agent: exempt drops print no WARNING and write no event
SET ROLE ag_bot_log;
CREATE TEMP TABLE dr_tmp4 (id int);
DROP TABLE dr_tmp4;
BEGIN;
CREATE TABLE dr_new4 (id int);
DROP TABLE dr_new4;
COMMIT;
RESET ROLE;
SELECT count(*) FROM dr_r_tab;

-- ===== the audit trail: one row per decision, with only that statement
\set VERBOSITY default
SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events
WHERE id > :last_id AND NOT objects[1] LIKE 'large object %'
ORDER BY id;
-- lo_unlink(): the decision rows (see the report for command and query)
SELECT role_name, class, decision, objects
FROM agent_guard.events
WHERE id > :last_id AND objects[1] LIKE 'large object %'
ORDER BY id;

-- ===== cleanup, as the superuser
CREATE PROCEDURE dr_clean(p text) LANGUAGE plpgsql AS $clean$
BEGIN
  EXECUTE format($f$
    DROP SCHEMA IF EXISTS %1$s_sch CASCADE;
    DROP TABLE IF EXISTS %1$s_tab, %1$s_dep, %1$s_m1, %1$s_m2,
      %1$s_x1, %1$s_x2, %1$s_x3, %1$s_x4, %1$s_src CASCADE;
    DROP FOREIGN TABLE IF EXISTS %1$s_ft;
    DROP SEQUENCE IF EXISTS %1$s_seq;
    DROP FUNCTION IF EXISTS %1$s_fn(), %1$s_trgfn(), %1$s_dropfn();
    DROP PROCEDURE IF EXISTS %1$s_pr(), %1$s_droppr();
    DROP TYPE IF EXISTS %1$s_ty;
    DROP DOMAIN IF EXISTS %1$s_dom;
    DROP SERVER IF EXISTS %1$s_srv, %1$s_srv2;
  $f$, p);
END
$clean$;
SET client_min_messages = warning;
CALL dr_clean('dr_r');
CALL dr_clean('dr_l');
CALL dr_clean('dr_h');
RESET client_min_messages;
SELECT lo_unlink(4247001);
DROP DATABASE dr_db_r;
DROP OWNED BY dr_own_r, dr_own_l, dr_own_h;
DROP ROLE dr_victim_r, dr_own_r, dr_own_l, dr_own_h;
ALTER ROLE ag_bot NOCREATEROLE;
ALTER ROLE ag_bot_log NOCREATEROLE;
ALTER ROLE ag_human NOCREATEROLE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM dr_maker, ag_bot', current_database()); END $$;
DROP OWNED BY dr_maker;
DROP ROLE dr_maker;
DROP FOREIGN DATA WRAPPER dr_dummy;
DROP PROCEDURE dr_make(text, oid), dr_clean(text);
DROP FUNCTION dr_inventory(text, text, text, text, oid), dr_sd_drop();
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname LIKE 'dr\_%';
SELECT rolname FROM pg_roles WHERE rolname LIKE 'dr\_%';
SELECT datname FROM pg_database WHERE datname LIKE 'dr\_%';
