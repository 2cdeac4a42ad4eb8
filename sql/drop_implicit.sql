-- drop_implicit: drops an agent's statement makes without saying DROP.
-- 1. Statements that create and drop a transient heap (table rewrites:
--    VACUUM FULL, CLUSTER, REFRESH MATERIALIZED VIEW, ALTER ... TYPE) run
--    for agents (they once failed with "cache lookup failed for cache 80").
-- 2. A composite type created in the same transaction can be dropped.
-- 3. lo_unlink() outside a utility statement: command "lo_unlink", the
--    target named as a large object, and the query text recorded.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
SET ROLE ag_bot;
CREATE TABLE df_t (id int PRIMARY KEY, w int);
INSERT INTO df_t SELECT g, g FROM generate_series(1, 3) g;
CREATE MATERIALIZED VIEW df_mv AS SELECT id FROM df_t;
CREATE UNIQUE INDEX df_mv_id ON df_mv (id);
CREATE TYPE df_ct2 AS (a int);
SELECT lo_from_bytea(4248001, 'x');
SELECT lo_from_bytea(4248002, 'x');
\set VERBOSITY terse
-- 1. internal drops of a rewrite are not the agent's drops
VACUUM FULL df_t;
CLUSTER df_t USING df_t_pkey;
ALTER TABLE df_t ALTER COLUMN w TYPE bigint; -- a rewrite of every row: see suite rewrite
ALTER TABLE df_t SET UNLOGGED; -- a crash would empty it: see suite unlogged
ALTER TABLE df_t SET LOGGED;
ALTER TABLE df_t ADD COLUMN r float8 DEFAULT random();
REFRESH MATERIALIZED VIEW df_mv;
REFRESH MATERIALIZED VIEW CONCURRENTLY df_mv;
SELECT count(*) FROM df_t;
SELECT count(*) FROM df_mv;
-- 2. composite types: new in this transaction is exempt, committed is not
BEGIN;
CREATE TYPE df_ct AS (a int);
DROP TYPE df_ct;
COMMIT;
SELECT to_regtype('df_ct');
DROP TYPE df_ct2;
CREATE TYPE pg_temp.df_ct3 AS (a int);
DROP TYPE pg_temp.df_ct3;
-- 3. lo_unlink() in a multi-statement string and through the fast path
SELECT 1 \; SELECT lo_unlink(4248001) \; SELECT 2;
\lo_unlink 4248002
\set VERBOSITY default
SELECT lo_unlink(4248001);
RESET ROLE;
SELECT count(*) FROM pg_largeobject_metadata WHERE oid IN (4248001, 4248002);
SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;
-- cleanup
DROP MATERIALIZED VIEW df_mv;
DROP TABLE df_t;
DROP TYPE df_ct2;
SELECT lo_unlink(4248001), lo_unlink(4248002);

-- 4. an object whose name mentions an object the same DROP removed before
-- it (DROP EXTENSION hstore CASCADE drops the type hstore before
-- hstore_out(hstore)): the drop is decided, not failed on the name, and
-- the audit row keeps the full list of objects
CREATE EXTENSION hstore;
CREATE ROLE df_super SUPERUSER;
SELECT agent_guard.tag_role('df_super', 'reject');
SET SESSION AUTHORIZATION df_super;
\set VERBOSITY terse
DROP EXTENSION hstore CASCADE;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
SELECT extname FROM pg_extension WHERE extname = 'hstore';
SELECT array_length(objects, 1) > 100 AS full_list_in_audit
FROM agent_guard.events WHERE command = 'DROP EXTENSION' ORDER BY id DESC LIMIT 1;
SELECT agent_guard.tag_role('df_super', 'log');
SET SESSION AUTHORIZATION df_super;
\set VERBOSITY terse
DROP EXTENSION hstore CASCADE;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
SELECT count(*) AS hstore_left FROM pg_extension WHERE extname = 'hstore';
DROP ROLE df_super;

-- 5. lo_unlink() run through SPI inside a utility statement (DO, CREATE
-- TABLE AS, a procedure) is collected into that statement's frame; a
-- procedure that COMMITs is decided at its commit, before anything is lost
SET ROLE ag_bot;
SELECT lo_from_bytea(4249001, 'keep 1') IS NOT NULL AS made;
SELECT lo_from_bytea(4249002, 'keep 2') IS NOT NULL AS made;
SELECT lo_from_bytea(4249003, 'keep 3') IS NOT NULL AS made;
CREATE PROCEDURE df_lo_commit() LANGUAGE plpgsql
    AS $$ BEGIN PERFORM lo_unlink(4249003); COMMIT; END $$;
RESET ROLE;
SET ROLE ag_bot;
\set VERBOSITY terse
DO $$ BEGIN PERFORM lo_unlink(4249001); END $$;
CREATE TABLE df_cta AS SELECT lo_unlink(4249002) AS r;
CALL df_lo_commit();
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS large_objects_kept FROM pg_largeobject_metadata
WHERE oid IN (4249001, 4249002, 4249003);
SELECT to_regclass('df_cta') IS NULL AS no_table;
-- the same procedure by the log agent: it runs, with a warning at its commit
ALTER PROCEDURE df_lo_commit() OWNER TO ag_bot_log;
ALTER LARGE OBJECT 4249003 OWNER TO ag_bot_log;
SET ROLE ag_bot_log;
\set VERBOSITY terse
CALL df_lo_commit();
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS large_objects_kept FROM pg_largeobject_metadata
WHERE oid IN (4249001, 4249002, 4249003);
DROP PROCEDURE df_lo_commit();
SELECT lo_unlink(4249001), lo_unlink(4249002);
