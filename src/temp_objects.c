/*-------------------------------------------------------------------------
 *
 * temp_objects.c
 *	  Persistent objects that depend on temporary ones (class drop).
 *
 * PostgreSQL drops a session's temporary schema with CASCADE, as internal
 * work, when the session ends or runs DISCARD TEMP (or DISCARD ALL): every
 * persistent object that depends on a temporary one goes with it, without
 * any DROP.  A committed table made a typed table of a temporary type
 * (ALTER TABLE ... OF pg_temp.t) is dropped whole; a column given a
 * temporary domain or collation is dropped; so are defaults, constraints,
 * indexes, triggers, policies, rules, views and functions using temporary
 * functions, sequences or types.  Two guards:
 *
 * 1. When an agent's utility statement returns, every object it created or
 *	  changed (the object access hook's OAT_POST_CREATE and OAT_POST_ALTER,
 *	  collected in the frame by utility.c) that is not itself temporary is
 *	  looked up in pg_depend: if it depends on a temporary object, the
 *	  statement is decided as the drop of that object (class drop), since
 *	  committing it guarantees the loss.  This reads pg_depend through its
 *	  index, per created or changed object of agent DDL only.
 *
 * 2. The cleanup itself.  RemoveTempRelations() is the only deletion that
 *	  passes PERFORM_DELETION_SKIP_ORIGINAL, so its OAT_DROP calls are known.
 *	  Objects it reaches that are neither temporary nor created by this
 *	  transaction are handed to drops.c like any drop: inside DISCARD TEMP,
 *	  or a statement whose temporary schema held a crashed session's
 *	  leftovers, they are decided with the statement (a reject or park
 *	  stops it).  When the session ends the cleanup cannot be stopped (an
 *	  error there would only leave the objects for the next session that
 *	  reuses the schema, human or not, to drop silently): each such object
 *	  is logged and audited, whatever the action.
 *
 * State: in the frame (utility.c): the list of created or changed objects
 * and whether a temporary-schema cleanup ran in it; nothing else.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_rewrite.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* Is the object temporary: in a temporary schema, or part of a temporary relation? */
static bool
ag_object_is_temporary(const ObjectAddress *addr)
{
	Oid			relid = ag_object_relation(addr);
	Oid			nsp;

	if (OidIsValid(relid))
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		bool		temp;

		if (!HeapTupleIsValid(tup))
			return false;
		temp = ((Form_pg_class) GETSTRUCT(tup))->relpersistence == RELPERSISTENCE_TEMP;
		ReleaseSysCache(tup);
		return temp;
	}
	if (!is_objectclass_supported(addr->classId))
		return false;
	nsp = get_object_namespace(addr);
	return OidIsValid(nsp) && isAnyTempNamespace(nsp);
}

/*
 * "type pg_temp.orow": the name of a temporary object with the session's
 * temporary schema (pg_temp_3) written as pg_temp, which it is to its
 * session, and which does not change from one session to the next.
 */
static char *
ag_temp_object_description(const ObjectAddress *addr)
{
	char	   *desc = ag_object_description(addr);
	Oid			nsp = ag_object_schema(addr);
	char	   *nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;
	char	   *prefix;
	char	   *at;

	if (nspname == NULL)
		return desc;
	prefix = psprintf("%s.", quote_identifier(nspname));
	at = strstr(desc, prefix);
	if (at == NULL)
		return desc;
	return psprintf("%.*spg_temp.%s", (int) (at - desc), desc, at + strlen(prefix));
}

/*
 * Does an object a statement created or changed still exist, and is it
 * not temporary?  From the syscache where it can tell (the agent's own
 * temporary tables and types are the common case), the long way otherwise.
 */
static bool
ag_changed_is_persistent(const ObjectAddress *addr)
{
	bool		known;
	Oid			nsp;

	if (addr->classId == RelationRelationId)
	{
		/* the relcache has every relation this transaction created */
		Relation	rel = RelationIdGetRelation(addr->objectId);
		bool		persistent;

		if (rel == NULL)
			return false;		/* gone again (a transient table) */
		persistent = rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP;
		RelationClose(rel);
		return persistent;
	}
	nsp = ag_new_object_schema(addr, &known);
	if (known && OidIsValid(nsp))
		return !isAnyTempNamespace(nsp);
	return ag_object_exists(addr) && !ag_object_is_temporary(addr);
}

/* Remember an object an agent's statement created or changed. */
void
ag_note_changed(const ObjectAddress *addr)
{
	MemoryContext old;
	ObjectAddress *copy;

	if (ag_frame == NULL)
		return;
	old = MemoryContextSwitchTo(ag_frame->cxt);
	copy = palloc(sizeof(ObjectAddress));
	*copy = *addr;
	ag_frame->changed = lappend(ag_frame->changed, copy);
	MemoryContextSwitchTo(old);
}

/* The first temporary object the object depends on, if any. */
static bool
ag_depends_on_temporary(const ObjectAddress *addr, ObjectAddress *temp)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(addr->classId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(addr->objectId));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		ObjectAddressSubSet(*temp, dep->refclassid, dep->refobjid, dep->refobjsubid);
		found = ag_object_is_temporary(temp);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return found;
}

/*
 * Did the statement make a persistent object depend on a temporary one?
 * Then it is decided as that object's drop: it will be dropped, with
 * whatever depends on it, when the session ends.
 */
