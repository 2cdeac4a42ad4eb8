-- counters: agent_guard.counters counts every decision since the server
-- started, per class.  Other suites ran before in this server, so compare
-- with a snapshot taken first.
CREATE TEMP TABLE ct_before AS SELECT * FROM agent_guard.counters;
CREATE ROLE ct_park;
CREATE TABLE ct_t (id int);
INSERT INTO ct_t VALUES (1), (2);
GRANT ALL ON ct_t TO ag_bot, ag_bot_log, ct_park;
SELECT agent_guard.tag_role('ct_park', 'park');
\set VERBOSITY terse
SET ROLE ag_bot;
DELETE FROM ct_t;                      -- rejected delete
TRUNCATE ct_t;                         -- rejected truncate
SET agent_guard.default_action = 'log'; -- rejected guard
RESET ROLE;
SET ROLE ag_bot_log;
UPDATE ct_t SET id = id;               -- logged update
RESET ROLE;
SET ROLE ct_park;
DELETE FROM ct_t;                      -- parked delete
DELETE FROM ct_t;                      -- parked again (same request)
RESET ROLE;
SELECT count(agent_guard.approve(id)) FROM agent_guard.pending WHERE role_name = 'ct_park';
SET ROLE ct_park;
DELETE FROM ct_t;                      -- used
RESET ROLE;
\set VERBOSITY default
SELECT a.class, a.parked - b.parked AS parked, a.rejected - b.rejected AS rejected,
       a.logged - b.logged AS logged, a.used - b.used AS used
FROM agent_guard.counters a JOIN ct_before b USING (class) ORDER BY a.class;
-- anyone may read them; the function checks its arguments
SET ROLE ag_human;
SELECT count(*) FROM agent_guard.counters;
SELECT agent_guard._counter('drop', 'vanished');
RESET ROLE;
DROP TABLE ct_t;
DROP ROLE ct_park;
