/* agent_guard--1.1--1.2.sql: hardening (permits bound to what the server understood, expiry that never waits on an agent's lock) */

\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------
-- Approval workflow (issue 15): wait(), grants, several approvers.
-- ---------------------------------------------------------------------

-- wait(): sleeps on the backend's latch until the request's status
-- changes (woken by the trigger below when the change commits), the
-- timeout passes, or a pending request reaches its expiry time.
CREATE FUNCTION agent_guard.wait(request_id bigint, timeout interval DEFAULT '5 minutes')
RETURNS text
AS 'MODULE_PATHNAME', 'ag_wait'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION agent_guard.wait(bigint, interval) IS
'Wait for the decision on a request of your own role: approved, rejected, expired (or used), or pending when the timeout passes first.';
-- agents wait for their own requests; the function checks whose request it is
GRANT EXECUTE ON FUNCTION agent_guard.wait(bigint, interval) TO PUBLIC;

CREATE FUNCTION agent_guard._wake_waiters()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ag_wake_waiters'
LANGUAGE C;
REVOKE ALL ON FUNCTION agent_guard._wake_waiters() FROM PUBLIC;

CREATE TRIGGER requests_wake_waiters
    AFTER UPDATE OF status ON agent_guard.requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION agent_guard._wake_waiters();
