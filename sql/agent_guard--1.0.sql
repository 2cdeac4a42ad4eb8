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
    decision         text NOT NULL
                     CHECK (decision IN ('rejected', 'logged', 'parked', 'approved',
                                         'used', 'expired')),
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

GRANT SELECT ON agent_guard.agents TO PUBLIC;

COMMENT ON VIEW agent_guard.agents IS
'Roles tagged as agents (cluster-wide), with their action and the roles covered through membership.';

-- Parked statements and their approvals.  A row is written by a background
-- worker in its own transaction (so it survives the agent's abort); it
-- becomes 'used' in the agent's own transaction when the approved statement
-- runs, so a rolled-back use leaves the permit in place.
CREATE TABLE agent_guard.requests (
    id               bigserial PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    role_name        text NOT NULL,
    role_oid         oid NOT NULL,
    database_name    text NOT NULL DEFAULT pg_catalog.current_database(),
    client_addr      inet,
    application_name text,
    class            text NOT NULL
                     CHECK (class IN ('drop', 'truncate', 'delete', 'update')),
    command          text NOT NULL,
    objects          text[] NOT NULL,
    object_key       text NOT NULL,
    query            text NOT NULL,
    search_path      text NOT NULL,
    fingerprint      text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'rejected', 'used', 'expired')),
    attempts         integer NOT NULL DEFAULT 1,
    last_attempt_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    decided_by       text,
    decided_at       timestamptz,
    note             text,
    permit_expires_at timestamptz,
    used_at          timestamptz
);

COMMENT ON TABLE agent_guard.requests IS
'Statements of agent sessions parked for a human decision, and their one-shot permits.';
COMMENT ON COLUMN agent_guard.requests.object_key IS
'The exact objects (catalog, OID, sub-id) the statement acts on: a permit is valid only for them.';
COMMENT ON COLUMN agent_guard.requests.fingerprint IS
'Hash of role, class, query text, search_path and object_key: what a re-run must match.';

-- one pending request per identical statement: re-runs and races dedupe
CREATE UNIQUE INDEX requests_pending_fingerprint
    ON agent_guard.requests (fingerprint) WHERE status = 'pending';
CREATE INDEX requests_approved_fingerprint
    ON agent_guard.requests (fingerprint) WHERE status = 'approved';
CREATE INDEX requests_role_status ON agent_guard.requests (role_oid, status);
-- what expiry looks at, so that it does not scan every request ever made
CREATE INDEX requests_pending_created
    ON agent_guard.requests (created_at) WHERE status = 'pending';
CREATE INDEX requests_approved_until
    ON agent_guard.requests (permit_expires_at) WHERE status = 'approved';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.requests', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.requests_id_seq', '');
REVOKE ALL ON agent_guard.requests FROM PUBLIC;

ALTER TABLE agent_guard.events
    ADD CONSTRAINT events_request_fk FOREIGN KEY (request_id)
    REFERENCES agent_guard.requests (id) ON DELETE SET NULL;

