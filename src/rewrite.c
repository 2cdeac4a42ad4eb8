/*-------------------------------------------------------------------------
 *
 * rewrite.c
 *	  Column type changes that rewrite a committed table (class update).
 *
 * ALTER TABLE ... ALTER COLUMN ... TYPE that makes PostgreSQL rewrite a
 * committed table has computed a new value for every row: a USING
 * expression, or a cast that is more than a relabeling (numeric to
 * integer rounds, timestamptz to date drops the time).  That is an UPDATE
 * of the column without a WHERE clause in another form.  Whether the table
 * is rewritten is PostgreSQL's own decision (ATColumnChangeRequiresRewrite),
 * seen when the statement returns: the table's storage (relfilenode) was
 * replaced.  So the utility hook (utility.c) asks ag_watch_rewrites() to
 * note the storage of every table the statement may change before it runs,
 * and ag_check_rewrites() to compare when it returns, still inside the
 * agent's transaction.  The tables are looked up and locked as ALTER TABLE
 * itself does it (permission check, then its lock), so that no other
 * session changes them between the note and the statement.
 *
 * State: the watched tables (AgRewrite) in the frame's list, allocated in
 * the frame's memory context; an abort discards them with the frame.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/tablecmds.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* A table that ALTER COLUMN ... TYPE may rewrite, and its storage before. */
typedef struct AgRewrite
{
	Oid			relid;
	Oid			relfilenode;
	int64		est_rows;		/* before the statement: a rewrite loses the statistics */
} AgRewrite;

static void
ag_decide_rewrite(const char *command, List *rewritten)
{
	AgStatement st = {0};
	ListCell   *lc;

	foreach(lc, rewritten)
		st.objects = lappend(st.objects, ((AgDropped *) lfirst(lc))->description);
	st.cls = AG_CLASS_UPDATE;
	st.command = command;
	st.target = psprintf("%s rewriting every row",
						 ag_target_text(((AgDropped *) linitial(rewritten))->identity,
										list_length(rewritten), "table"));
	st.object_key = ag_object_key(rewritten);
	st.objects_label = ag_objects_label("rewrite", "table", rewritten,
										list_length(rewritten),
										&st.estimated_rows);
	st.reason = "Changing the type of a column computed a new value for every row, as an UPDATE without a WHERE clause would: agents may only change rows chosen by a condition on the table's columns.";
	st.hint = "Ask a database administrator to run the statement. Type changes that keep every value as it is (varchar(n) to text or to a longer varchar) run without a rewrite and are allowed, as are changes to temporary tables and tables created in the same transaction.";
	ag_decide(&st);
}

/* The typed tables of a composite type (CREATE TABLE ... OF type). */
static List *
ag_typed_tables(Oid typeoid)
{
	Relation	pg_class_rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	/* no index on reloftype: a scan, for an agent's rare ALTER TYPE */
	ScanKeyInit(&key, Anum_pg_class_reloftype, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typeoid));
	scan = systable_beginscan(pg_class_rel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		result = lappend_oid(result, ((Form_pg_class) GETSTRUCT(tup))->oid);
	systable_endscan(scan);
	table_close(pg_class_rel, AccessShareLock);
	return result;
}

/*
 * ALTER TABLE ... ALTER COLUMN ... TYPE computes a new value for every row
 * when PostgreSQL rewrites the table for it: a USING expression, or a cast
 * that is more than a relabeling (numeric to integer rounds, timestamptz to
 * date drops the time).  That is an UPDATE of the column without a WHERE
 * clause in another form: class update.  Whether the table is rewritten is
 * PostgreSQL's own decision (ATColumnChangeRequiresRewrite), seen when the
 * statement returns: the table's storage (relfilenode) was replaced.  So
 * the storage of every table the statement may change (its inheritance
 * children and partitions too, unless ONLY; for ALTER TYPE ... ALTER
 * ATTRIBUTE ... CASCADE, the typed tables of the type) is noted before it
 * runs.
 * Anything else that replaces the storage in the same statement (SET
 * TABLESPACE next to the type change) is taken for a rewrite too.
 */
