/* agent_guard--1.0--1.1.sql: row limits, CASCADE previews, estimated rows, counters */

\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.1'" to load this file. \quit

-- What a statement would change or remove, as the guard estimated or counted
-- it: the plan estimate of a DML statement, the rows counted when the exact
-- count stopped it, the table statistics of what a DROP or TRUNCATE loses.
ALTER TABLE agent_guard.requests ADD COLUMN estimated_rows bigint;
ALTER TABLE agent_guard.events ADD COLUMN estimated_rows bigint;
COMMENT ON COLUMN agent_guard.requests.estimated_rows IS
'Rows the statement would delete, update or remove: plan estimate, rows counted when it was stopped, or table statistics for drops and truncates; NULL when unknown.';
COMMENT ON COLUMN agent_guard.events.estimated_rows IS
'Rows the statement would delete, update or remove, as recorded with the decision; NULL when unknown.';

-- A tag is now "<action>" or "<action> max_rows=<N>".
CREATE OR REPLACE VIEW agent_guard.agents AS
WITH RECURSIVE members(roleid, member) AS (
    SELECT roleid, member FROM pg_catalog.pg_auth_members
    UNION
    SELECT m.roleid, a.member
    FROM members m JOIN pg_catalog.pg_auth_members a ON a.roleid = m.member
)
SELECT l.objoid::pg_catalog.regrole AS role,
       pg_catalog.split_part(l.label, ' ', 1) AS action,
       r.rolsuper AS superuser,
       r.rolcanlogin AS can_login,
       ARRAY(SELECT m.member::pg_catalog.regrole
             FROM members m
             WHERE m.roleid = l.objoid
             ORDER BY 1::text) AS covered_members,
       pg_catalog.substring(l.label, ' max_rows=([0-9]+)$')::bigint AS max_rows
FROM pg_catalog.pg_shseclabel l
JOIN pg_catalog.pg_roles r ON r.oid = l.objoid
WHERE l.provider = 'agent_guard'
  AND l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass;

COMMENT ON VIEW agent_guard.agents IS
'Roles tagged as agents (cluster-wide), with their action, the roles covered through membership, and their own row limit (NULL: the setting agent_guard.max_rows; 0: none).';

-- _park records the estimate (and updates it on a repeat).
DROP FUNCTION agent_guard._park(text, oid, text, text, text[], text, text, text, inet, text, integer, interval);
CREATE FUNCTION agent_guard._park(
    p_role_name text, p_role_oid oid, p_class text, p_command text,
    p_objects text[], p_object_key text, p_query text, p_search_path text,
    p_client_addr inet, p_application_name text,
    p_max_pending integer, p_request_ttl interval, p_estimated_rows bigint DEFAULT NULL,
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
            (role_name, class, decision, command, objects, query, client_addr,
             application_name, estimated_rows)
        VALUES (p_role_name, p_class, 'rejected', p_command, p_objects, p_query,
                p_client_addr, p_application_name, p_estimated_rows);
        RETURN;
    END IF;

    -- a repeat of a pending statement counts an attempt on the same request
    UPDATE agent_guard.requests r
    SET attempts = r.attempts + 1, last_attempt_at = clock_timestamp(),
        estimated_rows = p_estimated_rows
    WHERE r.fingerprint = fp AND r.status = 'pending'
    RETURNING r.id, r.attempts INTO request_id, attempts;
    fresh := NOT FOUND;
    IF fresh THEN
        -- the unique index on pending fingerprints makes concurrent parks of
        -- the same statement meet on one row
        INSERT INTO agent_guard.requests AS r
            (role_name, role_oid, client_addr, application_name, class, command,
             objects, object_key, query, search_path, fingerprint, estimated_rows)
        VALUES (p_role_name, p_role_oid, p_client_addr, p_application_name, p_class,
                p_command, p_objects, p_object_key, p_query, p_search_path, fp,
                p_estimated_rows)
        ON CONFLICT (fingerprint) WHERE status = 'pending'
        DO UPDATE SET attempts = r.attempts + 1, last_attempt_at = clock_timestamp(),
                      estimated_rows = excluded.estimated_rows
        RETURNING r.id, r.attempts, (r.xmax = 0) INTO request_id, attempts, fresh;
    END IF;

    outcome := CASE WHEN fresh THEN 'new' ELSE 'repeat' END;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, client_addr,
         application_name, request_id, estimated_rows)
    VALUES (p_role_name, p_class, 'parked', p_command, p_objects, p_query,
            p_client_addr, p_application_name, request_id, p_estimated_rows);
    IF fresh THEN
        PERFORM pg_notify('agent_guard', json_build_object(
            'id', request_id, 'role', p_role_name, 'database', current_database(),
            'class', p_class, 'command', p_command)::text);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION agent_guard._park(text, oid, text, text, text[], text, text, text, inet, text, integer, interval, bigint) FROM PUBLIC;

