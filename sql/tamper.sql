-- tamper: every path of doc/design.md section 6, from a non-superuser agent with
-- CREATEROLE and CREATEDB that owns tables (tagged 'park': tampering is
-- refused all the same, never parked), then from a superuser agent.  Each
-- attempt must fail with SQLSTATE 42AG2 (or PostgreSQL's own permission
-- error first, for the non-superuser), and change nothing.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS first_event FROM agent_guard.events \gset
CREATE ROLE tp_bot LOGIN CREATEROLE CREATEDB;
CREATE ROLE tp_super LOGIN SUPERUSER;
CREATE ROLE tp_group NOLOGIN;
CREATE ROLE tp_member LOGIN IN ROLE tp_group;
CREATE ROLE tp_human LOGIN;
SELECT agent_guard.tag_role('tp_bot', 'park');
SELECT agent_guard.tag_role('tp_super', 'reject');
SELECT agent_guard.tag_role('tp_group', 'reject');
GRANT CREATE ON SCHEMA public TO tp_bot;
SET ROLE tp_bot;
CREATE TABLE tp_data (id int PRIMARY KEY, v text);
INSERT INTO tp_data SELECT g, 'v' || g FROM generate_series(1, 5) g;
RESET ROLE;
-- what must still be intact at the end
CREATE TEMP TABLE tp_before AS
SELECT (SELECT count(*) FROM agent_guard.agents) AS agents,
       (SELECT count(*) FROM pg_db_role_setting) AS stored_settings,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'agent_guard.events'::regclass AND attnum > 0) AS event_cols,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'agent_guard'::regnamespace) AS functions,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace) AS relations;

-- one representative, at full verbosity
SET ROLE tp_bot;
DROP EXTENSION agent_guard;
RESET ROLE;

-- the SQLSTATE is 42AG2
DO $$
BEGIN
    SET LOCAL ROLE tp_bot;
    EXECUTE 'ALTER SYSTEM SET work_mem = ''1GB''';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END
$$;

\set VERBOSITY terse
SET ROLE tp_bot;
-- the extension and its schema
DROP EXTENSION IF EXISTS agent_guard CASCADE;
ALTER EXTENSION agent_guard UPDATE;
ALTER EXTENSION agent_guard DROP TABLE agent_guard.events;
ALTER EXTENSION agent_guard ADD TABLE tp_data;
DROP SCHEMA agent_guard CASCADE;
ALTER SCHEMA agent_guard RENAME TO ag_old;
ALTER SCHEMA agent_guard OWNER TO tp_bot;
-- objects in the schema
CREATE TABLE agent_guard.x (a int);
CREATE FUNCTION agent_guard.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER TABLE tp_data SET SCHEMA agent_guard;
ALTER TABLE agent_guard.events ADD COLUMN x int;
ALTER TABLE agent_guard.events OWNER TO tp_bot;
-- the guard's rows
INSERT INTO agent_guard.events (role_name, class, decision, command) VALUES ('x', 'guard', 'rejected', 'x');
UPDATE agent_guard.requests SET status = 'approved';
DELETE FROM agent_guard.events;
TRUNCATE agent_guard.events;
-- privileges
GRANT ALL ON agent_guard.events TO tp_bot;
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text) TO tp_bot;
GRANT ALL ON ALL TABLES IN SCHEMA agent_guard TO tp_bot;
ALTER DEFAULT PRIVILEGES IN SCHEMA agent_guard GRANT ALL ON TABLES TO tp_bot;
LOCK TABLE agent_guard.events;
-- tags
SECURITY LABEL FOR agent_guard ON ROLE tp_bot IS NULL;
SECURITY LABEL FOR agent_guard ON ROLE tp_human IS 'log';
SECURITY LABEL ON ROLE tp_bot IS NULL;
SELECT agent_guard.untag_role('tp_bot');
SELECT agent_guard.approve(1);
-- settings
SET agent_guard.default_action = 'log';
RESET agent_guard.default_action;
SELECT set_config('agent_guard.default_action', 'log', false);
CREATE FUNCTION tp_setf() RETURNS int LANGUAGE sql SET agent_guard.default_action = 'log' AS 'SELECT 1';
ALTER ROLE tp_bot SET agent_guard.default_action = 'log';
ALTER ROLE tp_human SET search_path = evil, public;
ALTER ROLE tp_bot RESET ALL;
ALTER DATABASE regression SET agent_guard.default_action = 'log';
ALTER SYSTEM SET work_mem = '8MB';
LOAD 'agent_guard';
-- roles: its own, others, memberships
ALTER ROLE tp_bot NOCREATEROLE;
ALTER ROLE tp_bot RENAME TO tp_bot2;
ALTER ROLE tp_human PASSWORD 'known-to-the-agent';
ALTER ROLE tp_member NOINHERIT;
REVOKE tp_group FROM tp_member;
GRANT tp_human TO tp_bot;
CREATE ROLE tp_esc LOGIN PASSWORD 'x' IN ROLE pg_execute_server_program;
CREATE USER tp_esc2 IN GROUP pg_write_server_files;
CREATE ROLE tp_trap ROLE tp_human;
DROP ROLE tp_member;
-- allowed: a plain new role, tagged with the creator's action
CREATE ROLE tp_spawned;
RESET ROLE;
SELECT role, action FROM agent_guard.agents WHERE role::text = 'tp_spawned';

-- a member of a tagged group cannot leave the group either
SET ROLE tp_member;
SELECT agent_session FROM agent_guard.status();
RESET ROLE;

