-- approvals: agent_guard.approvals_required = N asks N distinct humans to
-- approve a request before it turns approved; the same human twice counts
-- once; one rejection rejects, also after approvals; agent_guard.pending
-- shows the approvals so far.  The setting is superuser-only and never an
-- agent's.
\set SHOW_CONTEXT never
-- request ids of this suite start at 300001, whatever ran before; the
-- sequence is put back at the end
SELECT last_value AS req_seq, is_called AS req_seq_called FROM agent_guard.requests_id_seq \gset
SELECT setval('agent_guard.requests_id_seq', 300000) > 0 AS numbered;
CREATE ROLE ap_bot LOGIN;
CREATE ROLE ap_alice LOGIN;
CREATE ROLE ap_bob LOGIN;
CREATE ROLE ap_root SUPERUSER;
GRANT CREATE ON SCHEMA public TO ap_bot;
SELECT agent_guard.tag_role('ap_bot');
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text),
                          agent_guard.reject(bigint, text) TO ap_alice, ap_bob;
GRANT SELECT ON agent_guard.pending TO ap_alice, ap_bob;
SELECT coalesce(max(id), 0) AS first_event FROM agent_guard.events \gset
\set first_request 300000

SET ROLE ap_bot;
CREATE TABLE ap_t (id int PRIMARY KEY);
INSERT INTO ap_t SELECT generate_series(1, 10);
\set VERBOSITY terse
DELETE FROM ap_t;
TRUNCATE ap_t;
\set VERBOSITY default
RESET ROLE;
SELECT id AS req_delete FROM agent_guard.requests WHERE id > :first_request AND class = 'delete' \gset
SELECT id AS req_truncate FROM agent_guard.requests WHERE id > :first_request AND class = 'truncate' \gset

-- who may set it: a superuser, in postgresql.conf, for a role or database;
-- not another role, and never an agent session (also a superuser agent)
SHOW agent_guard.approvals_required;
SET ROLE ap_alice;
SET agent_guard.approvals_required = 1;
RESET ROLE;
SET ROLE ap_bot;
SET agent_guard.approvals_required = 1;
SELECT set_config('agent_guard.approvals_required', '1', false);
RESET ROLE;
SET client_min_messages = error;
SELECT agent_guard.tag_role('ap_root');
RESET client_min_messages;
SET ROLE ap_root;
SET agent_guard.approvals_required = 1;
ALTER ROLE ap_alice SET agent_guard.approvals_required = 1;
RESET ROLE;
SELECT agent_guard.untag_role('ap_root');
SET agent_guard.approvals_required = 0;
-- two approvers (a DBA would set it in postgresql.conf; the value that
-- counts is the approving session's, and only a superuser can change it)
SET agent_guard.approvals_required = 2;

-- alice approves: one of two, the request stays pending
SET SESSION AUTHORIZATION ap_alice;
SHOW agent_guard.approvals_required;
SELECT status, decided_by FROM agent_guard.approve(:req_delete, 'looks right');
-- alice again: counts once
SELECT status FROM agent_guard.approve(:req_delete);
SELECT id - :first_request AS req, attempts, approvals, approved_by FROM agent_guard.pending
WHERE id > :first_request ORDER BY id;
RESET SESSION AUTHORIZATION;
-- the agent's re-run still parks (same request, one more attempt)
SET ROLE ap_bot;
\set VERBOSITY terse
DELETE FROM ap_t;
\set VERBOSITY default
RESET ROLE;
-- bob approves: two distinct humans, approved
SET SESSION AUTHORIZATION ap_bob;
SELECT status, decided_by FROM agent_guard.approve(:req_delete, 'agreed');
RESET SESSION AUTHORIZATION;
SET ROLE ap_bot;
SELECT agent_guard.wait(:req_delete, '0');
DELETE FROM ap_t;
RESET ROLE;
SELECT count(*) AS rows_left FROM ap_t;

-- a rejection after one approval rejects
SET SESSION AUTHORIZATION ap_alice;
SELECT status FROM agent_guard.approve(:req_truncate);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ap_bob;
SELECT status, decided_by FROM agent_guard.reject(:req_truncate, 'no truncates today');
-- and cannot be approved after that
SELECT status FROM agent_guard.approve(:req_truncate);
RESET SESSION AUTHORIZATION;

-- bad input still fails the same way with several approvers
SET SESSION AUTHORIZATION ap_alice;
SELECT agent_guard.approve(NULL);
SELECT agent_guard.approve(-1);
SELECT agent_guard.approve(:req_delete);
RESET SESSION AUTHORIZATION;

-- the audit: each approval, then the decision
SELECT role_name, decision, request_id - :first_request AS req
FROM agent_guard.events WHERE id > :first_event AND decision IN ('approved', 'rejected', 'used')
ORDER BY id;
SELECT request_id - :first_request AS req, approver, note
FROM agent_guard.approvals WHERE request_id > :first_request ORDER BY request_id, approved_at;

RESET agent_guard.approvals_required;
DROP TABLE ap_t;
SELECT agent_guard.untag_role('ap_bot');
REVOKE CREATE ON SCHEMA public FROM ap_bot;
REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text),
                           agent_guard.reject(bigint, text) FROM ap_alice, ap_bob;
REVOKE SELECT ON agent_guard.pending FROM ap_alice, ap_bob;
DROP ROLE ap_bot, ap_alice, ap_bob, ap_root;
SELECT setval('agent_guard.requests_id_seq', :req_seq, :'req_seq_called') > 0 AS renumbered;
