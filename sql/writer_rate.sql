-- writer_rate: one agent role's durable writes a second
-- (agent_guard.role_write_rate).  A role past its rate waits for the next
-- second instead of crowding out other agents' parks; its writes still
-- happen, each in a second of its own.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_req FROM agent_guard.requests \gset
CREATE ROLE wr_bot LOGIN;
CREATE TABLE wr_t (id int);
INSERT INTO wr_t VALUES (1), (2);
ALTER TABLE wr_t OWNER TO wr_bot;
SELECT agent_guard.tag_role('wr_bot', 'park');
SHOW agent_guard.role_write_rate;
-- a DBA sets it; an agent cannot change it
SET agent_guard.role_write_rate = 1;
SET ROLE wr_bot;
SET agent_guard.role_write_rate = 0;
SHOW agent_guard.role_write_rate;
-- three distinct parks in one statement at one write a second: each waits
-- for a second of its own, and each is recorded
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
    parked int := 0;
BEGIN
    FOR i IN 1..3 LOOP
        BEGIN
            EXECUTE format('DELETE FROM wr_t WHERE %s = %s', i, i);
        EXCEPTION WHEN sqlstate '42AGP' THEN
            parked := parked + 1;
        END;
    END LOOP;
    RAISE NOTICE 'parked: %, took more than a second: %',
        parked, clock_timestamp() - t0 > interval '1 second';
END
$$;
RESET ROLE;
SELECT query, status FROM agent_guard.requests
WHERE id > :last_req AND role_name = 'wr_bot' ORDER BY id;
SELECT count(*) AS rows_left FROM wr_t;
-- back to the default
RESET agent_guard.role_write_rate;
DROP TABLE wr_t;
SELECT agent_guard.untag_role('wr_bot');
DROP ROLE wr_bot;
