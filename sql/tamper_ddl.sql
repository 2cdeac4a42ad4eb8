-- tamper_ddl: DDL that touches the guard's objects without creating one in
-- its schema (doc/design.md section 6, "the DDL that would let another
-- object reach into them"): a foreign key that puts triggers on a guard table,
-- comments, extended statistics, publications, and the rebuilds that hold
-- a lock on the guard's tables (REINDEX, CLUSTER, VACUUM FULL) - which the
-- writer would wait for.  A superuser agent, so privileges stop nothing.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset
CREATE ROLE td_super SUPERUSER;
SET client_min_messages = error;	-- tag_role's superuser warning is covered in tamper
SELECT agent_guard.tag_role('td_super', 'reject');
RESET client_min_messages;
CREATE TEMP TABLE td_before AS
  SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('agent_guard.events'::regclass, 'agent_guard.requests'::regclass)) AS triggers,
         (SELECT count(*) FROM pg_description WHERE objoid IN ('agent_guard.events'::regclass, 'agent_guard'::regnamespace)) AS comments,
         (SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = 'agent_guard.events'::regclass) AS stats,
         (SELECT count(*) FROM pg_publication_rel) + (SELECT count(*) FROM pg_publication_namespace) AS published,
         (SELECT relfilenode FROM pg_class WHERE oid = 'agent_guard.events'::regclass) AS events_file,
         (SELECT relfilenode FROM pg_class WHERE oid = 'agent_guard.events_pkey'::regclass) AS pkey_file;

SET SESSION AUTHORIZATION td_super;
-- one full message
CREATE TABLE td_fk (event_id bigint REFERENCES agent_guard.events (id));
\set VERBOSITY terse
CREATE TABLE td_own (id bigint PRIMARY KEY, v int);
ALTER TABLE td_own ADD FOREIGN KEY (id) REFERENCES agent_guard.requests (id);
COMMENT ON TABLE agent_guard.events IS 'x';
COMMENT ON COLUMN agent_guard.events.query IS 'x';
COMMENT ON SCHEMA agent_guard IS 'x';
COMMENT ON EXTENSION agent_guard IS 'x';
COMMENT ON FUNCTION agent_guard.approve(bigint, text) IS 'x';
CREATE STATISTICS td_st ON role_name, class FROM agent_guard.events;
CREATE PUBLICATION td_pub FOR TABLE agent_guard.events;
CREATE PUBLICATION td_pub2 FOR TABLES IN SCHEMA agent_guard;
SET search_path = agent_guard, public;
CREATE PUBLICATION td_pub4 FOR TABLES IN SCHEMA CURRENT_SCHEMA;
RESET search_path;
CREATE PUBLICATION td_pub5 FOR TABLE td_own, agent_guard.requests;
CREATE PUBLICATION td_pub3;
ALTER PUBLICATION td_pub3 ADD TABLE agent_guard.requests;
ALTER PUBLICATION td_pub3 ADD TABLES IN SCHEMA agent_guard;
REINDEX TABLE agent_guard.events;
REINDEX INDEX agent_guard.events_pkey;
REINDEX SCHEMA agent_guard;
CLUSTER agent_guard.events USING events_pkey;
VACUUM FULL agent_guard.events;
VACUUM (FULL, ANALYZE) agent_guard.requests;
-- in a DO block too
DO $$BEGIN EXECUTE 'COMMENT ON TABLE agent_guard.requests IS ''x'''; END$$;
-- the same on the agent's own objects, and plain VACUUM / ANALYZE: allowed
COMMENT ON TABLE td_own IS 'mine';
CREATE STATISTICS td_st_own ON id, v FROM td_own;
CREATE TABLE td_child (own_id bigint REFERENCES td_own (id));
ALTER PUBLICATION td_pub3 ADD TABLE td_own;
REINDEX TABLE td_own;
CLUSTER td_own USING td_own_pkey;
VACUUM FULL td_own;
VACUUM agent_guard.events;
ANALYZE agent_guard.events;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;

-- nothing of the guard's changed
SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('agent_guard.events'::regclass, 'agent_guard.requests'::regclass)) AS triggers,
       (SELECT count(*) FROM pg_description WHERE objoid IN ('agent_guard.events'::regclass, 'agent_guard'::regnamespace)) AS comments,
       (SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = 'agent_guard.events'::regclass) AS stats,
       (SELECT count(*) FROM pg_publication_rel WHERE prrelid <> 'td_own'::regclass) + (SELECT count(*) FROM pg_publication_namespace) AS published,
       (SELECT relfilenode FROM pg_class WHERE oid = 'agent_guard.events'::regclass) AS events_file,
       (SELECT relfilenode FROM pg_class WHERE oid = 'agent_guard.events_pkey'::regclass) AS pkey_file
EXCEPT SELECT * FROM td_before;
SELECT obj_description('td_own'::regclass, 'pg_class') AS own_comment;
SELECT pubname FROM pg_publication ORDER BY 1;

-- audited (the writer writes attempts that held a guard table's lock once
-- they have rolled back: wait for it)
CALL ag_wait_writer();
SELECT class, decision, command, objects
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- clean up
DROP PUBLICATION td_pub3;
DROP TABLE td_child, td_own;
SELECT agent_guard.untag_role('td_super');
DROP ROLE td_super;