void
ag_check_temp_dependencies(const char *command, List *changed)
{
	List	   *doomed = NIL;
	List	   *seen = NIL;
	List	   *rowtypes = NIL;
	ListCell   *lc;
	AgStatement st = {0};
	const char *target = NULL;

	/* make the statement's last catalog changes visible */
	CommandCounterIncrement();
	/* a relation's row type depends on the relation alone: skip it */
	foreach(lc, changed)
	{
		ObjectAddress *addr = lfirst(lc);
		Relation	rel;

		if (addr->classId != RelationRelationId || addr->objectSubId != 0 ||
			(rel = RelationIdGetRelation(addr->objectId)) == NULL)
			continue;
		rowtypes = lappend_oid(rowtypes, rel->rd_rel->reltype);
		RelationClose(rel);
	}
	foreach(lc, changed)
	{
		ObjectAddress *addr = lfirst(lc);
		ObjectAddress temp;
		AgDropped  *d;
		char	   *key;

		/* a default is announced by its relation and column, not its OID */
		if (addr->classId == AttrDefaultRelationId && addr->objectSubId != 0)
			ObjectAddressSet(*addr, AttrDefaultRelationId,
							 GetAttrDefaultOid(addr->objectId, addr->objectSubId));
		key = psprintf("%u:%u", addr->classId, addr->objectId);

		/* a table altered three times is looked up once */
		if (list_member(seen, makeString(key)) ||
			(addr->classId == TypeRelationId &&
			 list_member_oid(rowtypes, addr->objectId)))
			continue;
		seen = lappend(seen, makeString(key));
		if (!ag_changed_is_persistent(addr) ||
			!ag_depends_on_temporary(addr, &temp))
			continue;
		ObjectAddressSet(temp, temp.classId, temp.objectId);
		/* a view or materialized view, not its "_RETURN" rule */
		if (addr->classId == RewriteRelationId)
		{
			Oid			relid = ag_object_relation(addr);
			char		relkind = get_rel_relkind(relid);

			if (relkind == RELKIND_VIEW || relkind == RELKIND_MATVIEW)
				ObjectAddressSet(*addr, RelationRelationId, relid);
		}
		d = ag_dropped_new(addr);
		/* "ALTER TABLE public.t", but "default value for public.t.a" */
		if (!target)
			target = addr->classId == AttrDefaultRelationId ?
				d->description : d->identity;
		d->description = psprintf("%s (depends on %s)", d->description,
								  ag_temp_object_description(&temp));
		doomed = lappend(doomed, d);
		st.objects = lappend(st.objects, d->description);
	}
	if (doomed == NIL)
		return;
	st.cls = AG_CLASS_DROP;
	st.command = command;
	st.target = ag_target_text(target, list_length(doomed), "object");
	st.object_key = ag_object_key(doomed);
	st.objects_label = psprintf("It would make %d persistent object%s depend on temporary ones",
								list_length(doomed), list_length(doomed) == 1 ? "" : "s");
	st.estimated_rows = -1;
	st.reason = "A persistent object that depends on a temporary one is dropped with it, without any DROP statement, when the session ends or runs DISCARD TEMP: agents may not make one.";
	st.hint = "Use a type, domain, collation, function or sequence that is not temporary, or make the dependent object temporary too.";
	ag_decide(&st);
}

/*
 * An object the cleanup of a temporary schema drops (the OAT_DROP calls of
 * RemoveTempRelations(), told by PERFORM_DELETION_SKIP_ORIGINAL).
 */
void
ag_on_temp_cleanup_drop(const ObjectAddress *addr)
{
	static AgFrame session_end;

	if (ag_object_is_exempt(addr))
		return;

	/*
	 * The session ends (no statement runs): the objects are collected in a
	 * frame of their own, decided at the pre-commit of the cleanup's
	 * transaction, which is the process's last.
	 */
	if (ag_frame == NULL && proc_exit_inprogress)
	{
		session_end.cxt = TopMemoryContext;
		session_end.command = "session end";
		ag_frame = &session_end;
	}
	/* outside any statement otherwise: decided on the spot, as a drop */
	if (ag_frame != NULL)
		ag_frame->temp_cleanup = true;
	ag_on_drop(addr);
}

/*
 * Decide the persistent objects a DISCARD TEMP (or a statement that cleaned
 * a leftover temporary schema) would drop along with the temporary ones.
 */
void
ag_decide_temp_cleanup(const char *command, List *dropped)
{
	/* the session ends: ag_decide() records it, it cannot stop it */
	if (proc_exit_inprogress)
		ag_decide_drop_with(command, dropped,
							"The session ended, and PostgreSQL dropped its temporary objects and with them these persistent objects, which depended on them.",
							"Restore the objects from a backup. An agent's statement that makes a persistent object depend on a temporary one is guarded like a DROP: this dependency was made by a human, in log mode, with an approval, or before agent_guard 1.2.");
	else
		ag_decide_drop_with(command, dropped,
							"The session's temporary objects would be dropped, and with them these persistent objects, which depend on them.",
							"Make the objects stop depending on temporary ones first (ALTER TABLE ... NOT OF, ALTER COLUMN ... TYPE with a persistent type, DROP DEFAULT), or ask a database administrator to run the statement.");
}