-- approvals, uses and expiries carry the request's estimate into the audit
CREATE OR REPLACE FUNCTION agent_guard._use_permit(
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
        (role_name, class, decision, command, objects, query, request_id, estimated_rows)
    VALUES (used.role_name, used.class, 'used', used.command, used.objects,
            used.query, used.id, used.estimated_rows);
    RETURN used.id;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard._decide(request_id bigint, verdict text, note text)
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
        (role_name, class, decision, command, objects, query, request_id, estimated_rows)
    VALUES (session_user, req.class, verdict, req.command, req.objects, req.query, req.id,
            req.estimated_rows);
    RAISE LOG 'agent_guard: % request % (% by role "%") by "%"',
        verdict, req.id, req.command, req.role_name, session_user;
    RETURN req;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard._expire(request_ttl interval)
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
            (role_name, class, decision, command, objects, query, request_id, estimated_rows)
        SELECT role_name, class, 'expired', command, objects, query, id, estimated_rows
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

-- What a human reviews: the size of what they approve.
CREATE OR REPLACE VIEW agent_guard.pending AS
SELECT id, created_at, role_name, class, command, objects, query, search_path,
       attempts, last_attempt_at, client_addr, application_name,
       created_at + agent_guard._setting_interval('agent_guard.request_ttl') AS expires_at,
       estimated_rows
FROM agent_guard.requests
WHERE status = 'pending'
  AND created_at >= clock_timestamp() - agent_guard._setting_interval('agent_guard.request_ttl')
ORDER BY id;

-- tag_role gains the role's row limit.
DROP FUNCTION agent_guard.tag_role(regrole, text);

CREATE FUNCTION agent_guard.tag_role(role regrole, action text DEFAULT 'park',
                                     max_rows bigint DEFAULT NULL)
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
    IF max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must be zero or more, not %', max_rows
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the most rows one statement of the role may delete or update, 0 for no limit, or NULL for the setting agent_guard.max_rows.';
    END IF;
    EXECUTE format('SECURITY LABEL FOR agent_guard ON ROLE %s IS %L', role,
                   lower(action) || coalesce(' max_rows=' || max_rows, ''));
END
$$;

COMMENT ON FUNCTION agent_guard.tag_role(regrole, text, bigint) IS
'Tag a role (and every member of it) as an agent, with action park, reject or log, and optionally its own row limit (0: none; NULL: the setting agent_guard.max_rows).';

REVOKE ALL ON FUNCTION agent_guard.tag_role(regrole, text, bigint) FROM PUBLIC;

-- Decisions since the server started, per class (doc/design.md section 7).  They
-- live in shared memory: a restart sets them back to zero; the durable
-- history is agent_guard.events.
CREATE FUNCTION agent_guard._counter(class text, decision text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ag_counter'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW agent_guard.counters AS
SELECT c.class,
       agent_guard._counter(c.class, 'parked') AS parked,
       agent_guard._counter(c.class, 'rejected') AS rejected,
       agent_guard._counter(c.class, 'logged') AS logged,
       agent_guard._counter(c.class, 'used') AS used
FROM (VALUES (1, 'drop'), (2, 'truncate'), (3, 'delete'), (4, 'update'), (5, 'guard'))
     AS c(n, class)
ORDER BY c.n;

COMMENT ON VIEW agent_guard.counters IS
'Decisions of the guard since the server started, per class: statements parked, rejected (tamper attempts are class guard), allowed in log mode, and run on an approval.';

GRANT SELECT ON agent_guard.counters TO PUBLIC;
