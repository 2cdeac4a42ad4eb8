-- rename_swap: renaming a committed column, enum label or table to a name
-- that another one of the same table, type or schema gave up earlier in
-- the same transaction swaps what committed rows mean: debit and credit
-- trade places, 'paid' and 'refunded' read as each other, and rows
-- written later cannot be told apart from older ones.  That is an UPDATE
-- of every row without a WHERE clause in another form: class update.  A
-- plain rename (to a name nobody gave up) changes no row's meaning and is
-- allowed; so are renames of temporary objects and of objects created in
-- the same transaction.
\set SHOW_CONTEXT never
SELECT coalesce(max(id), 0) AS last_id FROM agent_guard.events \gset

SET ROLE ag_bot;
CREATE TABLE rs_ledger (id int, debit numeric, credit numeric);
INSERT INTO rs_ledger VALUES (1, 10, 0), (2, 0, 5);
CREATE TYPE rs_state AS ENUM ('paid', 'refunded', 'open');
CREATE TABLE rs_orders (id int, state rs_state);
INSERT INTO rs_orders VALUES (1, 'paid'), (2, 'refunded');
CREATE TABLE rs_eu (id int);
CREATE TABLE rs_us (id int);
CREATE TYPE rs_pair AS (lo int, hi int);
RESET ROLE;
ANALYZE rs_ledger;

SET ROLE ag_bot;
-- a column swap (one full message)
BEGIN;
ALTER TABLE rs_ledger RENAME COLUMN debit TO tmp;
ALTER TABLE rs_ledger RENAME COLUMN credit TO debit;
ROLLBACK;
\set VERBOSITY terse
-- an enum label swap
BEGIN;
ALTER TYPE rs_state RENAME VALUE 'paid' TO 'tmp';
ALTER TYPE rs_state RENAME VALUE 'refunded' TO 'paid';
ROLLBACK;
-- a table swap
BEGIN;
ALTER TABLE rs_eu RENAME TO rs_tmp;
ALTER TABLE rs_us RENAME TO rs_eu;
ROLLBACK;
-- a composite type's attributes
BEGIN;
ALTER TYPE rs_pair RENAME ATTRIBUTE lo TO x;
ALTER TYPE rs_pair RENAME ATTRIBUTE hi TO lo;
ROLLBACK;
-- in one DO block, in one multi-statement string
DO $$BEGIN
  ALTER TABLE rs_ledger RENAME COLUMN debit TO tmp;
  ALTER TABLE rs_ledger RENAME COLUMN credit TO debit;
END$$;
ALTER TABLE rs_ledger RENAME COLUMN debit TO tmp\; ALTER TABLE rs_ledger RENAME COLUMN credit TO debit;
-- a savepoint rolled back does not forget the freed name (when unsure, guard)
BEGIN;
SAVEPOINT s;
ALTER TABLE rs_ledger RENAME COLUMN debit TO tmp;
ROLLBACK TO s;
ALTER TABLE rs_ledger RENAME COLUMN credit TO debit;
ROLLBACK;
\set VERBOSITY default
-- allowed: plain renames, and renaming back what this transaction renamed
BEGIN;
ALTER TABLE rs_ledger RENAME COLUMN debit TO amount_in;
ALTER TABLE rs_ledger RENAME COLUMN amount_in TO debit;
ALTER TYPE rs_state RENAME VALUE 'open' TO 'pending';
ALTER TABLE rs_eu RENAME TO rs_europe;
COMMIT;
-- the name was given up in an earlier transaction: a plain rename
ALTER TABLE rs_ledger RENAME COLUMN credit TO credit_old;
ALTER TABLE rs_ledger RENAME COLUMN debit TO credit;
ALTER TABLE rs_ledger RENAME COLUMN credit TO debit;
ALTER TABLE rs_ledger RENAME COLUMN credit_old TO credit;
-- objects created in the same transaction, temporary tables
BEGIN;
CREATE TABLE rs_new (a int, b int);
ALTER TABLE rs_new RENAME COLUMN a TO t;
ALTER TABLE rs_new RENAME COLUMN b TO a;
COMMIT;
CREATE TEMP TABLE rs_tmp (a int, b int);
BEGIN;
ALTER TABLE rs_tmp RENAME COLUMN a TO t;
ALTER TABLE rs_tmp RENAME COLUMN b TO a;
COMMIT;
RESET ROLE;
SELECT attname FROM pg_attribute WHERE attrelid = 'rs_ledger'::regclass AND attnum > 0 ORDER BY attnum;
SELECT enumlabel FROM pg_enum WHERE enumtypid = 'rs_state'::regtype ORDER BY enumsortorder;

-- log mode: a warning, and it runs
SET ROLE ag_bot_log;
CREATE TABLE rs_log (a int, b int);
RESET ROLE;
SET ROLE ag_bot_log;
BEGIN;
ALTER TABLE rs_log RENAME COLUMN a TO t;
ALTER TABLE rs_log RENAME COLUMN b TO a;
COMMIT;
RESET ROLE;
-- a human session is never touched
BEGIN;
ALTER TABLE rs_log RENAME COLUMN a TO x;
ALTER TABLE rs_log RENAME COLUMN t TO a;
COMMIT;

SELECT role_name, class, decision, command, objects, query
FROM agent_guard.events WHERE id > :last_id ORDER BY id;

-- cleanup
DROP TABLE rs_ledger, rs_orders, rs_europe, rs_us, rs_new, rs_log;
DROP TYPE rs_state, rs_pair;
