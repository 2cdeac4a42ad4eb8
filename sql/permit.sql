-- permit: an approval stands for the statement as the server understood it
-- when the human approved it: the same parameter values, the same settings
-- that change how its text is read, the same relations reached with the
-- same definitions.  Each case: parked, approved, changed, re-run: parked
-- again (a new request) instead of running on the old approval; and the
-- unchanged re-run still runs on it.
\set SHOW_CONTEXT never
CREATE ROLE pm_bot LOGIN;
GRANT CREATE ON SCHEMA public TO pm_bot;
SELECT agent_guard.tag_role('pm_bot', 'park', max_rows => 10);
-- request ids from here on do not depend on the suites before this one
SELECT setval('agent_guard.requests_id_seq', 100000) AS first_request \gset
CREATE FUNCTION pm_approve_last() RETURNS text LANGUAGE sql AS
$$ SELECT (agent_guard.approve(max(id))).status FROM agent_guard.requests $$;
CREATE VIEW pm_requests AS
SELECT id - current_setting('pm.first')::bigint AS req, status, query, params,
       estimated_rows AS est
FROM agent_guard.requests
WHERE id > current_setting('pm.first')::bigint ORDER BY id;
SELECT set_config('pm.first', :'first_request', false) AS pm_first \gset

SET ROLE pm_bot;
CREATE TABLE pm_t (a int PRIMARY KEY, note text, day date)
    WITH (autovacuum_enabled = false);
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(1, 100) g;
ANALYZE pm_t;
RESET ROLE;

-- 1. PREPARE/EXECUTE: the values of $n are part of the permit (issue 10:
-- EXECUTE p(80) approved for about 20 rows, EXECUTE p(0) took the permit)
SET ROLE pm_bot;
PREPARE pm_p(int) AS DELETE FROM pm_t WHERE a > $1;
EXECUTE pm_p(80);
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
EXECUTE pm_p(0);                 -- other value: parked, nothing deleted
SELECT count(*) FROM pm_t;
EXECUTE pm_p(80);                -- the approved value: runs once
SELECT count(*) FROM pm_t;
RESET ROLE;
SELECT * FROM pm_requests;
-- the approver sees the values
SELECT query, params FROM agent_guard.pending WHERE id > :first_request;

-- an unbounded UPDATE whose parameter is what it writes
SET ROLE pm_bot;
PREPARE pm_set(text) AS UPDATE pm_t SET note = $1;
EXECUTE pm_set('checked');
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
EXECUTE pm_set(NULL);            -- other value (NULL): parked
EXECUTE pm_set('checked');       -- runs
RESET ROLE;
SELECT count(*) FILTER (WHERE note = 'checked') AS checked, count(*) FROM pm_t;

-- 2. PL/pgSQL variables: a function's argument is bound to its statement
CREATE FUNCTION pm_shift(n int) RETURNS void LANGUAGE plpgsql AS
$$ BEGIN UPDATE pm_t SET a = a + n; END $$;
SET ROLE pm_bot;
SELECT pm_shift(1000);
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
SELECT pm_shift(-1000);          -- other value: parked
SELECT pm_shift(1000);           -- runs
RESET ROLE;
SELECT min(a), max(a) FROM pm_t;
SELECT req, status, query, params FROM pm_requests WHERE query LIKE 'UPDATE pm_t SET a%';

-- ... and a variable of a DO block, read from a table at run time
CREATE TABLE pm_cfg (shift int);
INSERT INTO pm_cfg VALUES (1);
GRANT ALL ON pm_cfg TO pm_bot;
SET ROLE pm_bot;
DO $$ DECLARE n int := (SELECT shift FROM pm_cfg); BEGIN UPDATE pm_t SET a = a + n; END $$;
RESET ROLE;
SELECT pm_approve_last();
UPDATE pm_cfg SET shift = -500;
SET ROLE pm_bot;
DO $$ DECLARE n int := (SELECT shift FROM pm_cfg); BEGIN UPDATE pm_t SET a = a + n; END $$;
RESET ROLE;
SELECT min(a), max(a) FROM pm_t;
SELECT req, status, query, params FROM pm_requests WHERE query LIKE 'UPDATE pm_t SET a = a + n%';
UPDATE pm_t SET a = a - 1000;

