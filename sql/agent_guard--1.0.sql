/* agent_guard--1.0.sql */

\echo Use "CREATE EXTENSION agent_guard" to load this file. \quit

-- status() first: the install refuses to go on when the library was not
-- preloaded, because the guard would then be silently off.
CREATE FUNCTION agent_guard.status(
    OUT active boolean,
    OUT version text,
    OUT agent_session boolean,
    OUT action text,
    OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'ag_status'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION agent_guard.status() IS
'Is the guard active in this session (library preloaded), and is this an agent session?';

DO $$
BEGIN
    IF NOT (SELECT active FROM agent_guard.status()) THEN
        RAISE EXCEPTION 'agent_guard must be loaded through shared_preload_libraries'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Without the preload the guard would be silently off.',
                  HINT = 'Add agent_guard to shared_preload_libraries in postgresql.conf, restart the server, then run CREATE EXTENSION agent_guard again.';
    END IF;
END
$$;

-- Agents and approvers may look (status(), agents); changing is for the DBA.
GRANT USAGE ON SCHEMA agent_guard TO PUBLIC;

-- Audit trail: one row per decision, written by a background worker in its
-- own transaction so that it survives the agent's abort.
CREATE TABLE agent_guard.events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    role_name        text NOT NULL,
    database_name    text NOT NULL DEFAULT pg_catalog.current_database(),
    class            text NOT NULL
                     CHECK (class IN ('drop', 'truncate', 'delete', 'update', 'guard')),
    decision         text NOT NULL,
    command          text NOT NULL,
    objects          text[],
    query            text,
    client_addr      inet,
    application_name text,
    request_id       bigint
);

COMMENT ON TABLE agent_guard.events IS
'Every decision agent_guard took on a statement of an agent session.';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.events', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events_id_seq', '');
REVOKE ALL ON agent_guard.events FROM PUBLIC;

-- Tagged roles, and the roles their tag covers through membership.
CREATE VIEW agent_guard.agents AS
WITH RECURSIVE members(roleid, member) AS (
    SELECT roleid, member FROM pg_catalog.pg_auth_members
    UNION
    SELECT m.roleid, a.member
    FROM members m JOIN pg_catalog.pg_auth_members a ON a.roleid = m.member
)
SELECT l.objoid::pg_catalog.regrole AS role,
       l.label AS action,
       r.rolsuper AS superuser,
       r.rolcanlogin AS can_login,
       ARRAY(SELECT m.member::pg_catalog.regrole
             FROM members m
             WHERE m.roleid = l.objoid
             ORDER BY 1::text) AS covered_members
FROM pg_catalog.pg_shseclabel l
JOIN pg_catalog.pg_roles r ON r.oid = l.objoid
WHERE l.provider = 'agent_guard'
  AND l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass;

COMMENT ON VIEW agent_guard.agents IS
'Roles tagged as agents (cluster-wide), with their action and the roles covered through membership.';

CREATE FUNCTION agent_guard.tag_role(role regrole, action text DEFAULT 'park')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the role to tag, for example agent_guard.tag_role(''cursor_bot'').';
    END IF;
    IF action IS NULL THEN
        RAISE EXCEPTION 'action must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass one of ''park'', ''reject'' or ''log'', or leave it out for ''park''.';
    END IF;
    EXECUTE format('SECURITY LABEL FOR agent_guard ON ROLE %s IS %L',
                   role, lower(action));
END
$$;

COMMENT ON FUNCTION agent_guard.tag_role(regrole, text) IS
'Tag a role (and every member of it) as an agent, with action park, reject or log.';

CREATE FUNCTION agent_guard.untag_role(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the role to untag, for example agent_guard.untag_role(''cursor_bot'').';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_shseclabel
                   WHERE provider = 'agent_guard'
                     AND classoid = 'pg_authid'::regclass
                     AND objoid = role) THEN
        RAISE NOTICE 'role % is not tagged as an agent', role;
        RETURN;
    END IF;
    EXECUTE format('SECURITY LABEL FOR agent_guard ON ROLE %s IS NULL', role);
END
$$;

COMMENT ON FUNCTION agent_guard.untag_role(regrole) IS
'Remove the agent tag of a role.';

REVOKE ALL ON FUNCTION agent_guard.tag_role(regrole, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard.untag_role(regrole) FROM PUBLIC;
