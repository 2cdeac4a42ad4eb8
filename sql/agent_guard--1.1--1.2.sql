/* agent_guard--1.1--1.2.sql: hardening (permits bound to what the server understood, expiry that never waits on an agent's lock) */

\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit

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
       estimated_rows,
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
