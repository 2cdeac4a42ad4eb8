-- matview_refresh: REFRESH MATERIALIZED VIEW ... WITH NO DATA empties a
-- populated materialized view: what it held (a snapshot taken with now(),
-- of rows deleted since) may not be computable again.  Class truncate,
-- decided before it runs, with the rows it holds.  A plain or CONCURRENTLY
-- refresh recomputes the view from committed tables, which it does not
-- change: allowed.  So are views that are new, or not populated.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

SET ROLE ag_bot;
CREATE TABLE mr_src (id int PRIMARY KEY, v int);
INSERT INTO mr_src SELECT g, g FROM generate_series(1, 30) g;
CREATE MATERIALIZED VIEW mr_mv AS SELECT id, v, now() AS taken FROM mr_src;
CREATE UNIQUE INDEX ON mr_mv (id);
CREATE MATERIALIZED VIEW mr_empty AS SELECT id FROM mr_src WITH NO DATA;
RESET ROLE;
ANALYZE mr_mv;

SET ROLE ag_bot;
-- refused (one full message)
REFRESH MATERIALIZED VIEW mr_mv WITH NO DATA;
\set VERBOSITY terse
DO $$BEGIN EXECUTE 'REFRESH MATERIALIZED VIEW mr_mv WITH NO DATA'; END$$;
CREATE FUNCTION mr_f() RETURNS void LANGUAGE sql
  AS 'REFRESH MATERIALIZED VIEW mr_mv WITH NO DATA';
SELECT mr_f();
\set VERBOSITY default
-- allowed: recomputing it, an unpopulated view, a new view
REFRESH MATERIALIZED VIEW mr_mv;
REFRESH MATERIALIZED VIEW CONCURRENTLY mr_mv;
REFRESH MATERIALIZED VIEW mr_empty WITH NO DATA;
BEGIN;
CREATE MATERIALIZED VIEW mr_new AS SELECT 1 AS a;
REFRESH MATERIALIZED VIEW mr_new WITH NO DATA;
COMMIT;
RESET ROLE;
SELECT relname, relispopulated FROM pg_class
  WHERE relname IN ('mr_mv', 'mr_empty', 'mr_new') ORDER BY relname;
SELECT count(*) AS rows_kept FROM mr_mv;

-- log mode: a warning, and it runs
SET ROLE ag_bot_log;
CREATE MATERIALIZED VIEW mr_log AS SELECT 1 AS a;
RESET ROLE;
ANALYZE mr_log;
SET ROLE ag_bot_log;
REFRESH MATERIALIZED VIEW mr_log WITH NO DATA;
RESET ROLE;
SELECT relispopulated FROM pg_class WHERE relname = 'mr_log';

SELECT role_name, class, decision, command, objects, estimated_rows, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP MATERIALIZED VIEW mr_mv, mr_empty, mr_new, mr_log;
DROP TABLE mr_src;
DROP FUNCTION mr_f();