-- 3. A view redefined between approval and re-run (CREATE OR REPLACE VIEW
-- keeps the view's OID): the permit carries a hash of its definition
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(81, 100) g;
SET ROLE pm_bot;
CREATE VIEW pm_v AS SELECT * FROM pm_t WHERE a > 80;
DELETE FROM pm_v;                -- 20 rows: above the limit of 10
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
CREATE OR REPLACE VIEW pm_v AS SELECT * FROM pm_t WHERE a > 0;
DELETE FROM pm_v;                -- parked again: every row
SELECT count(*) FROM pm_t;
CREATE OR REPLACE VIEW pm_v AS SELECT * FROM pm_t WHERE a > 80;
DELETE FROM pm_v;                -- the approved definition again: runs
SELECT count(*) FROM pm_t;
RESET ROLE;
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(81, 100) g;

-- 4. The tables a DML permit reaches: INHERIT and ATTACH PARTITION after
-- the approval (issue 20) do not widen it
SET ROLE pm_bot;
CREATE TABLE pm_scratch (a int, note text, day date) WITH (autovacuum_enabled = false);
INSERT INTO pm_scratch VALUES (1, 'tmp', NULL), (2, 'tmp', NULL);
CREATE TABLE pm_orders (a int, note text, day date) WITH (autovacuum_enabled = false);
INSERT INTO pm_orders SELECT g, 'order', NULL FROM generate_series(1, 50) g;
RESET ROLE;
SET ROLE pm_bot;
DELETE FROM pm_scratch;
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
ALTER TABLE pm_orders INHERIT pm_scratch;
DELETE FROM pm_scratch;          -- now reaches pm_orders: parked again
SELECT count(*) FROM pm_orders;
ALTER TABLE pm_orders NO INHERIT pm_scratch;
DELETE FROM pm_scratch;          -- as approved: runs
RESET ROLE;
SELECT count(*) AS orders_kept FROM pm_orders;

SET ROLE pm_bot;
CREATE TABLE pm_scratch_p (a int, note text, day date) PARTITION BY RANGE (a);
CREATE TABLE pm_scratch_p1 PARTITION OF pm_scratch_p FOR VALUES FROM (1000) TO (2000);
INSERT INTO pm_scratch_p VALUES (1000, 'tmp', NULL), (1001, 'tmp', NULL);
RESET ROLE;
SET ROLE pm_bot;
DELETE FROM pm_scratch_p;
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
ALTER TABLE pm_scratch_p ATTACH PARTITION pm_orders FOR VALUES FROM (1) TO (1000);
DELETE FROM pm_scratch_p;        -- now reaches pm_orders: parked again
ALTER TABLE pm_scratch_p DETACH PARTITION pm_orders;
DELETE FROM pm_scratch_p;        -- as approved: runs
RESET ROLE;
SELECT count(*) AS orders_kept FROM pm_orders;

-- a trigger added after the approval makes another statement
SET ROLE pm_bot;
INSERT INTO pm_scratch VALUES (1, 'tmp', NULL), (2, 'tmp', NULL);
DELETE FROM pm_scratch;
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
CREATE FUNCTION pm_also() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN DELETE FROM pm_orders WHERE a >= OLD.a; RETURN OLD; END $$;
CREATE TRIGGER pm_also AFTER DELETE ON pm_scratch FOR EACH ROW EXECUTE FUNCTION pm_also();
DELETE FROM pm_scratch;          -- parked again
RESET ROLE;
SELECT pm_approve_last();
-- ... and so does its function replaced
SET ROLE pm_bot;
CREATE OR REPLACE FUNCTION pm_also() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN DELETE FROM pm_orders WHERE a >= 0; RETURN OLD; END $$;
DELETE FROM pm_scratch;          -- parked again
RESET ROLE;
SELECT count(*) AS orders_kept FROM pm_orders;
SELECT req, status, query FROM pm_requests WHERE query LIKE 'DELETE FROM pm_scratch%';

-- a function the statement calls, replaced after the approval
SET ROLE pm_bot;
CREATE FUNCTION pm_cut() RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 85; END $$;
DELETE FROM pm_t WHERE a > pm_cut();
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
CREATE OR REPLACE FUNCTION pm_cut() RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 0; END $$;
DELETE FROM pm_t WHERE a > pm_cut();     -- parked again
SELECT count(*) FROM pm_t;
CREATE OR REPLACE FUNCTION pm_cut() RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 85; END $$;
DELETE FROM pm_t WHERE a > pm_cut();     -- as approved: runs
SELECT count(*) FROM pm_t;
RESET ROLE;
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(86, 100) g;

-- 5. Settings that change how identical text is read (issue 21).
-- standard_conforming_strings: with it on (the default) the literal is
-- 'a\' and the rest of the line is "AND a > 88" and a comment: 12 rows.
-- With it off, \' escapes the quote and the condition becomes
-- "... OR a > 0": every row.
SET ROLE pm_bot;
DELETE FROM pm_t WHERE note <> 'a\' AND a > 88 --' OR a > 0
;
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
SET standard_conforming_strings = off;
SET escape_string_warning = off;
DELETE FROM pm_t WHERE note <> 'a\' AND a > 88 --' OR a > 0
;
RESET standard_conforming_strings;
RESET escape_string_warning;
SELECT count(*) FROM pm_t;
DELETE FROM pm_t WHERE note <> 'a\' AND a > 88 --' OR a > 0
;
SELECT count(*) FROM pm_t;
RESET ROLE;
SELECT id - :first_request AS req, status, estimated_rows AS est,
       settings LIKE 'standard_conforming_strings=off;%' AS scs_off
FROM agent_guard.requests
WHERE id > :first_request AND query LIKE 'DELETE FROM pm_t WHERE note%' ORDER BY id;
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(89, 100) g;

-- DateStyle: '03/02/2026' is 2 March read as MDY, 3 February read as DMY
SET ROLE pm_bot;
SET DateStyle = 'ISO, MDY';
DELETE FROM pm_t WHERE day > '03/02/2026';
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
SET DateStyle = 'ISO, DMY';
DELETE FROM pm_t WHERE day > '03/02/2026';     -- 3 February: parked
SELECT count(*) FROM pm_t;
SET DateStyle = 'ISO, MDY';
DELETE FROM pm_t WHERE day > '03/02/2026';     -- 2 March, as approved: runs
SELECT count(*) FROM pm_t;
RESET DateStyle;
RESET ROLE;
INSERT INTO pm_t SELECT g, 'n' || g, date '2026-01-01' + g FROM generate_series(61, 100) g;

-- an application setting read by the statement
SET ROLE pm_bot;
SET pm_app.cutoff = '85';
DELETE FROM pm_t WHERE a > current_setting('pm_app.cutoff')::int;
RESET ROLE;
SELECT pm_approve_last();
SET ROLE pm_bot;
SET pm_app.cutoff = '1';
DELETE FROM pm_t WHERE a > current_setting('pm_app.cutoff')::int;   -- parked
SET pm_app.cutoff = '85';
DELETE FROM pm_t WHERE a > current_setting('pm_app.cutoff')::int;   -- runs
RESET ROLE;
SELECT count(*) FROM pm_t;

SELECT req, status, query, params, est FROM pm_requests;
-- every use and decision is audited with the values
SELECT e.decision, e.params FROM agent_guard.events e
WHERE e.request_id > :first_request AND e.params IS NOT NULL ORDER BY e.id;

DEALLOCATE ALL;
DROP OWNED BY pm_bot;
DROP FUNCTION pm_approve_last(), pm_shift(int);
DROP VIEW pm_requests;
DROP TABLE pm_cfg;
SELECT agent_guard.untag_role('pm_bot');
DROP ROLE pm_bot;
