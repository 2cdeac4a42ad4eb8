/*-------------------------------------------------------------------------
 *
 * alters.c
 *	  Statements that lose or hide committed data without a DROP, a
 *	  TRUNCATE or a rewrite, decided before they run from the parse tree:
 *
 *	  - ALTER TABLE/SEQUENCE ... SET UNLOGGED of a committed relation: a
 *		crash (an OOM kill, a power loss) empties the table or resets the
 *		sequence, and its rows never reach a standby or a base backup.
 *		Class truncate, with the rows the table holds.
 *	  - REFRESH MATERIALIZED VIEW ... WITH NO DATA of a populated committed
 *		view: its rows are gone, and a snapshot (of now(), of rows deleted
 *		since) may not be computable again.  Class truncate.  A refresh
 *		that recomputes the view changes no committed table: allowed.
 *	  - Renames that swap: a column, enum label, relation or schema renamed
 *		to a name another one of the same table, type, schema or database
 *		gave up earlier in the same transaction (debit and credit trade
 *		places).  Every committed row reads differently: class update.
 *		Plain renames pass.
 *	  - ALTER DATABASE ... RENAME moves a database away from the name its
 *		applications connect to: class drop.  CONNECTION LIMIT (other than
 *		-1), ALLOW_CONNECTIONS false and IS_TEMPLATE change what every
 *		other session may do with the database: class guard, like ALTER
 *		DATABASE ... SET.
 *
 * Called from the utility hook (utility.c) for agent sessions only.  The
 * relation a decision is about is looked up with the lock and the
 * permission check its statement uses itself, so that it cannot vanish
 * or change between the decision and the statement.
 *
 * State: the names renames gave up in the current transaction (for
 * swaps), in TopTransactionContext, forgotten by a reset callback of that
 * context when the transaction ends.  A savepoint rolled back does not
 * forget them: when unsure, guard.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_namespace.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* ---------- SET UNLOGGED, REFRESH ... WITH NO DATA ---------- */

/* A committed relation is about to lose its rows (at once, or at a crash). */
static void
ag_decide_emptying(const char *command, Oid relid, const char *reason,
				   const char *hint)
{
	AgStatement st = {0};
	ObjectAddress addr;
	AgDropped  *d;

	ObjectAddressSet(addr, RelationRelationId, relid);
	d = ag_dropped_new(&addr);
	d->est_rows = ag_relation_row_estimate(relid);
	d->has_rows = d->est_rows >= 0;
	st.cls = AG_CLASS_TRUNCATE;
	st.command = command;
	st.target = d->identity;
	st.objects = list_make1(d->description);
	st.object_key = ag_object_key(list_make1(d));
	st.objects_label = ag_objects_label("empty", d->type, list_make1(d), 1,
										&st.estimated_rows);
	st.reason = reason;
	st.hint = hint;
	ag_decide(&st);
}

static void
ag_check_set_unlogged(AlterTableStmt *stmt, const char *command)
{
	ListCell   *lc;
	bool		unlogged = false;
	Oid			relid;
	HeapTuple	tup;
	Form_pg_class rel;
	bool		guarded;

	foreach(lc, stmt->cmds)
		unlogged |= ((AlterTableCmd *) lfirst(lc))->subtype == AT_SetUnLogged;
	if (!unlogged)
		return;
	/* as ALTER TABLE looks it up: permission first, then its lock */
	relid = AlterTableLookupRelation(stmt, AlterTableGetLockLevel(stmt->cmds));
	if (!OidIsValid(relid) || ag_relation_is_exempt(relid))
		return;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return;
	rel = (Form_pg_class) GETSTRUCT(tup);
	/* a partitioned table holds no rows; an unlogged one has nothing to lose */
	guarded = rel->relpersistence == RELPERSISTENCE_PERMANENT &&
		(rel->relkind == RELKIND_RELATION || rel->relkind == RELKIND_SEQUENCE);
	ReleaseSysCache(tup);
	if (guarded)
		ag_decide_emptying(command, relid,
						   "An unlogged table is emptied by the next crash (an unlogged sequence is reset to its start), and its rows no longer reach standbys or base backups: agents may not make a committed table or sequence unlogged.",
						   "Ask a database administrator to run the statement. Tables created in the same transaction, and temporary tables, can be made unlogged.");
}

