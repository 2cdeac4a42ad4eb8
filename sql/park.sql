-- park: parked statements, dedupe, the per-role cap, approve/reject and
-- their bad input, who may decide, and the one-shot permit with every way
-- it must not carry over to another statement.
\set SHOW_CONTEXT never
CREATE ROLE pk_bot LOGIN;
CREATE ROLE pk_bot2 LOGIN;
CREATE ROLE pk_approver LOGIN;
GRANT CREATE ON SCHEMA public TO pk_bot, pk_bot2;
SELECT agent_guard.tag_role('pk_bot');          -- default action: park
SELECT agent_guard.tag_role('pk_bot2', 'park');
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text),
                          agent_guard.reject(bigint, text) TO pk_approver;
GRANT SELECT ON agent_guard.pending, agent_guard.requests TO pk_approver;
SELECT max(id) AS first_event FROM agent_guard.events \gset
SELECT coalesce(max(id), 0) AS first_request FROM agent_guard.requests \gset

SET ROLE pk_bot;
CREATE TABLE pk_orders (id int PRIMARY KEY, item text);
INSERT INTO pk_orders SELECT g, 'item ' || g FROM generate_series(1, 20) g;
CREATE VIEW pk_orders_v AS SELECT * FROM pk_orders;
RESET ROLE;

-- parked: a distinct SQLSTATE, the request id in the message, the objects
-- in DETAIL, what a human must do in HINT
SET ROLE pk_bot;
DROP TABLE pk_orders CASCADE;
RESET ROLE;
SELECT count(*) AS rows_kept FROM pk_orders;
SELECT id - :first_request AS req, role_name, class, command, objects, query, status, attempts
FROM agent_guard.requests WHERE id > :first_request ORDER BY id;

-- the request row survives the abort of an explicit transaction too;
-- the SQLSTATE of a parked statement is 42AGP
SET ROLE pk_bot;
BEGIN;
INSERT INTO pk_orders VALUES (100, 'lost with the abort');
\set VERBOSITY sqlstate
DELETE FROM pk_orders;
\set VERBOSITY default
ROLLBACK;
RESET ROLE;
SELECT count(*) AS rows_kept, max(id) AS max_id FROM pk_orders;

-- ... and inside a function
CREATE FUNCTION pk_wipe() RETURNS void LANGUAGE plpgsql AS
$$ BEGIN UPDATE pk_orders SET item = 'gone'; END $$;
SET ROLE pk_bot;
SELECT pk_wipe();
RESET ROLE;

-- identical re-runs while pending: the same request, attempts counted
SET ROLE pk_bot;
DROP TABLE pk_orders CASCADE;
DROP TABLE pk_orders CASCADE;
RESET ROLE;
SELECT id - :first_request AS req, class, query, status, attempts
FROM agent_guard.requests WHERE id > :first_request ORDER BY id;
SELECT id - :first_request AS req, class, command, query, attempts
FROM agent_guard.pending WHERE id > :first_request;

-- bad input to approve/reject: clear errors, nothing changes
SELECT agent_guard.approve(NULL);
SELECT agent_guard.reject(NULL, 'why');
SELECT agent_guard.approve(-1);
SELECT agent_guard.approve(999999);
SELECT agent_guard.reject(999999);
SELECT count(*) AS still_pending FROM agent_guard.pending WHERE id > :first_request;

-- who may decide: not PUBLIC, and never an agent session
SET ROLE ag_human;
SELECT agent_guard.approve(:first_request + 1);
RESET ROLE;
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text),
                          agent_guard.reject(bigint, text) TO pk_bot;
SET ROLE pk_bot;
SELECT agent_guard.approve(:first_request + 1);
SELECT agent_guard.reject(:first_request + 1);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text),
                           agent_guard.reject(bigint, text) FROM pk_bot;
-- an agent session that is a superuser cannot either
CREATE ROLE pk_super SUPERUSER;
SELECT agent_guard.tag_role('pk_super', 'park');
SET SESSION AUTHORIZATION pk_super;
SELECT agent_guard.approve(:first_request + 1);
UPDATE agent_guard.requests SET status = 'approved' WHERE id = :first_request + 1;
-- without a WHERE it is still tampering, refused as such, never parked
UPDATE agent_guard.requests SET status = 'approved';
RESET SESSION AUTHORIZATION;
SET ROLE pk_bot;
UPDATE agent_guard.requests SET status = 'approved';
DELETE FROM agent_guard.events;
RESET ROLE;
-- nor a human who turned their session into an agent session
SET SESSION AUTHORIZATION pk_approver;
SELECT count(*) FROM agent_guard.pending WHERE id > :first_request;
RESET SESSION AUTHORIZATION;

-- reject: the request is closed; the agent's re-run parks a new one
SET SESSION AUTHORIZATION pk_approver;
SELECT id - :first_request AS req, status, decided_by, note
FROM agent_guard.reject(:first_request + 2, 'keep the rows');
SELECT agent_guard.approve(:first_request + 2);
RESET SESSION AUTHORIZATION;
SET ROLE pk_bot;
BEGIN;
INSERT INTO pk_orders VALUES (100, 'lost with the abort');
DELETE FROM pk_orders;
ROLLBACK;
RESET ROLE;

-- approve: exactly that statement runs once
SET SESSION AUTHORIZATION pk_approver;
SELECT id - :first_request AS req, status, decided_by, note,
       permit_expires_at > now() AS permit_valid
FROM agent_guard.approve(:first_request + 1, 'the view and table are obsolete');
SELECT agent_guard.approve(:first_request + 1);
RESET SESSION AUTHORIZATION;

