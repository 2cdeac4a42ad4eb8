-- temp_dependency: PostgreSQL drops a session's temporary objects, and
-- everything that depends on them, when the session ends or runs DISCARD
-- TEMP, as internal work.  A committed table made a typed table of a
-- temporary type (ALTER TABLE ... OF pg_temp.t), a column given a temporary
-- domain or collation, a default, check, index, trigger, policy, rule, view
-- or function using a temporary function: all would go with it, silently.
-- So agent DDL that makes a persistent object depend on a temporary one is
-- class drop (decided like DROP), and a DISCARD TEMP of an agent session
-- that would take committed objects along is decided as their drop.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

SET ROLE ag_bot;
CREATE TABLE td_orders (id int PRIMARY KEY, amount numeric, note text);
INSERT INTO td_orders SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 10) g;
CREATE VIEW td_orders_v AS SELECT id FROM td_orders;
CREATE TABLE td_parted (id int, amount numeric) PARTITION BY RANGE (id);
CREATE TABLE td_parted1 PARTITION OF td_parted FOR VALUES FROM (0) TO (100);
INSERT INTO td_parted VALUES (1, 1), (2, 2);
RESET ROLE;

SET ROLE ag_bot;
CREATE TYPE pg_temp.td_row AS (id int, amount numeric, note text);
CREATE DOMAIN pg_temp.td_num AS numeric;
CREATE DOMAIN pg_temp.td_int AS int;
CREATE COLLATION pg_temp.td_c (locale = 'C');
CREATE FUNCTION pg_temp.td_f(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE
  AS 'SELECT $1';
CREATE FUNCTION pg_temp.td_trg() RETURNS trigger LANGUAGE plpgsql
  AS 'BEGIN RETURN NEW; END';
CREATE SEQUENCE pg_temp.td_seq;
CREATE TEMP TABLE td_tmp (id int PRIMARY KEY, amount numeric);
-- the issue's case: a committed table made a typed table of a temporary
-- type would be dropped at the end of the session (one full message)
ALTER TABLE td_orders OF pg_temp.td_row;
\set VERBOSITY terse
-- a column given a temporary domain (binary coercible: no rewrite), also
-- of a partitioned table
ALTER TABLE td_orders ALTER COLUMN amount TYPE pg_temp.td_num;
ALTER TABLE td_parted ALTER COLUMN amount TYPE pg_temp.td_num;
ALTER TABLE td_orders ADD COLUMN extra pg_temp.td_int;
ALTER TABLE td_orders ALTER COLUMN note TYPE text COLLATE pg_temp.td_c;
-- defaults, constraints, indexes, triggers, policies, rules
ALTER TABLE td_orders ALTER COLUMN amount SET DEFAULT pg_temp.td_f(0);
ALTER TABLE td_orders ALTER COLUMN id SET DEFAULT nextval('pg_temp.td_seq');
ALTER TABLE td_orders ADD CONSTRAINT td_ck CHECK (pg_temp.td_f(amount) >= 0);
CREATE INDEX td_i ON td_orders (pg_temp.td_f(amount));
CREATE TRIGGER td_t BEFORE INSERT ON td_orders
  FOR EACH ROW EXECUTE FUNCTION pg_temp.td_trg();
CREATE POLICY td_p ON td_orders USING (pg_temp.td_f(amount) >= 0);
CREATE RULE td_r AS ON INSERT TO td_orders DO ALSO SELECT pg_temp.td_f(1);
-- persistent objects that would not outlive the session: new ones too
CREATE TABLE td_new (a pg_temp.td_int);
CREATE VIEW td_fv AS SELECT pg_temp.td_f(amount) FROM td_orders;
CREATE MATERIALIZED VIEW td_mv AS SELECT pg_temp.td_f(amount) FROM td_orders;
CREATE FUNCTION td_g(pg_temp.td_int) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION td_h(numeric) RETURNS numeric LANGUAGE sql
  BEGIN ATOMIC SELECT pg_temp.td_f($1); END;
CREATE DOMAIN td_d2 AS pg_temp.td_int;
CREATE OR REPLACE VIEW td_orders_v AS SELECT id, pg_temp.td_f(amount) AS amount FROM td_orders;
-- the same through a DO block and a function
DO $$BEGIN EXECUTE 'ALTER TABLE td_orders OF pg_temp.td_row'; END$$;
CREATE FUNCTION td_alter() RETURNS void LANGUAGE plpgsql
  AS $$BEGIN ALTER TABLE td_orders ALTER COLUMN amount TYPE pg_temp.td_num; END$$;
SELECT td_alter();
-- a procedure that commits in the middle: decided before its COMMIT
CREATE PROCEDURE td_proc() LANGUAGE plpgsql
  AS $$BEGIN ALTER TABLE td_orders OF pg_temp.td_row; COMMIT; END$$;
CALL td_proc();
-- caught by an exception block: nothing changed, the audit row stays
DO $$BEGIN
  ALTER TABLE td_orders OF pg_temp.td_row;
EXCEPTION WHEN SQLSTATE '42AG1' THEN RAISE NOTICE 'caught: %', SQLSTATE;
END$$;
\set VERBOSITY default
-- temporary objects depending on temporary ones are not guarded
CREATE TEMP TABLE td_tmp2 (a pg_temp.td_int DEFAULT 1, b numeric CHECK (pg_temp.td_f(b) >= 0));
CREATE INDEX ON td_tmp2 (pg_temp.td_f(b));
CREATE TRIGGER td_tmp_t BEFORE INSERT ON td_tmp2
  FOR EACH ROW EXECUTE FUNCTION pg_temp.td_trg();
ALTER TABLE td_tmp ALTER COLUMN amount TYPE pg_temp.td_num;
CREATE VIEW td_tmp_v AS SELECT * FROM td_tmp;
CREATE TYPE pg_temp.td_row2 AS (a int);
CREATE TEMP TABLE td_typed OF pg_temp.td_row2;
-- and persistent objects depending on persistent ones are plain DDL
ALTER TABLE td_orders ALTER COLUMN amount SET DEFAULT 0;
CREATE INDEX td_amount ON td_orders (abs(amount));
-- a temporary view on a persistent table: not guarded either
CREATE TEMP VIEW td_tv AS SELECT * FROM td_orders;
DISCARD TEMP;
RESET ROLE;
-- nothing depends on a temporary object; every table and row is there
SELECT pg_describe_object(classid, objid, objsubid) AS depends_on_temp
FROM pg_depend
WHERE refobjid IN (SELECT oid FROM pg_type WHERE typnamespace = pg_my_temp_schema())
ORDER BY 1;
SELECT count(*) AS orders, sum(amount) AS total FROM td_orders;
SELECT count(*) AS parted FROM td_parted;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
  WHERE attrelid = 'td_orders'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS new_objects FROM pg_class
  WHERE relname IN ('td_new', 'td_fv', 'td_mv', 'td_i');

-- DISCARD TEMP in an agent session that would take a committed object
-- along: decided as its drop.  A human's session made the dependency (a
-- human is never guarded); the session then turns into an agent's.
-- (DISCARD ALL resets the session's role first: here that makes the
-- session a human's again, so it is shown with an agent's login in the
-- TAP test t/016_temp_cleanup.pl, with the end of a session.)
CREATE TYPE pg_temp.td_hrow AS (id int, amount numeric, note text);
ALTER TABLE td_orders OF pg_temp.td_hrow;
SET ROLE ag_bot;
DISCARD TEMP;
RESET ROLE;
SELECT count(*) AS orders_kept FROM td_orders;
ALTER TABLE td_orders NOT OF;
-- log mode: the cleanup runs, with a warning naming what it takes
CREATE TABLE td_log (id int);
INSERT INTO td_log VALUES (1);
GRANT ALL ON td_log TO ag_bot_log;
CREATE DOMAIN pg_temp.td_hint AS int;
ALTER TABLE td_log ADD COLUMN lost pg_temp.td_hint;
ANALYZE td_log;
SET ROLE ag_bot_log;
DISCARD TEMP;
RESET ROLE;
SELECT attname FROM pg_attribute
  WHERE attrelid = 'td_log'::regclass AND attnum > 0 AND NOT attisdropped;
-- a human session's own cleanup is never touched: the column goes
CREATE DOMAIN pg_temp.td_hd AS int;
ALTER TABLE td_log ADD COLUMN gone pg_temp.td_hd;
DISCARD TEMP;
SELECT attname FROM pg_attribute
  WHERE attrelid = 'td_log'::regclass AND attnum > 0 AND NOT attisdropped;

SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP TABLE td_orders, td_parted, td_log CASCADE;
DROP FUNCTION td_alter();
DROP PROCEDURE td_proc();