-- the superuser agent: every listed path is still blocked
SET SESSION AUTHORIZATION tp_super;
DROP EXTENSION agent_guard;
DROP SCHEMA agent_guard CASCADE;
ALTER SCHEMA agent_guard RENAME TO ag_old;
CREATE TABLE agent_guard.x (a int);
-- every kind of object, named or through search_path; temporary ones pass
CREATE TYPE agent_guard.mood AS ENUM ('calm');
CREATE DOMAIN agent_guard.d AS int;
CREATE TYPE agent_guard.pair AS (a int, b int);
CREATE SEQUENCE agent_guard.s;
SET search_path = agent_guard, public;
CREATE TABLE x (a int);
CREATE VIEW v AS SELECT 1 AS one;
CREATE TEMP TABLE tp_scratch (a int);
DROP TABLE tp_scratch;
RESET search_path;
CREATE OR REPLACE FUNCTION agent_guard.tag_role(role regrole, action text DEFAULT 'park') RETURNS void LANGUAGE sql AS 'SELECT';
ALTER FUNCTION agent_guard.approve(bigint, text) OWNER TO tp_super;
ALTER TABLE agent_guard.events DISABLE TRIGGER ALL;
ALTER TABLE agent_guard.events SET SCHEMA public;
CREATE POLICY p ON agent_guard.events USING (false);
CREATE RULE r AS ON INSERT TO agent_guard.events DO INSTEAD NOTHING;
CREATE TRIGGER t BEFORE INSERT ON agent_guard.events FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
ALTER SEQUENCE agent_guard.events_id_seq RESTART 1;
INSERT INTO agent_guard.events (role_name, class, decision, command) VALUES ('x', 'guard', 'rejected', 'x');
DELETE FROM agent_guard.requests;
-- locking the guard's rows (approve() would wait) is writing too, at any depth
SELECT id FROM agent_guard.requests FOR UPDATE;
SELECT count(*) FROM (SELECT id FROM agent_guard.requests FOR NO KEY UPDATE) s;
SELECT (SELECT id FROM agent_guard.requests ORDER BY id LIMIT 1 FOR SHARE);
WITH r AS (SELECT id FROM agent_guard.requests FOR KEY SHARE) SELECT count(*) FROM r;
SELECT 1 FROM pg_catalog.pg_shseclabel LIMIT 1 FOR UPDATE;
SELECT count(*) >= 0 AS reads_pass FROM agent_guard.requests;
COPY agent_guard.events (role_name, class, decision, command) FROM '/dev/null';
TRUNCATE agent_guard.requests CASCADE;
GRANT ALL ON SCHEMA agent_guard TO PUBLIC;
REVOKE EXECUTE ON FUNCTION agent_guard.status() FROM PUBLIC;
SECURITY LABEL FOR agent_guard ON ROLE tp_super IS NULL;
SELECT agent_guard.untag_role('tp_super');
SELECT agent_guard.approve(1);
SET agent_guard.default_action = 'log';
SELECT set_config('agent_guard.default_action', 'log', false);
CREATE FUNCTION tp_setf() RETURNS int LANGUAGE sql SET agent_guard.default_action = 'log' AS 'SELECT 1';
DROP FUNCTION agent_guard.status();
ALTER VIEW agent_guard.agents RENAME TO agents2;
CREATE OR REPLACE VIEW agent_guard.agents AS
    SELECT NULL::regrole AS role, NULL::text COLLATE "C" AS action, NULL::bool AS superuser,
           NULL::bool AS can_login, NULL::regrole[] AS covered_members,
           NULL::bigint AS max_rows WHERE false;
ALTER ROLE tp_super SET agent_guard.default_action = 'log';
ALTER SYSTEM SET shared_preload_libraries = '';
LOAD 'auto_explain';
ALTER ROLE tp_super NOSUPERUSER;
GRANT tp_group TO tp_super;
UPDATE pg_catalog.pg_shseclabel SET label = 'log' WHERE provider = 'agent_guard';
DELETE FROM pg_catalog.pg_shseclabel WHERE provider = 'agent_guard';
DELETE FROM pg_catalog.pg_auth_members;
DROP ROLE tp_bot;
RESET SESSION AUTHORIZATION;
\set VERBOSITY default

-- nothing changed (but the auto-tagged tp_spawned)
SELECT (SELECT count(*) FROM agent_guard.agents WHERE role::text <> 'tp_spawned') AS agents,
       (SELECT count(*) FROM pg_db_role_setting) AS stored_settings,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'agent_guard.events'::regclass AND attnum > 0) AS event_cols,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'agent_guard'::regnamespace) AS functions,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'agent_guard'::regnamespace) AS relations
EXCEPT SELECT * FROM tp_before;
SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname IN ('tp_bot', 'tp_super') ORDER BY 1;
SELECT count(*) AS memberships_of_tp_member FROM pg_auth_members WHERE member = 'tp_member'::regrole;
SELECT count(*) AS escalation_roles FROM pg_roles WHERE rolname IN ('tp_esc', 'tp_esc2', 'tp_trap');
SELECT role, action FROM agent_guard.agents WHERE role::text LIKE 'tp_%' ORDER BY 1;

-- every refused attempt was audited as class guard.  Attempts that locked
-- one of the guard's tables (ALTER TABLE, TRUNCATE, CREATE TRIGGER ...)
-- are written by the writer once the refused statement has rolled back:
-- wait until it has no job running.
CALL ag_wait_writer();
SELECT role_name, decision, command, objects
FROM agent_guard.events WHERE id > :first_event AND class = 'guard' ORDER BY id;
SELECT class, count(*) FROM agent_guard.events WHERE id > :first_event GROUP BY class ORDER BY class;

-- clean up
DROP TABLE tp_data;
REVOKE CREATE ON SCHEMA public FROM tp_bot;
DROP ROLE tp_bot, tp_super, tp_member, tp_group, tp_human, tp_spawned;
