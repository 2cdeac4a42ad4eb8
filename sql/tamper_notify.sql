-- tamper_notify: agent sessions cannot send on the guard's notification
-- channel agent_guard (class guard, refused and audited), in any spelling
-- and from any code; other channels, and listening, are fine.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
CREATE FUNCTION tn_sql_notify() RETURNS void LANGUAGE sql
  AS $$ NOTIFY agent_guard, '{"id" : 1}' $$;
CREATE PROCEDURE tn_proc_notify() LANGUAGE plpgsql
  AS $$ BEGIN NOTIFY agent_guard; COMMIT; END $$;
SET ROLE ag_bot;
NOTIFY agent_guard;
NOTIFY AGENT_GUARD, '{"id" : 1, "class" : "drop"}';
NOTIFY "agent_guard", 'forged';
DO $$ BEGIN NOTIFY agent_guard, 'forged'; END $$;
DO $$ BEGIN EXECUTE 'NOTIFY agent_guard'; END $$;
SELECT tn_sql_notify();
CALL tn_proc_notify();
-- another channel, a differently cased one, and LISTEN are not the guard's
NOTIFY "Agent_Guard", 'fine';
NOTIFY app_events, 'fine';
LISTEN agent_guard;
UNLISTEN agent_guard;
RESET ROLE;
-- a human session may
NOTIFY agent_guard, 'from a human';
SELECT class, decision, command, objects FROM agent_guard.events
WHERE id > :last_id ORDER BY id;
DROP FUNCTION tn_sql_notify();
DROP PROCEDURE tn_proc_notify();