static void
ag_check_refresh_no_data(RefreshMatViewStmt *stmt, const char *command)
{
	Oid			relid;
	HeapTuple	tup;
	bool		populated;

	if (!stmt->skipData)
		return;
	/* as REFRESH looks it up: permission first, then its lock */
	relid = RangeVarGetRelidExtended(stmt->relation, AccessExclusiveLock, 0,
									 AG_RANGEVAR_CALLBACK_MAINTAINS, NULL);
	if (ag_relation_is_exempt(relid))
		return;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return;
	populated = ((Form_pg_class) GETSTRUCT(tup))->relispopulated &&
		((Form_pg_class) GETSTRUCT(tup))->relkind == RELKIND_MATVIEW;
	ReleaseSysCache(tup);
	if (populated)
		ag_decide_emptying(command, relid,
						   "REFRESH ... WITH NO DATA removes every committed row of the materialized view, which may not be computable again (a snapshot taken with now(), rows deleted since from its tables).",
						   "Refresh it without WITH NO DATA (the view is computed again from its tables), or ask a database administrator to run the statement.");
}

/* ---------- renames that swap ---------- */

/* A name a rename gave up in this transaction. */
typedef struct AgFreedName
{
	char		kind;			/* 'c' column, 'e' enum label, 'r' relation, 'n' schema */
	Oid			container;		/* the table, enum type, schema; 0 for schemas */
	Oid			object;			/* the column (attnum), label, relation, schema */
	char	   *name;
} AgFreedName;

static List *ag_freed_names = NIL;
static MemoryContextCallback ag_freed_names_reset;

static void
ag_forget_freed_names(void *arg)
{
	ag_freed_names = NIL;
}

/*
 * Note that object gave up name in container; true when newname was given
 * up by another object of the same container earlier in this transaction.
 */
static bool
ag_rename_swaps(char kind, Oid container, Oid object, const char *oldname,
				const char *newname, char **swapped_with)
{
	ListCell   *lc;
	MemoryContext old;
	AgFreedName *f;
	bool		swaps = false;

	foreach(lc, ag_freed_names)
	{
		f = lfirst(lc);
		if (f->kind == kind && f->container == container &&
			f->object != object && strcmp(f->name, newname) == 0)
		{
			swaps = true;
			break;
		}
	}
	if (ag_freed_names == NIL)
	{
		ag_freed_names_reset.func = ag_forget_freed_names;
		MemoryContextRegisterResetCallback(TopTransactionContext,
										   &ag_freed_names_reset);
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	f = palloc(sizeof(AgFreedName));
	f->kind = kind;
	f->container = container;
	f->object = object;
	f->name = pstrdup(oldname);
	ag_freed_names = lappend(ag_freed_names, f);
	MemoryContextSwitchTo(old);
	if (swaps)
		*swapped_with = psprintf("\"%s\"", newname);
	return swaps;
}

static void
ag_decide_swap(const char *command, const ObjectAddress *addr,
			   const char *label, const char *newname, Oid rows_of)
{
	AgStatement st = {0};
	AgDropped  *d = ag_dropped_new(addr);

	/* an enum label has no address of its own: "public.state value 'paid'" */
	if (label != NULL)
	{
		d->identity = psprintf("%s value %s", d->identity, quote_literal_cstr(label));
		d->description = psprintf("%s value %s", d->description, quote_literal_cstr(label));
	}

	d->est_rows = OidIsValid(rows_of) ? ag_relation_row_estimate(rows_of) : -1;
	d->has_rows = d->est_rows >= 0;
	st.cls = AG_CLASS_UPDATE;
	st.command = command;
	st.target = psprintf("%s to \"%s\"", d->identity, newname);
	st.objects = list_make1(psprintf("%s, renamed to \"%s\", a name another one gave up in this transaction",
									 d->description, newname));
	st.object_key = ag_object_key(list_make1(d));
	st.objects_label = ag_objects_label("relabel", "object", list_make1(d), 1,
										&st.estimated_rows);
	st.reason = "Renaming an object to a name another one gave up earlier in the same transaction swaps what committed rows mean (debit reads as credit), as an UPDATE of every row without a WHERE clause would.";
	st.hint = "Rename to a name no other object gave up in this transaction, or ask a database administrator to run the statement.";
	ag_decide(&st);
}

static void
ag_check_rename(RenameStmt *stmt, const char *command)
{
	ObjectAddress addr;
	char	   *with;
	Oid			relid;

	switch (stmt->renameType)
	{
		case OBJECT_COLUMN:
		case OBJECT_ATTRIBUTE:
			{
				AttrNumber	attnum;

				relid = RangeVarGetRelid(stmt->relation, NoLock, true);
				if (!OidIsValid(relid) || ag_relation_is_exempt(relid))
					return;
				attnum = get_attnum(relid, stmt->subname);
				if (attnum == InvalidAttrNumber)
					return;
				if (!ag_rename_swaps('c', relid, (Oid) attnum, stmt->subname,
									 stmt->newname, &with))
					return;
				ObjectAddressSubSet(addr, RelationRelationId, relid, attnum);
				ag_decide_swap(command, &addr, NULL, stmt->newname, relid);
				return;
			}
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_SEQUENCE:
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			if (!OidIsValid(relid) || ag_relation_is_exempt(relid))
				return;
			if (!ag_rename_swaps('r', get_rel_namespace(relid), relid,
								 stmt->relation->relname, stmt->newname, &with))
				return;
			ObjectAddressSet(addr, RelationRelationId, relid);
			ag_decide_swap(command, &addr, NULL, stmt->newname, relid);
			return;
		case OBJECT_SCHEMA:
			{
				Oid			nsp = get_namespace_oid(stmt->subname, true);

				if (!OidIsValid(nsp))
					return;
				ObjectAddressSet(addr, NamespaceRelationId, nsp);
				if (ag_object_is_exempt(&addr) ||
					!ag_rename_swaps('n', InvalidOid, nsp, stmt->subname,
									 stmt->newname, &with))
					return;
				ag_decide_swap(command, &addr, NULL, stmt->newname, InvalidOid);
				return;
			}
		default:
			return;
	}
}

static void
ag_check_enum_rename(AlterEnumStmt *stmt, const char *command)
{
	Oid			typid;
	HeapTuple	tup;
	Oid			label;
	ObjectAddress addr;
	char	   *with;

	if (stmt->oldVal == NULL)
		return;					/* ADD VALUE */
	typid = typenameTypeId(NULL, makeTypeNameFromNameList(stmt->typeName));
	ObjectAddressSet(addr, TypeRelationId, typid);
	if (ag_object_is_exempt(&addr))
		return;
	tup = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(typid),
						  CStringGetDatum(stmt->oldVal));
	if (!HeapTupleIsValid(tup))
		return;
	label = ((Form_pg_enum) GETSTRUCT(tup))->oid;
	ReleaseSysCache(tup);
	if (!ag_rename_swaps('e', typid, label, stmt->oldVal, stmt->newVal, &with))
		return;
	ag_decide_swap(command, &addr, stmt->oldVal, stmt->newVal, InvalidOid);
}

