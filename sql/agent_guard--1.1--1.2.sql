/* agent_guard--1.1--1.2.sql: hardening (permits bound to what the server understood, expiry that never waits on an agent's lock), and the approval workflow (wait, grants, several approvers, preflight) */

\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit

-- ===========================================================================
-- Permits bound to the statement as the server understood it (issues 10, 20,
-- 21: parameter values, settings that change how text is read, every
-- relation the statement reaches), and expiry that never waits on a lock an
-- agent holds.
-- ===========================================================================

-- What an approval also stands for, besides role, class, text, search_path
-- and objects: the values bound to the statement's parameters ($n of the
-- extended protocol and of PREPARE/EXECUTE, PL/pgSQL variables, function
-- arguments), as text, and the settings that change how identical text is
-- read (standard_conforming_strings, DateStyle, TimeZone, ...).
ALTER TABLE agent_guard.requests ADD COLUMN params text;
ALTER TABLE agent_guard.requests ADD COLUMN settings text;
ALTER TABLE agent_guard.events ADD COLUMN params text;
COMMENT ON COLUMN agent_guard.requests.params IS
'The values bound to the statement''s parameters when it was parked ("$1 = ''80''"; PL/pgSQL variables and function arguments too); NULL when it has none.  A permit is valid only for the same values.';
COMMENT ON COLUMN agent_guard.requests.settings IS
'The settings that change how the statement''s text is read or what it does (standard_conforming_strings, DateStyle, TimeZone, ...) and the current user, when it was parked.  A permit is valid only under the same values.';
COMMENT ON COLUMN agent_guard.events.params IS
'The values bound to the statement''s parameters, as recorded with the decision; NULL when it has none.';
COMMENT ON COLUMN agent_guard.requests.object_key IS
'The exact objects (catalog, OID, sub-id) the statement acts on; for data changes every relation the plan reaches (children, partitions, the tables behind views) and a hash of each view''s definition: a permit is valid only for them.';
COMMENT ON COLUMN agent_guard.requests.fingerprint IS
'Hash of role, class, query text, search_path, object_key, params and settings: what a re-run must match.';

DROP FUNCTION agent_guard._park(text, oid, text, text, text[], text, text, text, inet, text, integer, interval, bigint);
DROP FUNCTION agent_guard._use_permit(oid, text, text, text, text);
DROP FUNCTION agent_guard._fingerprint(oid, text, text, text, text);