-- fully qualified instead of a SET clause, so that it can be inlined
CREATE FUNCTION agent_guard._fingerprint(role_oid oid, class text, query text,
                                         search_path text, object_key text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.md5(pg_catalog.concat_ws(pg_catalog.chr(31),
           role_oid::pg_catalog.text, class, query, search_path, object_key))
$$;

CREATE FUNCTION agent_guard._setting_interval(name text)
RETURNS interval
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT current_setting(name)::interval $$;

-- Mark what has run out of time: pending requests after request_ttl,
-- approvals after their permit_expires_at.  Each gets an 'expired' event.
CREATE FUNCTION agent_guard._expire(request_ttl interval)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH waited AS (
        UPDATE agent_guard.requests r
        SET status = 'expired'
        WHERE r.status = 'pending' AND r.created_at < clock_timestamp() - request_ttl
        RETURNING r.*
    ), unused AS (
        UPDATE agent_guard.requests r
        SET status = 'expired'
        WHERE r.status = 'approved' AND r.permit_expires_at < clock_timestamp()
        RETURNING r.*
    ), ev AS (
        INSERT INTO agent_guard.events
            (role_name, class, decision, command, objects, query, request_id)
        SELECT role_name, class, 'expired', command, objects, query, id
        FROM (SELECT * FROM waited UNION ALL SELECT * FROM unused) gone
        RETURNING 1
    )
    SELECT count(*) INTO n FROM ev;
    IF n > 0 THEN
        RAISE LOG 'agent_guard: expired % request(s) in database "%"', n, current_database();
    END IF;
    RETURN n;
END
$$;

-- Called by the parking worker (as the bootstrap superuser, in its own
-- transaction): record the request, or count a repeat of a pending one.
CREATE FUNCTION agent_guard._park(
    p_role_name text, p_role_oid oid, p_class text, p_command text,
    p_objects text[], p_object_key text, p_query text, p_search_path text,
    p_client_addr inet, p_application_name text,
    p_max_pending integer, p_request_ttl interval,
    OUT request_id bigint, OUT outcome text, OUT attempts integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fp text := agent_guard._fingerprint(p_role_oid, p_class, p_query, p_search_path, p_object_key);
    fresh boolean;
BEGIN
    PERFORM agent_guard._expire(p_request_ttl);

    IF NOT EXISTS (SELECT 1 FROM agent_guard.requests r
                   WHERE r.fingerprint = fp AND r.status = 'pending')
       AND (SELECT count(*) FROM agent_guard.requests r
            WHERE r.role_oid = p_role_oid AND r.status = 'pending') >= p_max_pending
    THEN
        outcome := 'cap';
        INSERT INTO agent_guard.events
            (role_name, class, decision, command, objects, query, client_addr, application_name)
        VALUES (p_role_name, p_class, 'rejected', p_command, p_objects, p_query,
                p_client_addr, p_application_name);
        RETURN;
    END IF;

    -- a repeat of a pending statement counts an attempt on the same request
    UPDATE agent_guard.requests r
    SET attempts = r.attempts + 1, last_attempt_at = clock_timestamp()
    WHERE r.fingerprint = fp AND r.status = 'pending'
    RETURNING r.id, r.attempts INTO request_id, attempts;
    fresh := NOT FOUND;
    IF fresh THEN
        -- the unique index on pending fingerprints makes concurrent parks of
        -- the same statement meet on one row
        INSERT INTO agent_guard.requests AS r
            (role_name, role_oid, client_addr, application_name, class, command,
             objects, object_key, query, search_path, fingerprint)
        VALUES (p_role_name, p_role_oid, p_client_addr, p_application_name, p_class,
                p_command, p_objects, p_object_key, p_query, p_search_path, fp)
        ON CONFLICT (fingerprint) WHERE status = 'pending'
        DO UPDATE SET attempts = r.attempts + 1, last_attempt_at = clock_timestamp()
        RETURNING r.id, r.attempts, (r.xmax = 0) INTO request_id, attempts, fresh;
    END IF;

    outcome := CASE WHEN fresh THEN 'new' ELSE 'repeat' END;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, client_addr,
         application_name, request_id)
    VALUES (p_role_name, p_class, 'parked', p_command, p_objects, p_query,
            p_client_addr, p_application_name, request_id);
    IF fresh THEN
        PERFORM pg_notify('agent_guard', json_build_object(
            'id', request_id, 'role', p_role_name, 'database', current_database(),
            'class', p_class, 'command', p_command)::text);
    END IF;
END
$$;

-- Called in the agent's own transaction when a parked statement runs again:
-- take the permit (one shot) if a human approved exactly this statement.
CREATE FUNCTION agent_guard._use_permit(
    p_role_oid oid, p_class text, p_query text, p_search_path text,
    p_object_key text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fp text := agent_guard._fingerprint(p_role_oid, p_class, p_query, p_search_path, p_object_key);
    used agent_guard.requests;
BEGIN
    -- a concurrent re-run holding the same permit makes this wait; if it
    -- commits, the row is no longer 'approved' and this finds nothing
    UPDATE agent_guard.requests r
    SET status = 'used', used_at = clock_timestamp()
    WHERE r.id = (SELECT a.id FROM agent_guard.requests a
                  WHERE a.fingerprint = fp AND a.status = 'approved'
                    AND a.permit_expires_at > clock_timestamp()
                  ORDER BY a.id LIMIT 1)
      AND r.status = 'approved'
      AND r.permit_expires_at > clock_timestamp()
    RETURNING r.* INTO used;
    IF used.id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, request_id)
    VALUES (used.role_name, used.class, 'used', used.command, used.objects,
            used.query, used.id);
    RETURN used.id;
END
$$;

-- What a human reviews.
CREATE VIEW agent_guard.pending AS
SELECT id, created_at, role_name, class, command, objects, query, search_path,
       attempts, last_attempt_at, client_addr, application_name,
       created_at + agent_guard._setting_interval('agent_guard.request_ttl') AS expires_at
FROM agent_guard.requests
WHERE status = 'pending'
  AND created_at >= clock_timestamp() - agent_guard._setting_interval('agent_guard.request_ttl')
ORDER BY id;

COMMENT ON VIEW agent_guard.pending IS
'Parked statements waiting for a human: approve with agent_guard.approve(id), refuse with agent_guard.reject(id).';
REVOKE ALL ON agent_guard.pending FROM PUBLIC;

CREATE FUNCTION agent_guard._refuse_agent_session(command text)
RETURNS void
AS 'MODULE_PATHNAME', 'ag_refuse_agent_session'
LANGUAGE C VOLATILE STRICT;

-- approve() and reject() share this: check, decide, audit.
CREATE FUNCTION agent_guard._decide(request_id bigint, verdict text, note text)
RETURNS agent_guard.requests
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    req agent_guard.requests;
    fn text := CASE verdict WHEN 'approved' THEN 'approve' ELSE 'reject' END;
BEGIN
    -- an agent session can never decide, whatever its grants
    PERFORM agent_guard._refuse_agent_session('agent_guard.' || fn || '()');
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'request id must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = format('Pass the id of a pending request, for example agent_guard.%s(17); agent_guard.pending lists them.', fn);
    END IF;
    PERFORM agent_guard._expire(agent_guard._setting_interval('agent_guard.request_ttl'));
    SELECT * INTO req FROM agent_guard.requests r WHERE r.id = request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent_guard request % does not exist', request_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'agent_guard.pending lists the requests waiting for a decision.';
    END IF;
    IF req.status = 'expired' THEN
        RAISE EXCEPTION 'agent_guard request % has expired', request_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It waited longer than agent_guard.request_ttl (%s) for a decision.',
                                  current_setting('agent_guard.request_ttl')),
                  HINT = 'The agent must run the statement again to park a new request.';
    END IF;
    IF req.status <> 'pending' THEN
        RAISE EXCEPTION 'agent_guard request % was already decided: it is %', request_id, req.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was %s by %s.', req.status, coalesce(req.decided_by, 'the guard')),
                  HINT = 'Only pending requests can be approved or rejected.';
    END IF;
    UPDATE agent_guard.requests r
    SET status = verdict,
        decided_by = session_user,
        decided_at = clock_timestamp(),
        note = _decide.note,
        permit_expires_at = CASE WHEN verdict = 'approved'
            THEN clock_timestamp() + agent_guard._setting_interval('agent_guard.approval_ttl') END
    WHERE r.id = request_id
    RETURNING r.* INTO req;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, request_id)
    VALUES (session_user, req.class, verdict, req.command, req.objects, req.query, req.id);
    RAISE LOG 'agent_guard: % request % (% by role "%") by "%"',
        verdict, req.id, req.command, req.role_name, session_user;
    RETURN req;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._decide(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._park(text, oid, text, text, text[], text, text, text, inet, text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._use_permit(oid, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._expire(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._refuse_agent_session(text) FROM PUBLIC;

CREATE FUNCTION agent_guard.approve(request_id bigint, note text DEFAULT NULL)
RETURNS agent_guard.requests
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT agent_guard._decide(request_id, 'approved', note) $$;

CREATE FUNCTION agent_guard.reject(request_id bigint, note text DEFAULT NULL)
RETURNS agent_guard.requests
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT agent_guard._decide(request_id, 'rejected', note) $$;

COMMENT ON FUNCTION agent_guard.approve(bigint, text) IS
'Approve a pending request: the agent may run exactly that statement once, within agent_guard.approval_ttl.';
COMMENT ON FUNCTION agent_guard.reject(bigint, text) IS
'Refuse a pending request.';
REVOKE ALL ON FUNCTION agent_guard.approve(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard.reject(bigint, text) FROM PUBLIC;

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