/* ---------- ALTER DATABASE ---------- */

static void
ag_check_alter_database(AlterDatabaseStmt *stmt, const char *command)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst(lc);

		if ((strcmp(opt->defname, "connection_limit") == 0 && defGetInt32(opt) != -1) ||
			(strcmp(opt->defname, "allow_connections") == 0 && !defGetBoolean(opt)) ||
			strcmp(opt->defname, "is_template") == 0)
			ag_tamper(command, quote_identifier(stmt->dbname),
					  "Connection limits, ALLOW_CONNECTIONS and IS_TEMPLATE decide what every other session, humans' and applications' included, may do with the database (a limit of 0 locks every application out), and cannot be changed by an agent session.");
	}
}

static void
ag_check_database_rename(RenameStmt *stmt, const char *command)
{
	AgStatement st = {0};
	AgDropped  *d;
	Oid			dbid = get_database_oid(stmt->subname, true);

	if (!OidIsValid(dbid))
		return;					/* its own error */
	d = palloc0(sizeof(AgDropped));
	ObjectAddressSet(d->addr, DatabaseRelationId, dbid);
	d->identity = pstrdup(quote_identifier(stmt->subname));
	d->description = psprintf("database %s", d->identity);
	d->est_rows = -1;
	st.cls = AG_CLASS_DROP;
	st.command = command;
	st.target = psprintf("%s to %s", d->identity, quote_identifier(stmt->newname));
	st.objects = list_make1(d->description);
	st.object_key = ag_object_key(list_make1(d));
	st.estimated_rows = -1;
	st.reason = "Renaming a database removes it from the name its applications connect to: they fail, or reach a database created under the old name.";
	st.hint = "Ask a database administrator to run the statement.";
	ag_decide(&st);
}

/* ---------- dispatch ---------- */

/* Decide, before it runs, an agent's statement of the kinds above. */
void
ag_check_alter(Node *parsetree, const char *command)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			ag_check_set_unlogged((AlterTableStmt *) parsetree, command);
			break;
		case T_RefreshMatViewStmt:
			ag_check_refresh_no_data((RefreshMatViewStmt *) parsetree, command);
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				ag_check_database_rename((RenameStmt *) parsetree, command);
			else
				ag_check_rename((RenameStmt *) parsetree, command);
			break;
		case T_AlterEnumStmt:
			ag_check_enum_rename((AlterEnumStmt *) parsetree, command);
			break;
		case T_AlterDatabaseStmt:
			ag_check_alter_database((AlterDatabaseStmt *) parsetree, command);
			break;
		default:
			break;
	}
}