-- fully qualified instead of a SET clause, so that it can be inlined
CREATE FUNCTION agent_guard._fingerprint(role_oid oid, class text, query text,
                                         search_path text, object_key text,
                                         params text, settings text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.md5(pg_catalog.concat_ws(pg_catalog.chr(31),
           role_oid::pg_catalog.text, class, query, search_path, object_key,
           COALESCE(params, pg_catalog.chr(30)),
           COALESCE(settings, pg_catalog.chr(30))))
$$;
REVOKE ALL ON FUNCTION agent_guard._fingerprint(oid, text, text, text, text, text, text) FROM PUBLIC;

-- Expiry skips rows another transaction holds: an agent that took a permit
-- (its row turns 'used' in the agent's own transaction) and stays idle in
-- that transaction must not make approve(), reject() or another agent's
-- park wait.  A skipped row is looked at again by the next sweep.  The
-- cut-off times are computed once, so that the partial indexes on
-- created_at and permit_expires_at find just the expired rows: a sweep
-- costs what it expires, not what is pending (it runs on every park).
CREATE OR REPLACE FUNCTION agent_guard._expire(request_ttl interval)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_at timestamptz := clock_timestamp();
    waited_before timestamptz := now_at - request_ttl;
    n integer;
BEGIN
    WITH waited_ids AS MATERIALIZED (
        SELECT p.id FROM agent_guard.requests p
        WHERE p.status = 'pending' AND p.created_at < waited_before
        FOR UPDATE SKIP LOCKED
    ), unused_ids AS MATERIALIZED (
        SELECT a.id FROM agent_guard.requests a
        WHERE a.status = 'approved' AND a.permit_expires_at < now_at
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        UPDATE agent_guard.requests r
        SET status = 'expired'
        WHERE r.id = ANY (ARRAY(SELECT id FROM waited_ids UNION ALL SELECT id FROM unused_ids))
        RETURNING r.*
    ), ev AS (
        INSERT INTO agent_guard.events
            (role_name, class, decision, command, objects, query, request_id,
             estimated_rows, params)
        SELECT role_name, class, 'expired', command, objects, query, id,
               estimated_rows, params
        FROM gone
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
-- It locks only pending rows, which no agent transaction ever holds.
CREATE FUNCTION agent_guard._park(
    p_role_name text, p_role_oid oid, p_class text, p_command text,
    p_objects text[], p_object_key text, p_query text, p_search_path text,
    p_client_addr inet, p_application_name text,
    p_max_pending integer, p_request_ttl interval, p_estimated_rows bigint DEFAULT NULL,
    p_params text DEFAULT NULL, p_settings text DEFAULT NULL,
    OUT request_id bigint, OUT outcome text, OUT attempts integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fp text := agent_guard._fingerprint(p_role_oid, p_class, p_query, p_search_path,
                                        p_object_key, p_params, p_settings);
    fresh boolean;
BEGIN
    PERFORM agent_guard._expire(p_request_ttl);

    IF NOT EXISTS (SELECT 1 FROM agent_guard.requests r
                   WHERE r.fingerprint = fp AND r.status = 'pending')
       AND (SELECT count(*) FROM (SELECT 1 FROM agent_guard.requests r
                                  WHERE r.role_oid = p_role_oid AND r.status = 'pending'
                                  LIMIT p_max_pending) capped) >= p_max_pending
    THEN
        outcome := 'cap';
        INSERT INTO agent_guard.events
            (role_name, class, decision, command, objects, query, client_addr,
             application_name, estimated_rows, params)
        VALUES (p_role_name, p_class, 'rejected', p_command, p_objects, p_query,
                p_client_addr, p_application_name, p_estimated_rows, p_params);
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
             objects, object_key, query, search_path, fingerprint, estimated_rows,
             params, settings)
        VALUES (p_role_name, p_role_oid, p_client_addr, p_application_name, p_class,
                p_command, p_objects, p_object_key, p_query, p_search_path, fp,
                p_estimated_rows, p_params, p_settings)
        ON CONFLICT (fingerprint) WHERE status = 'pending'
        DO UPDATE SET attempts = r.attempts + 1, last_attempt_at = clock_timestamp(),
                      estimated_rows = excluded.estimated_rows
        RETURNING r.id, r.attempts, (r.xmax = 0) INTO request_id, attempts, fresh;
    END IF;

    outcome := CASE WHEN fresh THEN 'new' ELSE 'repeat' END;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, client_addr,
         application_name, request_id, estimated_rows, params)
    VALUES (p_role_name, p_class, 'parked', p_command, p_objects, p_query,
            p_client_addr, p_application_name, request_id, p_estimated_rows, p_params);
    IF fresh THEN
        PERFORM pg_notify('agent_guard', json_build_object(
            'id', request_id, 'role', p_role_name, 'database', current_database(),
            'class', p_class, 'command', p_command)::text);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._park(text, oid, text, text, text[], text, text, text, inet, text, integer, interval, bigint, text, text) FROM PUBLIC;

-- Called in the agent's own transaction when a parked statement runs again:
-- take the permit (one shot) if a human approved exactly this statement,
-- with the same parameter values, under the same settings.
CREATE FUNCTION agent_guard._use_permit(
    p_role_oid oid, p_class text, p_query text, p_search_path text,
    p_object_key text, p_params text, p_settings text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fp text := agent_guard._fingerprint(p_role_oid, p_class, p_query, p_search_path,
                                        p_object_key, p_params, p_settings);
    used agent_guard.requests;
BEGIN
    -- a concurrent re-run holding the same permit (the same role) makes
    -- this wait; if it commits, the row is no longer 'approved' and this
    -- finds nothing
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
        (role_name, class, decision, command, objects, query, request_id,
         estimated_rows, params)
    VALUES (used.role_name, used.class, 'used', used.command, used.objects,
            used.query, used.id, used.estimated_rows, used.params);
    RETURN used.id;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._use_permit(oid, text, text, text, text, text, text) FROM PUBLIC;

-- approve() and reject(): a request that is no longer pending is refused
-- without taking its row lock (an agent holds it while its transaction
-- that used the permit is open); only a pending row is locked, and only
-- humans' decisions and the parking worker lock those, briefly.
CREATE OR REPLACE FUNCTION agent_guard._decide(request_id bigint, verdict text, note text)
RETURNS agent_guard.requests
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    req agent_guard.requests;
    fn text := CASE verdict WHEN 'approved' THEN 'approve' ELSE 'reject' END;
    locked boolean := false;
BEGIN
    -- an agent session can never decide, whatever its grants
    PERFORM agent_guard._refuse_agent_session('agent_guard.' || fn || '()');
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'request id must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = format('Pass the id of a pending request, for example agent_guard.%s(17); agent_guard.pending lists them.', fn);
    END IF;
    PERFORM agent_guard._expire(agent_guard._setting_interval('agent_guard.request_ttl'));
    LOOP
        IF locked THEN
            SELECT * INTO req FROM agent_guard.requests r WHERE r.id = request_id FOR UPDATE;
        ELSE
            SELECT * INTO req FROM agent_guard.requests r WHERE r.id = request_id;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'agent_guard request % does not exist', request_id
                USING ERRCODE = 'no_data_found',
                      HINT = 'agent_guard.pending lists the requests waiting for a decision.';
        END IF;
        IF req.status = 'pending' AND req.created_at < clock_timestamp()
               - agent_guard._setting_interval('agent_guard.request_ttl') THEN
            -- its expiry was skipped: another transaction holds the row
            req.status := 'expired';
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
        EXIT WHEN locked;
        locked := true;
    END LOOP;
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
        (role_name, class, decision, command, objects, query, request_id,
         estimated_rows, params)
    VALUES (session_user, req.class, verdict, req.command, req.objects, req.query, req.id,
            req.estimated_rows, req.params);
    RAISE LOG 'agent_guard: % request % (% by role "%") by "%"',
        verdict, req.id, req.command, req.role_name, session_user;
    RETURN req;
END
$$;

-- What a human reviews: the parameter values and the settings it runs under.
CREATE OR REPLACE VIEW agent_guard.pending AS
SELECT id, created_at, role_name, class, command, objects, query, search_path,
       attempts, last_attempt_at, client_addr, application_name,
       created_at + agent_guard._setting_interval('agent_guard.request_ttl') AS expires_at,
       estimated_rows, params, settings
FROM agent_guard.requests
WHERE status = 'pending'
  AND created_at >= clock_timestamp() - agent_guard._setting_interval('agent_guard.request_ttl')
ORDER BY id;

-- ---------------------------------------------------------------------
-- Approval workflow (issue 15): wait(), grants, several approvers, check().
-- ---------------------------------------------------------------------

-- wait(): sleeps on the backend's latch until the request's status
-- changes (woken by the trigger below when the change commits), the
-- timeout passes, or a pending request reaches its expiry time.
CREATE FUNCTION agent_guard.wait(request_id bigint, timeout interval DEFAULT '5 minutes')
RETURNS text
AS 'MODULE_PATHNAME', 'ag_wait'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION agent_guard.wait(bigint, interval) IS
'Wait for the decision on a request of your own role: approved, rejected, expired (or used), or pending when the timeout passes first.';
-- agents wait for their own requests; the function checks whose request it is
GRANT EXECUTE ON FUNCTION agent_guard.wait(bigint, interval) TO PUBLIC;

CREATE FUNCTION agent_guard._wake_waiters()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ag_wake_waiters'
LANGUAGE C;
REVOKE ALL ON FUNCTION agent_guard._wake_waiters() FROM PUBLIC;

CREATE TRIGGER requests_wake_waiters
    AFTER UPDATE OF status ON agent_guard.requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION agent_guard._wake_waiters();

-- Grants: a human lets one agent role run statements of one class (on one
-- table and its partitions, within max_rows) without parking, for a time,
-- a number of times.  Every use is audited with the grant's id and counts
-- one use, in the agent's own transaction (a rollback gives it back); two
-- concurrent uses of the last one: the row lock makes one of them wait,
-- and it finds no use left.
CREATE TABLE agent_guard._grants (
    id             bigserial PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    granted_by     text NOT NULL,
    role_oid       oid NOT NULL,
    role_name      text NOT NULL,
    class          text NOT NULL CHECK (class IN ('drop', 'truncate', 'delete', 'update')),
    target_oid     oid,
    target_name    text,
    target_oids    oid[],
    target_objects text[],
    max_rows       bigint CHECK (max_rows > 0),
    valid_until    timestamptz NOT NULL,
    uses           integer CHECK (uses > 0),
    uses_left      integer CHECK (uses_left >= 0),
    used           integer NOT NULL DEFAULT 0,
    last_used_at   timestamptz,
    note           text,
    revoked_by     text,
    revoked_at     timestamptz
);

COMMENT ON TABLE agent_guard._grants IS
'Grants made with agent_guard.allow(): read them through the view agent_guard.grants.';
COMMENT ON COLUMN agent_guard._grants.target_oids IS
'The target and its partitions when the grant was made: the relations the grant covers.';
COMMENT ON COLUMN agent_guard._grants.target_objects IS
'The same relations as the guard names them in requests and events.';

SELECT pg_catalog.pg_extension_config_dump('agent_guard._grants', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard._grants_id_seq', '');
REVOKE ALL ON agent_guard._grants FROM PUBLIC;

ALTER TABLE agent_guard.events ADD COLUMN grant_id bigint
    REFERENCES agent_guard._grants (id) ON DELETE SET NULL;
COMMENT ON COLUMN agent_guard.events.grant_id IS
'The grant a statement ran under (decision used), or that a human made (approved) or revoked (rejected).';

CREATE VIEW agent_guard.grants AS
SELECT g.id, g.role_name AS role, g.class, g.target_name AS target, g.max_rows,
       g.uses, g.uses_left, g.used, g.valid_until,
       CASE WHEN g.revoked_at IS NOT NULL THEN 'revoked'
            WHEN g.valid_until <= pg_catalog.clock_timestamp() THEN 'expired'
            WHEN g.uses_left = 0 THEN 'spent'
            ELSE 'active' END AS status,
       g.granted_by, g.created_at, g.note, g.last_used_at, g.revoked_by, g.revoked_at
FROM agent_guard._grants g
ORDER BY g.id;

COMMENT ON VIEW agent_guard.grants IS
'Grants made with agent_guard.allow(), with their status: active, spent (no use left), expired, revoked.';
REVOKE ALL ON agent_guard.grants FROM PUBLIC;

CREATE FUNCTION agent_guard.allow(role regrole, class text, target regclass DEFAULT NULL,
                                  max_rows bigint DEFAULT NULL,
                                  valid_for interval DEFAULT '1 hour',
                                  uses integer DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g agent_guard._grants;
    example constant text := 'for example agent_guard.allow(''cursor_bot'', ''delete'', ''public.sessions'', max_rows => 5000, valid_for => ''8 hours'')';
BEGIN
    -- an agent session can never grant, whatever its grants
    PERFORM agent_guard._refuse_agent_session('agent_guard.allow()');
    IF role IS NULL OR class IS NULL OR valid_for IS NULL THEN
        RAISE EXCEPTION '% must not be null',
            CASE WHEN role IS NULL THEN 'role' WHEN class IS NULL THEN 'class' ELSE 'valid_for' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = format('Pass the agent role, the class and how long the grant lasts, %s.', example);
    END IF;
    IF lower(class) = 'guard' THEN
        RAISE EXCEPTION 'class guard cannot be granted'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Tampering with the guard is always rejected, for every agent session.',
                  HINT = 'Grant one of the classes drop, truncate, delete or update.';
    END IF;
    IF lower(class) NOT IN ('drop', 'truncate', 'delete', 'update') THEN
        RAISE EXCEPTION 'unknown class "%"', class
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Grant one of the classes drop, truncate, delete or update.';
    END IF;
    IF valid_for <= interval '0' THEN
        RAISE EXCEPTION 'valid_for must be positive, not %', valid_for
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass how long the grant lasts, %s.', example);
    END IF;
    IF max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be 1 or more, not %', max_rows
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the most rows one statement may delete, update or remove under the grant, or NULL for no limit.';
    END IF;
    IF uses < 1 THEN
        RAISE EXCEPTION 'uses must be 1 or more, not %', uses
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass how many statements may run under the grant, or NULL for as many as run within valid_for.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shseclabel l
                   WHERE l.provider = 'agent_guard' AND l.classoid = 'pg_catalog.pg_authid'::regclass
                     AND (l.objoid = role OR pg_catalog.pg_has_role(role, l.objoid, 'MEMBER')))
    THEN
        RAISE NOTICE 'role % is not tagged as an agent: the grant changes nothing until it is', role;
    END IF;

    INSERT INTO agent_guard._grants AS gr
        (granted_by, role_oid, role_name, class, target_oid, target_name, target_oids,
         target_objects, max_rows, valid_until, uses, uses_left, note)
    SELECT session_user, role, role::text, lower(class), target, target::text,
           t.oids, t.objects, max_rows, clock_timestamp() + valid_for, uses, uses, note
    FROM (SELECT array_agg(p.relid ORDER BY p.level, p.relid) AS oids,
                 array_agg(pg_describe_object('pg_class'::regclass, p.relid, 0)
                           ORDER BY p.level, p.relid) AS objects
          FROM (SELECT target AS relid, 0 AS level WHERE target IS NOT NULL
                UNION
                SELECT pt.relid, pt.level FROM pg_partition_tree(target) pt
                WHERE target IS NOT NULL) p) t
    RETURNING gr.* INTO g;

    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, grant_id)
    VALUES (session_user, g.class, 'approved', 'agent_guard.allow()', g.target_objects,
            format('grant %s to role %s%s%s for %s%s', g.class, g.role_name,
                   coalesce(' on ' || g.target_name, ''),
                   coalesce(', at most ' || g.max_rows || ' rows a statement', ''),
                   valid_for, coalesce(', ' || g.uses || ' uses', '')),
            g.id);
    RAISE LOG 'agent_guard: grant % of class % to role "%" by "%"', g.id, g.class, g.role_name, session_user;
    RETURN g.id;
END
$$;

COMMENT ON FUNCTION agent_guard.allow(regrole, text, regclass, bigint, interval, integer, text) IS
'Let an agent role run statements of one class (on one table and its partitions, within max_rows) without parking, for valid_for, at most uses times; returns the grant id.';
REVOKE ALL ON FUNCTION agent_guard.allow(regrole, text, regclass, bigint, interval, integer, text) FROM PUBLIC;

CREATE FUNCTION agent_guard.revoke_grant(grant_id bigint)
RETURNS agent_guard.grants
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g agent_guard._grants;
    shown agent_guard.grants;
BEGIN
    PERFORM agent_guard._refuse_agent_session('agent_guard.revoke_grant()');
    IF grant_id IS NULL THEN
        RAISE EXCEPTION 'grant id must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id of a grant, for example agent_guard.revoke_grant(3); agent_guard.grants lists them.';
    END IF;
    SELECT * INTO g FROM agent_guard._grants gr WHERE gr.id = grant_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent_guard grant % does not exist', grant_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'agent_guard.grants lists the grants.';
    END IF;
    IF g.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'agent_guard grant % was already revoked', grant_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was revoked by %s; agent_guard.grants shows when.', g.revoked_by);
    END IF;
    UPDATE agent_guard._grants gr SET revoked_by = session_user, revoked_at = clock_timestamp()
    WHERE gr.id = grant_id RETURNING gr.* INTO g;
    INSERT INTO agent_guard.events
        (role_name, class, decision, command, objects, query, grant_id)
    VALUES (session_user, g.class, 'rejected', 'agent_guard.revoke_grant()', g.target_objects,
            format('revoke grant %s of class %s to role %s', g.id, g.class, g.role_name), g.id);
    RAISE LOG 'agent_guard: grant % revoked by "%"', g.id, session_user;
    SELECT * INTO shown FROM agent_guard.grants v WHERE v.id = grant_id;
    RETURN shown;
END
$$;

COMMENT ON FUNCTION agent_guard.revoke_grant(bigint) IS
'End a grant at once: statements of its role park again.';
REVOKE ALL ON FUNCTION agent_guard.revoke_grant(bigint) FROM PUBLIC;

-- Called in the agent's own transaction (as the bootstrap superuser) on
-- the way to parking or rejecting a statement: take one use of a grant
-- that covers it.  Returns the grant id, or NULL.
CREATE FUNCTION agent_guard._use_grant(
    p_role_oid oid, p_class text, p_object_key text, p_objects text[],
    p_rows bigint, p_command text, p_query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys text[] := string_to_array(p_object_key, ',');
    rels oid[];
    g agent_guard._grants;
    used_id bigint;
BEGIN
    -- the relations the statement acts on (not their columns)
    SELECT coalesce(array_agg(split_part(k, ':', 2)::oid), '{}') INTO rels
    FROM unnest(keys) k
    WHERE split_part(k, ':', 1) = 'pg_catalog.pg_class'::regclass::oid::text
      AND split_part(k, ':', 3) = '0';
    FOR g IN
        WITH RECURSIVE agent(r) AS (
            SELECT p_role_oid
            UNION
            SELECT m.roleid FROM pg_auth_members m JOIN agent a ON m.member = a.r
        )
        SELECT gr.* FROM agent_guard._grants gr
        JOIN pg_roles ro ON ro.oid = gr.role_oid AND ro.rolname = gr.role_name
        WHERE gr.role_oid IN (SELECT r FROM agent)
          AND gr.class = p_class
          AND gr.revoked_at IS NULL
          AND gr.valid_until > clock_timestamp()
          AND (gr.uses_left IS NULL OR gr.uses_left > 0)
          AND (gr.max_rows IS NULL OR (p_rows >= 0 AND p_rows <= gr.max_rows))
          AND (gr.target_oid IS NULL OR (
                 p_objects <@ gr.target_objects
                 AND CASE WHEN p_class = 'drop'
                          -- the target itself is among what the statement drops
                          THEN gr.target_oid = ANY (rels)
                          ELSE rels <@ gr.target_oids END))
        -- the narrowest grant first
        ORDER BY gr.target_oid IS NULL, gr.max_rows NULLS LAST, gr.uses_left NULLS LAST, gr.id
    LOOP
        -- a concurrent use of the same grant makes this wait for its
        -- transaction; if it committed the last use, this finds none
        UPDATE agent_guard._grants gr
        SET uses_left = gr.uses_left - 1, used = gr.used + 1, last_used_at = clock_timestamp()
        WHERE gr.id = g.id AND gr.revoked_at IS NULL
          AND gr.valid_until > clock_timestamp()
          AND (gr.uses_left IS NULL OR gr.uses_left > 0)
        RETURNING gr.id INTO used_id;
        IF used_id IS NOT NULL THEN
            INSERT INTO agent_guard.events
                (role_name, class, decision, command, objects, query, estimated_rows, grant_id)
            SELECT rolname, p_class, 'used', p_command, p_objects, p_query, nullif(p_rows, -1), used_id
            FROM pg_roles WHERE oid = p_role_oid;
            RETURN used_id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._use_grant(oid, text, text, text[], bigint, text, text) FROM PUBLIC;

-- Several approvers: with agent_guard.approvals_required = N (the setting
-- in the approving session; superuser-only), a request turns approved only
-- when N distinct humans approved it; the same human twice counts once;
-- one rejection rejects (reject() is unchanged).
CREATE TABLE agent_guard.approvals (
    request_id  bigint NOT NULL REFERENCES agent_guard.requests (id) ON DELETE CASCADE,
    approver    text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    note        text,
    PRIMARY KEY (request_id, approver)
);

COMMENT ON TABLE agent_guard.approvals IS
'Approvals of pending requests by each human, while a request needs more than one (agent_guard.approvals_required).';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.approvals', '');
REVOKE ALL ON agent_guard.approvals FROM PUBLIC;

CREATE FUNCTION agent_guard._approve(request_id bigint, note text)
RETURNS agent_guard.requests
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    needed integer := current_setting('agent_guard.approvals_required')::integer;
    req agent_guard.requests;
    fresh boolean;
    so_far integer;
BEGIN
    PERFORM agent_guard._refuse_agent_session('agent_guard.approve()');
    IF needed > 1 AND request_id IS NOT NULL THEN
        PERFORM agent_guard._expire(agent_guard._setting_interval('agent_guard.request_ttl'));
        -- the request's row lock makes concurrent approvers count one by one
        SELECT * INTO req FROM agent_guard.requests r WHERE r.id = request_id FOR UPDATE;
        IF FOUND AND req.status = 'pending' THEN
            INSERT INTO agent_guard.approvals AS a (request_id, approver, note)
            VALUES (request_id, session_user, note)
            ON CONFLICT ON CONSTRAINT approvals_pkey DO NOTHING;
            fresh := FOUND;
            SELECT count(*) INTO so_far FROM agent_guard.approvals a
            WHERE a.request_id = _approve.request_id;
            IF so_far < needed THEN
                IF fresh THEN
                    INSERT INTO agent_guard.events
                        (role_name, class, decision, command, objects, query, request_id, estimated_rows)
                    VALUES (session_user, req.class, 'approved', req.command, req.objects, req.query,
                            req.id, req.estimated_rows);
                    RAISE LOG 'agent_guard: approval % of % of request % (% by role "%") by "%"',
                        so_far, needed, req.id, req.command, req.role_name, session_user;
                    RAISE NOTICE 'agent_guard request % has % of % approvals', req.id, so_far, needed
                        USING DETAIL = format('It stays pending until %s more human(s) approve it (agent_guard.approvals_required).',
                                              needed - so_far);
                ELSE
                    RAISE NOTICE 'agent_guard request % was already approved by %', req.id, session_user
                        USING DETAIL = format('An approval by the same person counts once: it has %s of %s approvals.',
                                              so_far, needed),
                              HINT = 'Another human must approve it.';
                END IF;
                RETURN req;
            END IF;
        END IF;
    END IF;
    -- the last approval needed (or the only one): the request is decided
    RETURN agent_guard._decide(request_id, 'approved', note);
END
$$;
REVOKE ALL ON FUNCTION agent_guard._approve(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard.approve(request_id bigint, note text DEFAULT NULL)
RETURNS agent_guard.requests
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT agent_guard._approve(request_id, note) $$;

COMMENT ON FUNCTION agent_guard.approve(bigint, text) IS
'Approve a pending request: once agent_guard.approvals_required distinct humans did, the agent may run exactly that statement once, within agent_guard.approval_ttl.';

-- what a human reviews: the approvals so far
CREATE OR REPLACE VIEW agent_guard.pending AS
SELECT id, created_at, role_name, class, command, objects, query, search_path,
       attempts, last_attempt_at, client_addr, application_name,
       created_at + agent_guard._setting_interval('agent_guard.request_ttl') AS expires_at,
       estimated_rows, params, settings,
       (SELECT count(*) FROM agent_guard.approvals a WHERE a.request_id = r.id)::integer AS approvals,
       ARRAY(SELECT a.approver FROM agent_guard.approvals a
             WHERE a.request_id = r.id ORDER BY a.approved_at) AS approved_by
FROM agent_guard.requests r
WHERE status = 'pending'
  AND created_at >= clock_timestamp() - agent_guard._setting_interval('agent_guard.request_ttl')
ORDER BY id;

-- Preflight: what the guard would decide for one statement in this
-- session, without running it (DML is planned, not executed; other
-- statements run in a subtransaction that is always rolled back, with the
-- guard collecting its first decision instead of acting on it) and without
-- recording anything.
CREATE FUNCTION agent_guard.check(query text)
RETURNS TABLE(class text, decision text, objects text[], estimated_rows bigint, reason text)
AS 'MODULE_PATHNAME', 'ag_check'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION agent_guard.check(text) IS
'What the guard would decide for one statement in this session (allowed, park, reject, log, or unknown with the reason), without running it or recording anything.';
GRANT EXECUTE ON FUNCTION agent_guard.check(text) TO PUBLIC;
