-- created_roles: a role created by an agent session is tagged with
-- everything that limits its creator (action and row limit), whatever
-- the route: CREATE ROLE/USER/GROUP, IN ROLE, after SET ROLE to a human
-- role, inside a SECURITY DEFINER function, in a session_agent session.
\set SHOW_CONTEXT never
CREATE ROLE cr_bot LOGIN CREATEROLE;
CREATE ROLE cr_def LOGIN CREATEROLE;
CREATE ROLE cr_off LOGIN CREATEROLE;
CREATE ROLE cr_admin NOLOGIN CREATEROLE;
CREATE ROLE cr_group NOLOGIN;
SELECT agent_guard.tag_role('cr_bot', 'reject', max_rows => 5);
SELECT agent_guard.tag_role('cr_def', 'reject');
SELECT agent_guard.tag_role('cr_off', 'log', max_rows => 0);
CREATE TABLE cr_data (id int PRIMARY KEY);
INSERT INTO cr_data SELECT generate_series(1, 50);
GRANT SELECT, DELETE ON cr_data TO PUBLIC;

-- the row limit goes with the action (it did not: the new role had the
-- cluster setting, 10000 rows)
SET ROLE cr_bot;
CREATE ROLE cr_r2 LOGIN;
RESET ROLE;
SELECT role, action, max_rows FROM agent_guard.agents WHERE role = 'cr_r2'::regrole;
SET ROLE cr_r2;
SELECT agent_session, action FROM agent_guard.status();
DELETE FROM cr_data WHERE id > 0;
RESET ROLE;
SELECT count(*) FROM cr_data;

-- CREATE USER, CREATE GROUP: the same tag (IN ROLE is refused outright)
SET ROLE cr_bot;
CREATE USER cr_user;
CREATE GROUP cr_grp;
CREATE ROLE cr_in IN ROLE cr_group;
RESET ROLE;
SELECT objoid::regrole AS role, label FROM pg_shseclabel
WHERE provider = 'agent_guard' AND objoid IN ('cr_user'::regrole, 'cr_grp'::regrole)
ORDER BY objoid::regrole::text;

-- a creator that follows agent_guard.max_rows makes a role that follows it;
-- one with no limit at all makes one with none
SET ROLE cr_def;
CREATE ROLE cr_def_child;
RESET ROLE;
SET ROLE cr_off;
CREATE ROLE cr_off_child;
RESET ROLE;
SELECT role, action, max_rows FROM agent_guard.agents
WHERE role IN ('cr_def_child'::regrole, 'cr_off_child'::regrole) ORDER BY role::text;

-- several tags: the strictest action and the smallest limit
GRANT cr_off TO cr_bot;
SET ROLE cr_bot;
CREATE ROLE cr_both;
RESET ROLE;
REVOKE cr_off FROM cr_bot;
SELECT role, action, max_rows FROM agent_guard.agents WHERE role = 'cr_both'::regrole;

-- an agent's session (cr_bot's login) after SET ROLE to a human role that
-- may create roles
GRANT cr_admin TO cr_bot;
SET SESSION AUTHORIZATION cr_bot;
SET ROLE cr_admin;
CREATE ROLE cr_via_set_role;
RESET SESSION AUTHORIZATION;
REVOKE cr_admin FROM cr_bot;
SELECT role, action, max_rows FROM agent_guard.agents WHERE role = 'cr_via_set_role'::regrole;

-- inside a SECURITY DEFINER function owned by a human
CREATE FUNCTION cr_make_role(name text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN EXECUTE format('CREATE ROLE %I', name); END $$;
SET ROLE cr_bot;
SELECT cr_make_role('cr_definer');
RESET ROLE;
SELECT role, action, max_rows FROM agent_guard.agents WHERE role = 'cr_definer'::regrole;

-- a session marked by agent_guard.session_agent (a new connection: the
-- mark lasts until the session ends)
\c -
SET agent_guard.session_agent = on;
CREATE ROLE cr_session_child;
\c -
SELECT role, action, max_rows FROM agent_guard.agents WHERE role = 'cr_session_child'::regrole;

-- clean up
DROP FUNCTION cr_make_role(text);
DROP TABLE cr_data;
DROP ROLE cr_r2, cr_user, cr_grp, cr_def_child, cr_off_child, cr_both,
  cr_via_set_role, cr_definer, cr_session_child;
DROP ROLE cr_bot, cr_def, cr_off, cr_admin, cr_group;