-- mismatches do not use the permit: each parks a new request instead
SET ROLE pk_bot;
DROP TABLE public.pk_orders CASCADE;               -- other text
drop table pk_orders cascade;                      -- other spelling
SET search_path = public, pg_catalog;
DROP TABLE pk_orders CASCADE;                      -- other search_path
RESET search_path;
RESET ROLE;
GRANT pk_bot TO pk_bot2;
SET ROLE pk_bot2;
DROP TABLE pk_orders CASCADE;                      -- other role (a member of the owner)
RESET ROLE;
REVOKE pk_bot FROM pk_bot2;
SELECT id - :first_request AS req, role_name, status, query, search_path
FROM agent_guard.requests WHERE id > :first_request ORDER BY id;

-- an added CASCADE makes another statement
SET ROLE pk_bot;
CREATE TABLE pk_lone (id int);
RESET ROLE;
SET ROLE pk_bot;
DROP TABLE pk_lone;
RESET ROLE;
SELECT max(id) AS lone_req FROM agent_guard.requests \gset
SELECT status FROM agent_guard.approve(:lone_req);
SET ROLE pk_bot;
DROP TABLE pk_lone CASCADE;
RESET ROLE;
SELECT status FROM agent_guard.requests WHERE id = :lone_req;
SELECT to_regclass('pk_lone') IS NOT NULL AS still_there;

-- a rolled-back use gives the permit back
SET ROLE pk_bot;
BEGIN;
DROP TABLE pk_orders CASCADE;
SELECT to_regclass('pk_orders') AS gone_inside;
ROLLBACK;
RESET ROLE;
SELECT status FROM agent_guard.requests WHERE id = :first_request + 1;
SELECT count(*) AS rows_kept FROM pk_orders;

-- the real use: once
SET ROLE pk_bot;
DROP TABLE pk_orders CASCADE;
RESET ROLE;
SELECT to_regclass('pk_orders') AS dropped;
SELECT status, used_at IS NOT NULL AS used FROM agent_guard.requests
WHERE id = :first_request + 1;

-- a second run of the same text parks again (here: for a new table of the
-- same name - a re-created table is another object, the old approval would
-- not fit it anyway)
SET ROLE pk_bot;
CREATE TABLE pk_orders (id int PRIMARY KEY, item text);
CREATE VIEW pk_orders_v AS SELECT * FROM pk_orders;
RESET ROLE;
SET ROLE pk_bot;
DROP TABLE pk_orders CASCADE;
RESET ROLE;

-- a renamed and re-created table does not carry the approval over
SET ROLE pk_bot;
CREATE TABLE pk_items (id int PRIMARY KEY);
INSERT INTO pk_items SELECT generate_series(1, 5);
RESET ROLE;
SET ROLE pk_bot;
TRUNCATE pk_items;
RESET ROLE;
SELECT max(id) AS truncate_req FROM agent_guard.requests WHERE class = 'truncate' \gset
SELECT status FROM agent_guard.approve(:truncate_req);
SET ROLE pk_bot;
ALTER TABLE pk_items RENAME TO pk_items_old;
CREATE TABLE pk_items (id int PRIMARY KEY);
INSERT INTO pk_items VALUES (1);
TRUNCATE pk_items;
RESET ROLE;
SELECT status FROM agent_guard.requests WHERE id = :truncate_req;
SELECT (SELECT count(*) FROM pk_items) AS new_rows, (SELECT count(*) FROM pk_items_old) AS old_rows;

-- the permit is not valid in another database: requests live per database
CREATE DATABASE pk_other;
\c pk_other
CREATE EXTENSION agent_guard;
GRANT CREATE ON SCHEMA public TO pk_bot;
SET ROLE pk_bot;
CREATE TABLE pk_items_old (id int PRIMARY KEY);
RESET ROLE;
SET ROLE pk_bot;
\set SHOW_CONTEXT never
TRUNCATE pk_items_old;
RESET ROLE;
SELECT class, query, status FROM agent_guard.requests;
\c regression
\set SHOW_CONTEXT never
DROP DATABASE pk_other;

-- the per-role cap on pending requests
SET agent_guard.max_pending = 2;
SELECT current_setting('agent_guard.max_pending');
RESET agent_guard.max_pending;
ALTER ROLE pk_bot2 SET agent_guard.max_pending = 2;
\c - pk_bot2
\set SHOW_CONTEXT never
SHOW agent_guard.max_pending;
CREATE TABLE pk_cap (id int);
DELETE FROM pk_cap;
UPDATE pk_cap SET id = 0;
TRUNCATE pk_cap;
DELETE FROM pk_cap;        -- a repeat of a pending one is still counted, not capped
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE pk_bot2 RESET agent_guard.max_pending;
SELECT role_name, class, status, attempts FROM agent_guard.requests
WHERE role_name = 'pk_bot2' ORDER BY id;

-- the audit trail of it all
SELECT role_name, class, decision, command, request_id - :first_request AS req
FROM agent_guard.events WHERE id > :first_event ORDER BY id;

-- (the NOTIFY sent for each new request is checked by test/t/003_park.pl:
-- its output names a process id)

-- clean up
DROP TABLE pk_items, pk_items_old, pk_cap, pk_lone;
DROP FUNCTION pk_wipe();
DROP TABLE pk_orders CASCADE;
REVOKE CREATE ON SCHEMA public FROM pk_bot, pk_bot2;
REVOKE ALL ON FUNCTION agent_guard.approve(bigint, text),
              agent_guard.reject(bigint, text) FROM pk_approver;
REVOKE ALL ON agent_guard.pending, agent_guard.requests FROM pk_approver;
DROP ROLE pk_bot, pk_bot2, pk_approver, pk_super;
