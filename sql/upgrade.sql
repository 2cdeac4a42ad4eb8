-- upgrade: 1.0 installs and updates to the current version in place (in a scratch
-- database: the other suites use the extension in "regression").
CREATE DATABASE ag_upgrade;
\c ag_upgrade
CREATE EXTENSION agent_guard VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'agent_guard';
SELECT count(*) AS has_estimated_rows FROM information_schema.columns
WHERE table_schema = 'agent_guard' AND column_name = 'estimated_rows';
ALTER EXTENSION agent_guard UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'agent_guard';
SELECT version FROM agent_guard.status();
SELECT table_name FROM information_schema.columns
WHERE table_schema = 'agent_guard' AND column_name = 'estimated_rows'
ORDER BY 1;
SELECT column_name FROM information_schema.columns
WHERE table_schema = 'agent_guard' AND table_name = 'agents' ORDER BY ordinal_position;
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
FROM pg_proc p WHERE p.pronamespace = 'agent_guard'::regnamespace
  AND p.proname IN ('tag_role', '_park') ORDER BY p.oid::regprocedure::text;
-- a fresh install (1.0 then each upgrade script) has the same objects as the update
CREATE DATABASE ag_upgrade_fresh;
\c ag_upgrade_fresh
CREATE EXTENSION agent_guard;
SELECT extversion FROM pg_extension WHERE extname = 'agent_guard';
SELECT p.oid::regprocedure AS function FROM pg_proc p
WHERE p.pronamespace = 'agent_guard'::regnamespace ORDER BY p.oid::regprocedure::text;
\c regression
DROP DATABASE ag_upgrade;
DROP DATABASE ag_upgrade_fresh;
