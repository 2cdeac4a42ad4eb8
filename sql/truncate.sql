-- truncate: class "truncate" (doc/design.md section 3).  Each role builds the
-- same set of tables holding committed rows: ag_bot (tagged reject, prefix
-- tr_r_), ag_bot_log (tagged log, tr_l_) and ag_human (tr_h_).  Each then
-- runs the same table of TRUNCATEs.  Reject: every case fails with 42AG1
-- and every row is still there.  Log: every case runs, with a WARNING.
-- Human: every case runs, the guard prints nothing.  Then the exemptions
-- (temporary tables, tables created in the same transaction) and the
-- audit rows.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

-- tr_make(prefix): the tables, run by the role that will own them
CREATE PROCEDURE tr_make(p text) LANGUAGE plpgsql AS $make$
BEGIN
  EXECUTE format($f$
    CREATE TABLE %1$s_t (id int PRIMARY KEY, v text);
    INSERT INTO %1$s_t SELECT g, 'v' || g FROM generate_series(1, 3) g;
    CREATE TABLE %1$s_par (id int);
    CREATE TABLE %1$s_chi () INHERITS (%1$s_par);
    INSERT INTO %1$s_par VALUES (1), (2);
    INSERT INTO %1$s_chi VALUES (3);
    CREATE TABLE %1$s_part (id int, k int) PARTITION BY RANGE (k);
    CREATE TABLE %1$s_part1 PARTITION OF %1$s_part FOR VALUES FROM (0) TO (10);
    CREATE TABLE %1$s_part2 PARTITION OF %1$s_part FOR VALUES FROM (10) TO (20);
    INSERT INTO %1$s_part VALUES (1, 1), (2, 15), (3, 16);
    CREATE TABLE %1$s_pk (id int PRIMARY KEY);
    CREATE TABLE %1$s_fk (id int REFERENCES %1$s_pk);
    INSERT INTO %1$s_pk VALUES (1), (2);
    INSERT INTO %1$s_fk VALUES (1), (2), (2);
    CREATE TABLE %1$s_ident (id int GENERATED ALWAYS AS IDENTITY, v text);
    INSERT INTO %1$s_ident (v) VALUES ('a'), ('b'), ('c');
    CREATE TABLE %1$s_m1 (id int);
    CREATE TABLE %1$s_m2 (id int);
    INSERT INTO %1$s_m1 VALUES (1);
    INSERT INTO %1$s_m2 VALUES (1), (2);
    CREATE TABLE %1$s_x1 (id int);
    CREATE TABLE %1$s_x2 (id int);
    CREATE TABLE %1$s_x3 (id int);
    CREATE TABLE %1$s_x4 (id int);
    INSERT INTO %1$s_x1 VALUES (1);
    INSERT INTO %1$s_x2 VALUES (1);
    INSERT INTO %1$s_x3 VALUES (1);
    INSERT INTO %1$s_x4 VALUES (1);
    CREATE FUNCTION %1$s_truncfn() RETURNS void LANGUAGE sql
      AS 'TRUNCATE %1$s_x2';
    CREATE PROCEDURE %1$s_truncpr() LANGUAGE plpgsql
      AS $b$BEGIN TRUNCATE %1$s_x3; END$b$;
  $f$, p);
END
$make$;