void
ag_watch_rewrites(AgFrame *frame, AlterTableStmt *stmt)
{
	ListCell   *lc;
	bool		alters_type = false;
	Oid			relid;
	List	   *roots = NIL;
	List	   *rels = NIL;
	LOCKMODE	lockmode;

	/* ALTER FOREIGN TABLE recurses to a foreign table's local children */
	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_TYPE &&
		stmt->objtype != OBJECT_FOREIGN_TABLE)
		return;
	foreach(lc, stmt->cmds)
		alters_type |= ((AlterTableCmd *) lfirst(lc))->subtype == AT_AlterColumnType;
	if (!alters_type)
		return;
	/*
	 * Under the lock ALTER TABLE takes next (after its permission check, as
	 * it does): a table another session drops, truncates or rewrites must
	 * not be measured half-way, nor its new storage taken for a rewrite by
	 * this statement.  A table dropped meanwhile is simply not there.
	 */
	lockmode = AlterTableGetLockLevel(stmt->cmds);
	relid = AlterTableLookupRelation(stmt, lockmode);
	if (!OidIsValid(relid))
		return;
	/* ALTER TYPE ... ALTER ATTRIBUTE ... CASCADE rewrites the typed tables */
	if (stmt->objtype == OBJECT_TYPE)
	{
		foreach(lc, ag_typed_tables(get_rel_type_id(relid)))
		{
			LockRelationOid(lfirst_oid(lc), lockmode);
			if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(lfirst_oid(lc))))
				roots = lappend_oid(roots, lfirst_oid(lc));
		}
	}
	else
		roots = list_make1_oid(relid);
	/*
	 * ALTER TYPE's RangeVar has inh = false, but PostgreSQL recurses from
	 * each typed table to its partitions and children all the same.
	 */
	foreach(lc, roots)
		rels = list_concat(rels, (stmt->relation->inh || stmt->objtype == OBJECT_TYPE) ?
						   find_all_inheritors(lfirst_oid(lc), lockmode, NULL) :
						   list_make1_oid(lfirst_oid(lc)));
	foreach(lc, rels)
	{
		Relation	rel = RelationIdGetRelation(lfirst_oid(lc));

		if (rel == NULL)
			continue;
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind) &&
			!ag_open_relation_is_exempt(rel))
		{
			AgRewrite  *r = MemoryContextAlloc(frame->cxt, sizeof(AgRewrite));
			MemoryContext old = MemoryContextSwitchTo(frame->cxt);

			r->relid = RelationGetRelid(rel);
			r->relfilenode = rel->rd_rel->relfilenode;
			r->est_rows = ag_relation_row_estimate(r->relid);
			frame->rewrites = lappend(frame->rewrites, r);
			MemoryContextSwitchTo(old);
		}
		RelationClose(rel);
	}
}

/* Which of the watched tables did the statement rewrite?  Decide them. */
void
ag_check_rewrites(const char *command, List *rewrites)
{
	List	   *rewritten = NIL;
	ListCell   *lc;

	/* make the statement's last catalog changes visible */
	CommandCounterIncrement();
	foreach(lc, rewrites)
	{
		AgRewrite  *r = lfirst(lc);
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(r->relid));
		ObjectAddress addr;
		AgDropped  *d;

		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_class) GETSTRUCT(tup))->relfilenode != r->relfilenode)
		{
			ObjectAddressSet(addr, RelationRelationId, r->relid);
			d = ag_dropped_new(&addr);
			d->has_rows = r->est_rows >= 0;
			d->est_rows = r->est_rows;
			rewritten = lappend(rewritten, d);
		}
		ReleaseSysCache(tup);
	}
	if (rewritten != NIL)
		ag_decide_rewrite(command, rewritten);
}
