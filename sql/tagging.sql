-- tagging: tag_role / untag_role / agents view, membership, actions,
-- bad input, roles created by agents, the one-way session setting.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS first_event FROM agent_guard.events \gset
CREATE TABLE tg_data (id int PRIMARY KEY, v text);
INSERT INTO tg_data SELECT g, 'v' || g FROM generate_series(1, 5) g;
GRANT ALL ON tg_data TO PUBLIC;

-- bad input: every one is a clear error and changes nothing
SELECT agent_guard.tag_role('no_such_role');
SELECT agent_guard.tag_role(NULL);
SELECT agent_guard.tag_role('ag_human', NULL);
SELECT agent_guard.tag_role('ag_human', 'destroy');
SELECT agent_guard.tag_role('ag_human', '');
SELECT agent_guard.untag_role(NULL);
SELECT agent_guard.untag_role('no_such_role');
SELECT agent_guard.untag_role('ag_human');   -- not tagged: a notice, nothing else
SECURITY LABEL FOR agent_guard ON TABLE tg_data IS 'reject';
SECURITY LABEL FOR agent_guard ON ROLE ag_human IS 'sometimes';
SELECT role, action FROM agent_guard.agents ORDER BY role::text;

-- action names are case-insensitive through tag_role
CREATE ROLE tg_case;
SELECT agent_guard.tag_role('tg_case', 'REJECT');
SELECT action FROM agent_guard.agents WHERE role = 'tg_case'::regrole;
DROP ROLE tg_case;
-- dropping a role removes its tag
SELECT count(*) FROM agent_guard.agents WHERE role::text = 'tg_case';

-- EXECUTE is revoked from PUBLIC: an ordinary role cannot tag
SET ROLE ag_human;
SELECT agent_guard.tag_role('ag_human', 'log');
SELECT active, agent_session, action FROM agent_guard.status();
RESET ROLE;

-- a superuser can be tagged, with a warning that it cannot be contained
CREATE ROLE tg_super SUPERUSER;
SELECT agent_guard.tag_role('tg_super', 'reject');
DROP ROLE tg_super;

-- membership: tagging a group guards every member, also through nesting
CREATE ROLE tg_agents NOLOGIN;
CREATE ROLE tg_team NOLOGIN IN ROLE tg_agents;
CREATE ROLE tg_member LOGIN IN ROLE tg_team;
CREATE ROLE tg_noinherit LOGIN NOINHERIT IN ROLE tg_agents;
GRANT ALL ON tg_data TO tg_member, tg_noinherit;
SELECT agent_guard.tag_role('tg_agents', 'reject');
SELECT role, action, covered_members FROM agent_guard.agents WHERE role = 'tg_agents'::regrole;
SET ROLE tg_member;
SELECT agent_session, action, reason FROM agent_guard.status();
DELETE FROM tg_data;
SET ROLE tg_noinherit;
SELECT agent_session, action FROM agent_guard.status();
DELETE FROM tg_data;
RESET ROLE;
SELECT count(*) FROM tg_data;

-- the strictest applicable tag wins
SELECT agent_guard.tag_role('tg_member', 'log');
SET ROLE tg_member;
SELECT action FROM agent_guard.status();
RESET ROLE;
SELECT agent_guard.tag_role('tg_agents', 'log');
SELECT agent_guard.tag_role('tg_member', 'reject');
SET ROLE tg_member;
SELECT action FROM agent_guard.status();
RESET ROLE;

-- re-tag with another action takes effect at once in this session
SELECT agent_guard.tag_role('tg_member', 'log');
SELECT agent_guard.untag_role('tg_agents');
SET ROLE tg_member;
\set VERBOSITY terse
DELETE FROM tg_data WHERE true;
\set VERBOSITY default
SELECT count(*) FROM tg_data;
RESET ROLE;
INSERT INTO tg_data SELECT g, 'v' || g FROM generate_series(1, 5) g;

-- untag: the role is human again
SELECT agent_guard.untag_role('tg_member');
SET ROLE tg_member;
SELECT agent_session FROM agent_guard.status();
DELETE FROM tg_data WHERE id = 5;
RESET ROLE;

-- a membership change is seen at the next statement
SELECT agent_guard.tag_role('tg_agents', 'reject');
SET ROLE tg_member;
SELECT agent_session FROM agent_guard.status();
RESET ROLE;
REVOKE tg_team FROM tg_member;
SET ROLE tg_member;
SELECT agent_session FROM agent_guard.status();
RESET ROLE;
GRANT tg_team TO tg_member;
SET ROLE tg_member;
SELECT agent_session FROM agent_guard.status();
RESET ROLE;

-- SET ROLE from an agent to a human role it belongs to: still an agent
GRANT ag_human TO ag_bot;
SET SESSION AUTHORIZATION ag_bot;
SET ROLE ag_human;
SELECT current_user, agent_session, action FROM agent_guard.status();
\set VERBOSITY terse
DELETE FROM tg_data;
\set VERBOSITY default
RESET ROLE;
RESET SESSION AUTHORIZATION;
REVOKE ag_human FROM ag_bot;

-- SECURITY DEFINER owned by a human does not make an agent human
CREATE FUNCTION tg_wipe() RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'DELETE FROM public.tg_data';
GRANT EXECUTE ON FUNCTION tg_wipe() TO PUBLIC;
SET ROLE ag_bot;
\set VERBOSITY terse
SELECT tg_wipe();
\set VERBOSITY default
RESET ROLE;
SELECT count(*) FROM tg_data;
DROP FUNCTION tg_wipe();

-- roles created by an agent session are tagged with its action
ALTER ROLE ag_bot_log CREATEROLE;
SET ROLE ag_bot_log;
CREATE ROLE tg_spawned;
RESET ROLE;
SELECT role, action FROM agent_guard.agents WHERE role = 'tg_spawned'::regrole;
-- and a role created and dropped in one transaction is exempt
SET ROLE ag_bot_log;
BEGIN;
CREATE ROLE tg_ephemeral;
DROP ROLE tg_ephemeral;
COMMIT;
RESET ROLE;
ALTER ROLE ag_bot_log NOCREATEROLE;

-- the one-way session setting
SELECT agent_session FROM agent_guard.status();
BEGIN;
SET agent_guard.session_agent = on;
SELECT agent_session, action, reason FROM agent_guard.status();
ROLLBACK;
-- the rollback restored the setting's value, but not the session's status
SHOW agent_guard.session_agent;
SELECT agent_session, action FROM agent_guard.status();
SET agent_guard.session_agent = off;
RESET agent_guard.session_agent;
SET agent_guard.session_agent = on;
\set VERBOSITY terse
DELETE FROM tg_data;
\set VERBOSITY default
-- the session now counts as an agent for the guard's own settings too
SET agent_guard.default_action = 'log';
SELECT agent_guard.tag_role('ag_human', 'log');
\c -
SELECT agent_session FROM agent_guard.status();

-- decisions reached the audit table
SELECT role_name, class, decision, command, query
FROM agent_guard.events WHERE id > :first_event ORDER BY id;

-- clean up
DROP TABLE tg_data;
DROP ROLE tg_member, tg_noinherit, tg_team, tg_agents, tg_spawned;
SELECT role, action FROM agent_guard.agents ORDER BY role::text;
