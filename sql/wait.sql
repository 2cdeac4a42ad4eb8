-- wait: agent_guard.wait() as one session sees it (the wake-ups by another
-- session's decision are in TAP 006_wait): bad input, whose requests a
-- session may wait for, the status it reports, and its timeout.
\set SHOW_CONTEXT never
-- request ids of this suite start at 150001, whatever ran before; the
-- sequence is put back at the end
SELECT last_value AS req_seq, is_called AS req_seq_called FROM agent_guard.requests_id_seq \gset
SELECT setval('agent_guard.requests_id_seq', 150000) > 0 AS numbered;
CREATE ROLE wt_bot LOGIN;
CREATE ROLE wt_bot2 LOGIN;
CREATE ROLE wt_human LOGIN;
GRANT CREATE ON SCHEMA public TO wt_bot;
SELECT agent_guard.tag_role('wt_bot');
SELECT agent_guard.tag_role('wt_bot2');
\set first_request 150000

SET ROLE wt_bot;
CREATE TABLE wt_t (id int PRIMARY KEY);
INSERT INTO wt_t SELECT generate_series(1, 5);
-- the HINT of a parked statement says how to wait
DROP TABLE wt_t;
RESET ROLE;
SELECT max(id) AS req FROM agent_guard.requests \gset

-- the agent waits for its own request: timeout 0 reads the status
SET ROLE wt_bot;
SELECT agent_guard.wait(:req, '0');
-- a short timeout returns pending after it
SELECT agent_guard.wait(:req, '200 ms');
-- bad input: a clear error
SELECT agent_guard.wait(NULL);
SELECT agent_guard.wait(:req, NULL);
SELECT agent_guard.wait(:req, '-1 second');
SELECT agent_guard.wait(:req + 1000);
RESET ROLE;

-- another agent may not wait for it, even with the right to read pending
GRANT SELECT ON agent_guard.pending TO wt_bot2;
SET ROLE wt_bot2;
SELECT agent_guard.wait(:req, '0');
RESET ROLE;
REVOKE SELECT ON agent_guard.pending FROM wt_bot2;
-- nor a human who is no approver; an approver may
SET ROLE wt_human;
SELECT agent_guard.wait(:req, '0');
RESET ROLE;
GRANT SELECT ON agent_guard.pending TO wt_human;
SET ROLE wt_human;
SELECT agent_guard.wait(:req, '0');
RESET ROLE;

-- statement_timeout ends the wait
SET ROLE wt_bot;
SET statement_timeout = '300ms';
SELECT agent_guard.wait(:req, '1 minute');
RESET statement_timeout;
RESET ROLE;

-- decided before the wait: returned at once; used after the re-run
SELECT status FROM agent_guard.approve(:req);
SET ROLE wt_bot;
SELECT agent_guard.wait(:req, '1 minute');
DROP TABLE wt_t;
SELECT agent_guard.wait(:req, '1 minute');
RESET ROLE;

-- an approval whose permit ran out reads as expired; a pending request
-- past request_ttl too, before the guard marks it
SET ROLE wt_bot;
CREATE TABLE wt_t2 (id int);
INSERT INTO wt_t2 VALUES (1), (2);
TRUNCATE wt_t2;
DELETE FROM wt_t2;
RESET ROLE;
SELECT id AS req_truncate FROM agent_guard.requests WHERE query = 'TRUNCATE wt_t2' \gset
SELECT id AS req_delete FROM agent_guard.requests WHERE query = 'DELETE FROM wt_t2' \gset
SELECT status FROM agent_guard.approve(:req_truncate);
UPDATE agent_guard.requests SET permit_expires_at = now() - interval '1 second'
WHERE id = :req_truncate;
UPDATE agent_guard.requests SET created_at = now() - interval '2 days'
WHERE id = :req_delete;
SET ROLE wt_bot;
SELECT agent_guard.wait(:req_truncate, '1 minute') AS truncate_permit,
       agent_guard.wait(:req_delete, '1 minute') AS delete_request;
RESET ROLE;
SELECT id - :first_request AS req, status FROM agent_guard.requests
WHERE id > :first_request ORDER BY id;

SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
FROM pg_proc p WHERE p.pronamespace = 'agent_guard'::regnamespace
  AND p.proname IN ('wait', '_wake_waiters') ORDER BY 1;

SELECT agent_guard.untag_role('wt_bot');
SELECT agent_guard.untag_role('wt_bot2');
DROP TABLE wt_t2;
REVOKE SELECT ON agent_guard.pending FROM wt_human;
REVOKE CREATE ON SCHEMA public FROM wt_bot;
DROP ROLE wt_bot;
DROP ROLE wt_bot2;
DROP ROLE wt_human;
SELECT setval('agent_guard.requests_id_seq', :req_seq, :'req_seq_called') > 0 AS renumbered;
