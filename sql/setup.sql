-- setup: the extension installs only with the library preloaded (the TAP
-- test t/001_no_preload.pl covers the refusal), and says it is active.
CREATE EXTENSION agent_guard;
SELECT active, version, agent_session, action FROM agent_guard.status();
SHOW shared_preload_libraries;
-- the roles every later suite uses
CREATE ROLE ag_human LOGIN;
CREATE ROLE ag_bot LOGIN;
CREATE ROLE ag_bot_log LOGIN;
GRANT CREATE ON SCHEMA public TO ag_human, ag_bot, ag_bot_log;
SELECT agent_guard.tag_role('ag_bot', 'reject');
SELECT agent_guard.tag_role('ag_bot_log', 'log');
SELECT role, action, superuser, can_login FROM agent_guard.agents ORDER BY role::text;
-- for suites whose refused attempts held a lock on a guard table: their
-- audit rows are written by the writer once the attempt has rolled back;
-- this waits until the writer has no job running
CREATE PROCEDURE ag_wait_writer() LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                          WHERE backend_type = 'agent_guard writer' AND state = 'active');
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
