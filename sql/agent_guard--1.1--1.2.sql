/* agent_guard--1.1--1.2.sql: hardening (permits bound to what the server understood, expiry that never waits on an agent's lock) */

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
-- park wait.  A skipped row is looked at again by the next sweep.
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
        WHERE r.id IN (SELECT p.id FROM agent_guard.requests p
                       WHERE p.status = 'pending'
                         AND p.created_at < clock_timestamp() - request_ttl
                       FOR UPDATE SKIP LOCKED)
          AND r.status = 'pending'
        RETURNING r.*
    ), unused AS (
        UPDATE agent_guard.requests r
        SET status = 'expired'
        WHERE r.id IN (SELECT a.id FROM agent_guard.requests a
                       WHERE a.status = 'approved'
                         AND a.permit_expires_at < clock_timestamp()
                       FOR UPDATE SKIP LOCKED)
          AND r.status = 'approved'
        RETURNING r.*
    ), ev AS (
        INSERT INTO agent_guard.events
            (role_name, class, decision, command, objects, query, request_id,
             estimated_rows, params)
        SELECT role_name, class, 'expired', command, objects, query, id,
               estimated_rows, params
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
       AND (SELECT count(*) FROM agent_guard.requests r
            WHERE r.role_oid = p_role_oid AND r.status = 'pending') >= p_max_pending
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