-- the rows of every table of a set
CREATE FUNCTION tr_counts(p text) RETURNS TABLE (tab text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['t', 'par', 'chi', 'part1', 'part2', 'pk', 'fk',
                           'ident', 'm1', 'm2', 'x1', 'x2', 'x3', 'x4'] LOOP
    tab := t;
    EXECUTE format('SELECT count(*) FROM ONLY %I', p || '_' || t) INTO n;
    RETURN NEXT;
  END LOOP;
END
$$;

SET ROLE ag_bot;
CALL tr_make('tr_r');
SET ROLE ag_bot_log;
CALL tr_make('tr_l');
SET ROLE ag_human;
CALL tr_make('tr_h');
RESET ROLE;
SELECT r.tab, r.n AS tr_r, l.n AS tr_l, h.n AS tr_h
FROM tr_counts('tr_r') r JOIN tr_counts('tr_l') l USING (tab)
     JOIN tr_counts('tr_h') h USING (tab);
SELECT relname, relowner::regrole FROM pg_class
WHERE relname IN ('tr_r_t', 'tr_l_t', 'tr_h_t') ORDER BY 1;

-- ===== agent tagged reject: every case is refused, every row stays
SET ROLE ag_bot;
SELECT agent_session, action FROM agent_guard.status();
\set VERBOSITY terse
TRUNCATE tr_r_t;
TRUNCATE TABLE tr_r_t;
TRUNCATE ONLY tr_r_par;
TRUNCATE tr_r_par;
TRUNCATE tr_r_part;
TRUNCATE tr_r_part2;
TRUNCATE tr_r_pk CASCADE;
TRUNCATE tr_r_ident RESTART IDENTITY;
TRUNCATE tr_r_m1, tr_r_m2;
-- the paths: DO block (static and EXECUTE), SQL function, procedure, one
-- query string holding several statements
DO $$BEGIN TRUNCATE tr_r_x1; END$$;
DO $$BEGIN EXECUTE 'TRUNCATE tr_r_x1'; END$$;
SELECT tr_r_truncfn();
CALL tr_r_truncpr();
SELECT 1 \; TRUNCATE tr_r_x4 \; SELECT 2;
-- default verbosity: DETAIL lists the table and what CASCADE takes
\set VERBOSITY default
TRUNCATE tr_r_pk, tr_r_t CASCADE;
RESET ROLE;
SELECT * FROM tr_counts('tr_r');
-- RESTART IDENTITY did not reset the sequence either
INSERT INTO tr_r_ident (v) VALUES ('d') RETURNING id;

-- ===== agent tagged log: every case runs, with a WARNING
SET ROLE ag_bot_log;
\set VERBOSITY terse
TRUNCATE tr_l_t;
TRUNCATE ONLY tr_l_par;
SELECT (SELECT count(*) FROM ONLY tr_l_par) AS par, (SELECT count(*) FROM tr_l_chi) AS chi;
TRUNCATE tr_l_part;
TRUNCATE tr_l_pk CASCADE;
TRUNCATE tr_l_ident RESTART IDENTITY;
TRUNCATE tr_l_m1, tr_l_m2;
DO $$BEGIN EXECUTE 'TRUNCATE tr_l_x1'; END$$;
SELECT tr_l_truncfn();
CALL tr_l_truncpr();
SELECT 1 \; TRUNCATE tr_l_x4 \; SELECT 2;
\set VERBOSITY default
TRUNCATE tr_l_par;
RESET ROLE;
SELECT * FROM tr_counts('tr_l');
INSERT INTO tr_l_ident (v) VALUES ('d') RETURNING id;

-- ===== human: every case runs, the guard says nothing
SET ROLE ag_human;
\set VERBOSITY terse
TRUNCATE tr_h_t;
TRUNCATE ONLY tr_h_par;
TRUNCATE tr_h_part;
TRUNCATE tr_h_pk CASCADE;
TRUNCATE tr_h_ident RESTART IDENTITY;
TRUNCATE tr_h_m1, tr_h_m2;
DO $$BEGIN EXECUTE 'TRUNCATE tr_h_x1'; END$$;
SELECT tr_h_truncfn();
CALL tr_h_truncpr();
SELECT 1 \; TRUNCATE tr_h_x4 \; SELECT 2;
TRUNCATE tr_h_par;
RESET ROLE;
SELECT * FROM tr_counts('tr_h');
INSERT INTO tr_h_ident (v) VALUES ('d') RETURNING id;

-- ===== exemptions (agent tagged reject): no committed row can be lost
SET ROLE ag_bot;
\set VERBOSITY terse
-- a temporary table
CREATE TEMP TABLE tr_tmp (id int);
INSERT INTO tr_tmp VALUES (1), (2);
TRUNCATE tr_tmp;
SELECT count(*) FROM tr_tmp;
-- a table created in the same transaction, with an identity and a
-- referencing table that is new too
BEGIN;
CREATE TABLE tr_new (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE tr_new_fk (id int REFERENCES tr_new);
INSERT INTO tr_new DEFAULT VALUES;
INSERT INTO tr_new_fk VALUES (1);
TRUNCATE tr_new CASCADE;
TRUNCATE tr_new, tr_new_fk RESTART IDENTITY;
INSERT INTO tr_new DEFAULT VALUES RETURNING id;
COMMIT;
-- a temporary and a committed table in one TRUNCATE: only the committed
-- one is listed, nothing is emptied
INSERT INTO tr_tmp VALUES (1);
TRUNCATE tr_tmp, tr_r_t;
SELECT (SELECT count(*) FROM tr_tmp) AS tmp, (SELECT count(*) FROM tr_r_t) AS t;
-- a new table whose CASCADE reaches an old one: rejected
BEGIN;
CREATE TABLE tr_new2 (id int PRIMARY KEY);
INSERT INTO tr_new2 VALUES (1), (2);
ALTER TABLE tr_r_m2 ADD FOREIGN KEY (id) REFERENCES tr_new2;
TRUNCATE tr_new2 CASCADE;
ROLLBACK;
-- a new partitioned table with an old table attached: rejected
BEGIN;
CREATE TABLE tr_newpart (id int, v text) PARTITION BY RANGE (id);
ALTER TABLE tr_newpart ATTACH PARTITION tr_r_t FOR VALUES FROM (0) TO (100);
TRUNCATE tr_newpart;
ROLLBACK;
-- a new parent of an old table: rejected
BEGIN;
CREATE TABLE tr_newpar (id int);
ALTER TABLE tr_r_m1 INHERIT tr_newpar;
TRUNCATE tr_newpar;
ROLLBACK;
-- rejected inside a transaction that also created a table: the whole
-- transaction is rolled back
BEGIN;
CREATE TABLE tr_new3 (id int);
TRUNCATE tr_new3;
TRUNCATE tr_r_m1;
COMMIT;
SELECT to_regclass('tr_new3'), to_regclass('tr_new') IS NOT NULL AS new;
-- the log agent: exempt TRUNCATEs print no WARNING
SET ROLE ag_bot_log;
CREATE TEMP TABLE tr_tmp2 (id int);
TRUNCATE tr_tmp2;
BEGIN;
CREATE TABLE tr_new4 (id int);
TRUNCATE tr_new4;
COMMIT;
RESET ROLE;
SELECT * FROM tr_counts('tr_r');

-- ===== the audit trail: one row per decision, with only that statement
SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events
WHERE id > :last_id
ORDER BY id;

-- ===== cleanup, as the superuser
DROP TABLE tr_r_t, tr_r_par, tr_r_chi, tr_r_part, tr_r_fk, tr_r_pk, tr_r_ident,
  tr_r_m1, tr_r_m2, tr_r_x1, tr_r_x2, tr_r_x3, tr_r_x4,
  tr_l_t, tr_l_par, tr_l_chi, tr_l_part, tr_l_fk, tr_l_pk, tr_l_ident,
  tr_l_m1, tr_l_m2, tr_l_x1, tr_l_x2, tr_l_x3, tr_l_x4,
  tr_h_t, tr_h_par, tr_h_chi, tr_h_part, tr_h_fk, tr_h_pk, tr_h_ident,
  tr_h_m1, tr_h_m2, tr_h_x1, tr_h_x2, tr_h_x3, tr_h_x4,
  tr_new, tr_new_fk, tr_new4;
DROP FUNCTION tr_r_truncfn(), tr_l_truncfn(), tr_h_truncfn(), tr_counts(text);
DROP PROCEDURE tr_r_truncpr(), tr_l_truncpr(), tr_h_truncpr(), tr_make(text);
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname LIKE 'tr\_%';
