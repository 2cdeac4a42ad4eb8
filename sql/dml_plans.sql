-- dml_plans: how src/dml.c reads a plan to tell bounded from unbounded
-- DELETE/UPDATE (join conditions between other tables, MERGE conditions on
-- the source, views with INSTEAD OF triggers, new parents of committed
-- children); each of these was once decided wrongly.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE TABLE gap_t (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE gap_o (id int PRIMARY KEY, x int NOT NULL);
CREATE TABLE gap_q (id int PRIMARY KEY, y int NOT NULL);
INSERT INTO gap_t SELECT g, g * 10 FROM generate_series(1, 5) g;
INSERT INTO gap_o VALUES (1, 1), (2, 2);
INSERT INTO gap_q SELECT g, g FROM generate_series(1, 10000) g;
ANALYZE gap_t, gap_o, gap_q;
CREATE VIEW gap_tv AS SELECT id, v FROM gap_t;
CREATE FUNCTION gap_tv_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM gap_t WHERE id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER gap_tv_del INSTEAD OF DELETE ON gap_tv
    FOR EACH ROW EXECUTE FUNCTION gap_tv_del();
CREATE TABLE gap_child (id int, v int);
INSERT INTO gap_child SELECT g, g FROM generate_series(1, 5) g;
GRANT ALL ON gap_t, gap_o, gap_q, gap_tv TO PUBLIC;
-- gap_state(): rows of gap_t (and of gap_child) now, then back to 5 (and 5)
CREATE FUNCTION gap_state() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog
AS $$
DECLARE
    s text;
BEGIN
    s := format('t %s  child %s/%s', (SELECT count(*) FROM gap_t),
                (SELECT count(*) FROM gap_child),
                (SELECT count(*) FROM gap_child WHERE v <> id));
    DELETE FROM gap_t WHERE id > 0;
    INSERT INTO gap_t SELECT g, g * 10 FROM generate_series(1, 5) g;
    DELETE FROM gap_child WHERE id > 0;
    INSERT INTO gap_child SELECT g, g FROM generate_series(1, 5) g;
    RETURN s;
END
$$;
GRANT EXECUTE ON FUNCTION gap_state() TO PUBLIC;
ALTER TABLE gap_child OWNER TO ag_bot;
SET ROLE ag_bot;

-- 1. a join condition between two other tables does not bound the target
-- (the plan joins gap_t to gap_q without a condition, then to gap_o)
EXPLAIN (COSTS OFF) DELETE FROM gap_t USING gap_o o, gap_q q WHERE o.id = q.id;
DELETE FROM gap_t USING gap_o o, gap_q q WHERE o.id = q.id;
SELECT gap_state();
-- 2. MERGE: a WHEN condition on the source only does not bound the action
MERGE INTO gap_t t USING gap_o s ON true WHEN MATCHED AND s.x = 1 THEN DELETE;
SELECT gap_state();
-- 3. MERGE with NOT MATCHED: ON condition on the source only (it stays a
-- join filter of the outer join)
MERGE INTO gap_t t USING gap_o s ON s.x = 1
    WHEN MATCHED THEN DELETE
    WHEN NOT MATCHED THEN INSERT VALUES (s.id + 100, 0);
SELECT gap_state();
-- the bounded forms still pass
MERGE INTO gap_t t USING gap_o s ON true WHEN MATCHED AND t.id = s.id THEN DELETE;
SELECT gap_state();
MERGE INTO gap_t t USING gap_o s ON t.id = s.id + 2
    WHEN MATCHED THEN DELETE
    WHEN NOT MATCHED THEN INSERT VALUES (s.id + 100, 0);
SELECT gap_state();
DELETE FROM gap_t USING gap_o o, gap_q q WHERE o.id = q.id AND gap_t.id = q.id;
SELECT gap_state();
-- 4. a view with an INSTEAD OF trigger: a WHERE on the view bounds it
DELETE FROM gap_tv WHERE id = 1;
SELECT gap_state();
DELETE FROM gap_tv;
SELECT gap_state();
-- 5. a parent created in this transaction, with a committed child: the
-- child's rows are committed data
-- (without the guard the transaction commits with gap_child emptied)
BEGIN;
CREATE TABLE gap_parent (id int, v int);
ALTER TABLE gap_child INHERIT gap_parent;
DELETE FROM gap_parent;
ALTER TABLE gap_child NO INHERIT gap_parent;
DROP TABLE gap_parent;
COMMIT;
SELECT gap_state();
BEGIN;
CREATE TABLE gap_root (id int, v int) PARTITION BY RANGE (id);
ALTER TABLE gap_root ATTACH PARTITION gap_child FOR VALUES FROM (0) TO (100);
UPDATE gap_root SET v = 0;
ALTER TABLE gap_root DETACH PARTITION gap_child;
DROP TABLE gap_root;
COMMIT;
SELECT gap_state();
-- still exempt: a new parent whose children are new too
BEGIN;
CREATE TABLE gap_root (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE gap_root1 PARTITION OF gap_root FOR VALUES FROM (0) TO (100);
INSERT INTO gap_root VALUES (1, 1);
DELETE FROM gap_root;
ROLLBACK;
RESET ROLE;
SELECT gap_state();

DROP VIEW gap_tv;
DROP FUNCTION gap_tv_del(), gap_state();
DROP TABLE gap_t, gap_o, gap_q, gap_child;
