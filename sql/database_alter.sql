-- database_alter: what an agent may not do to a whole database alone.
-- ALTER DATABASE ... RENAME moves a database away from the name its
-- applications connect to (ALTER DATABASE app RENAME TO x; CREATE DATABASE
-- app sends them to an empty one): class drop, decided before it runs.
-- CONNECTION LIMIT, ALLOW_CONNECTIONS false and IS_TEMPLATE change what
-- every other session may do with the database (a limit of 0 locks every
-- application out; a template can be copied by any role with CREATEDB):
-- like ALTER DATABASE ... SET, class guard, always refused.  Lifting a
-- limit (CONNECTION LIMIT -1, ALLOW_CONNECTIONS true) and changes that keep
-- the database where it is (SET TABLESPACE, OWNER TO) pass.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
ALTER ROLE ag_bot CREATEDB;
ALTER ROLE ag_bot_log CREATEDB;
SET ROLE ag_bot;
CREATE DATABASE ag_dba_app;
RESET ROLE;

SET ROLE ag_bot;
-- refused (one full message each)
ALTER DATABASE ag_dba_app RENAME TO ag_dba_old;
ALTER DATABASE ag_dba_app CONNECTION LIMIT 0;
\set VERBOSITY terse
ALTER DATABASE ag_dba_app WITH CONNECTION LIMIT 5;
ALTER DATABASE ag_dba_app ALLOW_CONNECTIONS false;
ALTER DATABASE ag_dba_app IS_TEMPLATE true;
ALTER DATABASE ag_dba_app WITH ALLOW_CONNECTIONS true CONNECTION LIMIT 0;
DO $$BEGIN EXECUTE 'ALTER DATABASE ag_dba_app CONNECTION LIMIT 0'; END$$;
\set VERBOSITY default
-- allowed: lifting limits, a database that does not exist (its own error)
ALTER DATABASE ag_dba_app CONNECTION LIMIT -1;
ALTER DATABASE ag_dba_app ALLOW_CONNECTIONS true;
ALTER DATABASE ag_dba_app OWNER TO ag_bot;
ALTER DATABASE ag_dba_missing RENAME TO ag_dba_x;
RESET ROLE;
SELECT datname, datconnlimit, datallowconn, datistemplate FROM pg_database
  WHERE datname LIKE 'ag_dba%' ORDER BY datname;

-- log mode: a warning, and it runs
SET ROLE ag_bot_log;
CREATE DATABASE ag_dba_log;
RESET ROLE;
SET ROLE ag_bot_log;
ALTER DATABASE ag_dba_log RENAME TO ag_dba_log2;
RESET ROLE;
SELECT datname FROM pg_database WHERE datname LIKE 'ag_dba_log%';
-- a human session is never touched
ALTER DATABASE ag_dba_log2 CONNECTION LIMIT 0;
ALTER DATABASE ag_dba_log2 RENAME TO ag_dba_log3;

SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP DATABASE ag_dba_app;
DROP DATABASE ag_dba_log3;
ALTER ROLE ag_bot NOCREATEDB;
ALTER ROLE ag_bot_log NOCREATEDB;
