/*-------------------------------------------------------------------------
 *
 * drops.c
 *	  Classes drop and truncate: what a DROP (in any form) or a TRUNCATE
 *	  removes, named, counted and decided as one statement.
 *
 * How a drop is decided.  Parsing the many DROP forms (and DROP OWNED,
 * ALTER TABLE ... DROP COLUMN, CASCADE, lo_unlink(), DROP inside a DO
 * block or a function) would always miss one.  Instead the object access
 * hook (utility.c) sees OAT_DROP for every object PostgreSQL actually
 * removes, cascaded ones included, and OAT_TRUNCATE for every table a
 * TRUNCATE empties (partitions and CASCADE included), and hands each to
 * ag_on_drop() or ag_on_truncate() here.  Each object that is not exempt
 * (temporary, or created in this transaction) is collected into the frame
 * of the innermost utility statement being run (utility.c).  When that
 * statement returns - still inside the agent's transaction, nothing
 * committed - the frame is decided as one statement with its full object
 * list: reject or park raises an ERROR and the transaction's abort undoes
 * the drop; log, or a permit a human approved for exactly this statement
 * and these objects, lets it stand.  Deletions PostgreSQL does internally
 * (PERFORM_DELETION_INTERNAL: table rewrites, REINDEX CONCURRENTLY) are
 * not guarded, except the cleanup of a temporary schema, whose persistent
 * victims temp_objects.c hands here.  An OAT_DROP outside any utility statement
 * (lo_unlink() in a SELECT, or directly inside DO or CALL) is decided on
 * the spot, in the (sub)transaction that made it.
 *
 * Rows lost (1.1).  Each dropped or truncated table or materialized view
 * (partitions included; partitioned parents, views, indexes and sequences
 * hold no rows of their own), and each dropped column, carries an
 * estimate of the rows it holds (objects.c).  The DETAIL says "It would
 * remove 4 objects and about 1200 rows: ..."; the request and the audit
 * row carry the sum.  Global objects decided before they run have no
 * estimate.
 *
 * The few drops that cannot be rolled back are decided before they run
 * (ag_predecide_drop): DROP DATABASE, DROP TABLESPACE, DROP SUBSCRIPTION
 * (it drops a remote replication slot) and DROP INDEX CONCURRENTLY (it
 * commits internally).
 *
 * State: none of its own.  Collected objects live in the frame's memory
 * context (utility.c), which outlives the statement; an abort discards
 * them with the frame.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/subscriptioncmds.h"
#include "commands/tablespace.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"

/* Set the rows a dropped or truncated relation or column loses. */
static void
ag_dropped_set_rows(AgDropped *d)
{
	int64		rows;

	if (d->addr.classId != RelationRelationId)
		return;
	rows = ag_relation_row_estimate(d->addr.objectId);
	if (rows >= 0)
	{
		d->has_rows = true;
		d->est_rows = rows;
	}
}

/* "It would remove 3 objects and about 1200 rows" */
char *
ag_objects_label(const char *verb, const char *noun, List *dropped, int nlisted,
				 int64 *est_rows)
{
	ListCell   *lc;
	bool		has_rows = false;
	bool		unknown = false;
	int64		rows = 0;

	foreach(lc, dropped)
	{
		AgDropped  *d = lfirst(lc);

		if (d->est_rows < 0)
			unknown = true;
		if (d->hidden || !d->has_rows)
			continue;
		has_rows = true;
		rows += d->est_rows;
	}
	*est_rows = unknown ? -1 : rows;
	if (!has_rows || unknown)
		return psprintf("It would %s %d %s%s", verb, nlisted, noun,
						nlisted == 1 ? "" : "s");
	/* "remove 3 objects and about 1200 rows", "empty 2 tables holding ..." */
	return psprintf("It would %s %d %s%s %s about " INT64_FORMAT " row%s",
					verb, nlisted, noun, nlisted == 1 ? "" : "s",
					strcmp(verb, "empty") == 0 ? "holding" : "and",
					rows, rows == 1 ? "" : "s");
}

AgDropped *
ag_dropped_new(const ObjectAddress *addr)
{
	AgDropped  *d = palloc0(sizeof(AgDropped));
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	d->addr = *addr;
	d->type = getObjectTypeDescription(addr, false);

	/*
	 * An object's name can mention objects the same statement has removed
	 * already: DROP EXTENSION hstore CASCADE drops the type hstore before
	 * hstore_out(hstore), whose name cannot be formatted any more.  So the
	 * name is computed in a subtransaction, and an object whose name fails
	 * is listed by its OID (only agent sessions' drops come here).  Only
	 * that failure, a lookup that finds nothing (XX000 "cache lookup
	 * failed", or an undefined object), is caught: a query cancel, a
	 * statement timeout, running out of memory and every other error go on
	 * to abort the statement.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		d->description = ag_object_description(addr);
		/* a bare OID says nothing: "large object 16390" */
		d->identity = addr->classId == LargeObjectRelationId ? d->description :
			getObjectIdentity(addr, false);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode != ERRCODE_INTERNAL_ERROR &&
			edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT)
			ReThrowError(edata);
		FreeErrorData(edata);
		d->identity = psprintf("%u", addr->objectId);
		d->description = psprintf("%s %u", d->type, addr->objectId);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return d;
}

static int
ag_cmp_strings(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/* The exact objects, sorted: what an approval is bound to. */
char *
ag_object_key(List *dropped)
{
	List	   *keys = NIL;
	ListCell   *lc;
	StringInfoData buf;

	foreach(lc, dropped)
	{
		AgDropped  *d = lfirst(lc);

		keys = lappend(keys, psprintf("%u:%u:%d", d->addr.classId,
									  d->addr.objectId, d->addr.objectSubId));
	}
	list_sort(keys, ag_cmp_strings);
	initStringInfo(&buf);
	foreach(lc, keys)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, lfirst(lc));
	}
	return buf.data;
}

/*
 * How to name an object after the command: "DROP TABLE public.t" when the
 * command says what kind it is, "ALTER TABLE table constraint c on public.t"
 * when it does not.
 */
static const char *
ag_name_for_command(const char *command, const AgDropped *d)
{
	if (d->type != NULL && pg_strncasecmp(command, "DROP ", 5) == 0)
	{
		const char *kind = command + 5;
		size_t		tl = strlen(d->type);
		size_t		kl = strlen(kind);

		/* "DROP TABLE" and "table"; "DROP TYPE" and "composite type" */
		if (pg_strcasecmp(kind, d->type) == 0 ||
			(tl > kl && d->type[tl - kl - 1] == ' ' &&
			 pg_strcasecmp(d->type + tl - kl, kind) == 0))
			return d->identity;
		/* a domain is a type */
		if (d->addr.classId == TypeRelationId && pg_strcasecmp(kind, "DOMAIN") == 0)
			return d->identity;
	}
	if (d->type != NULL && pg_strncasecmp(command, "TRUNCATE", 8) == 0 &&
		strcmp(d->type, "table") == 0)
		return d->identity;
	return d->description;
}

/* "public.bookings" or "public.bookings and 2 other objects" */
const char *
ag_target_text(const char *first, int n, const char *noun)
{
	if (n <= 1)
		return first;
	return psprintf("%s and %d other %s%s", first, n - 1, noun,
					n - 1 == 1 ? "" : "s");
}
static bool
ag_relation_dropped(List *dropped, Oid relid)
{
	ListCell   *lc;

	foreach(lc, dropped)
	{
		AgDropped  *d = lfirst(lc);

		if (d->addr.classId == RelationRelationId && d->addr.objectSubId == 0 &&
			d->addr.objectId == relid)
			return true;
	}
	return false;
}

void
ag_decide_drop(const char *command, List *dropped)
{
	ag_decide_drop_with(command, dropped,
						"Agents may not drop persistent objects: the statement would remove committed data or schema.",
						"Ask a database administrator to run the statement, or to change the tag with agent_guard.tag_role(). Objects that are temporary or were created in the same transaction can be dropped.");
}

/* The same, saying why and what to do in other words. */
void
ag_decide_drop_with(const char *command, List *dropped, const char *reason,
					const char *hint)
{
	AgStatement st = {0};
	ListCell   *lc;
	const char *last = NULL;

	foreach(lc, dropped)
	{
		AgDropped  *d = lfirst(lc);

		if (d->hidden)
			continue;
		/* parts of a relation that is dropped too go with it */
		if (OidIsValid(d->parent_rel) && d->parent_rel != d->addr.objectId &&
			ag_relation_dropped(dropped, d->parent_rel))
			continue;
		st.objects = lappend(st.objects, d->description);
		last = ag_name_for_command(command, d);
	}
	if (st.objects == NIL)
	{
		/* only implicit parts: name the first one rather than nothing */
		AgDropped  *d = linitial(dropped);

		st.objects = list_make1(d->description);
		last = ag_name_for_command(command, d);
	}

	st.cls = AG_CLASS_DROP;
	st.command = command;
	/* dependents are deleted first: the named object comes last */
	st.target = ag_target_text(last, list_length(st.objects), "object");
	st.object_key = ag_object_key(dropped);
	st.objects_label = ag_objects_label("remove", "object", dropped,
										list_length(st.objects),
										&st.estimated_rows);
	st.reason = reason;
	st.hint = hint;
	ag_decide(&st);
}
void
ag_decide_truncate(const char *command, List *truncated)
{
	AgStatement st = {0};
	ListCell   *lc;

	foreach(lc, truncated)
		st.objects = lappend(st.objects, ((AgDropped *) lfirst(lc))->description);
	st.cls = AG_CLASS_TRUNCATE;
	st.command = command;
	/* the named tables come first, then partitions and CASCADE */
	st.target = ag_target_text(ag_name_for_command(command, linitial(truncated)),
							   list_length(truncated), "table");
	st.object_key = ag_object_key(truncated);
	st.objects_label = ag_objects_label("empty", "table", truncated,
										list_length(truncated),
										&st.estimated_rows);
	st.reason = "Agents may not truncate tables: TRUNCATE removes every committed row.";
	st.hint = "Delete the rows you mean with DELETE ... WHERE, or ask a database administrator to run the statement.";
	ag_decide(&st);
}
void
ag_on_drop(const ObjectAddress *addr)
{
	AgDropped  *d;
	MemoryContext old;

	if (ag_object_is_guard(addr))
		ag_tamper(ag_frame ? ag_frame->command : "DROP",
				  ag_object_description(addr),
				  "The extension agent_guard, its schema and the objects in it cannot be dropped by an agent session.");
	if (ag_object_is_exempt(addr))
		return;
	if (addr->classId == AuthIdRelationId && ag_role_is_agent(addr->objectId))
		ag_tamper(ag_frame ? ag_frame->command : "DROP ROLE",
				  ag_object_description(addr),
				  "A role tagged as an agent, or a member of one, cannot be dropped by an agent session.");
	if (ag_frame != NULL && ag_frame->decided)
		return;

	old = MemoryContextSwitchTo(ag_frame ? ag_frame->cxt : CurrentMemoryContext);
	d = ag_dropped_new(addr);
	ag_dropped_set_rows(d);
	if (addr->classId == RelationRelationId)
	{
		if (addr->objectSubId == 0)
		{
			char		relkind = get_rel_relkind(addr->objectId);

			if (relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX)
				d->parent_rel = IndexGetRelation(addr->objectId, true);
			d->hidden = get_rel_namespace(addr->objectId) == PG_TOAST_NAMESPACE;
		}
	}
	else
	{
		d->parent_rel = ag_object_relation(addr);
		/* a constraint's triggers (a foreign key's) go with it: listed as it */
		if (addr->classId == TriggerRelationId)
			d->hidden = OidIsValid(ag_catalog_oid_field(TriggerRelationId,
														TriggerOidIndexId,
														addr->objectId,
														Anum_pg_trigger_tgconstraint));
		if (addr->classId == TypeRelationId)
			d->hidden = OidIsValid(d->parent_rel) ||
				get_typ_typrelid(get_element_type(addr->objectId)) != InvalidOid ||
				get_element_type(addr->objectId) != InvalidOid;
	}
	/* the list must live as long as the frame, not as the caller's context */
	if (ag_frame != NULL && !ag_frame->runs_code)
		ag_frame->dropped = lappend(ag_frame->dropped, d);
	MemoryContextSwitchTo(old);

	/*
	 * Directly inside DO or CALL (their statements have frames of their
	 * own) a drop comes from a function call such as lo_unlink(): decide it
	 * now, in the (sub)transaction that made it, so that a ROLLBACK or an
	 * exception block that undoes it leaves nothing stale behind, and an
	 * exception block around the call can catch the guard's error.
	 */
	if (ag_frame == NULL || ag_frame->runs_code)
	{
		/*
		 * Outside any utility statement: a function call such as lo_unlink()
		 * in a query or through the fast-path protocol.  Name what happened.
		 */
		if (addr->classId == LargeObjectRelationId)
			ag_decide_drop("lo_unlink", list_make1(d));
		else
			ag_decide_drop("DROP", list_make1(d));
	}
}

void
ag_on_truncate(Oid relid)
{
	ObjectAddress addr;
	MemoryContext old;
	AgDropped  *d;

	ObjectAddressSet(addr, RelationRelationId, relid);
	if (ag_object_is_guard(&addr))
		ag_tamper("TRUNCATE", ag_object_description(&addr),
				  "The tables of agent_guard cannot be changed by an agent session.");
	if (ag_relation_is_exempt(relid))
		return;
	old = MemoryContextSwitchTo(ag_frame ? ag_frame->cxt : CurrentMemoryContext);
	d = ag_dropped_new(&addr);
	ag_dropped_set_rows(d);
	/* the list must live as long as the frame, not as the caller's context */
	if (ag_frame != NULL && !ag_frame->decided)
		ag_frame->truncated = lappend(ag_frame->truncated, d);
	MemoryContextSwitchTo(old);
	if (ag_frame == NULL)
		ag_decide_truncate("TRUNCATE", list_make1(d));
}

/*
 * DROP DATABASE, TABLESPACE and SUBSCRIPTION cannot be rolled back: decide
 * before they run, on the object they name (when it exists: IF EXISTS on a
 * missing one goes through).  Returns true when decided.
 */
static bool
ag_predecide_global_drop(const char *command, const char *type, Oid classId,
						 Oid objectId, const char *name)
{
	AgDropped  *d;

	if (!OidIsValid(objectId))
		return false;
	d = palloc0(sizeof(AgDropped));
	d->est_rows = -1;			/* a whole database or more: not estimated */
	ObjectAddressSet(d->addr, classId, objectId);
	d->identity = pstrdup(quote_identifier(name));
	d->type = pstrdup(type);
	d->description = psprintf("%s %s", type, d->identity);
	ag_decide_drop(command, list_make1(d));
	return true;
}

/*
 * Decide before they run the drops that cannot be rolled back.  Returns
 * true when the statement was decided here (its frame must then collect
 * nothing more).
 */
bool
ag_predecide_drop(Node *parsetree, const char *command)
{
	switch (nodeTag(parsetree))
	{
	case T_DropdbStmt:
		return ag_predecide_global_drop(command, "database", DatabaseRelationId,
										get_database_oid(((DropdbStmt *) parsetree)->dbname, true),
										((DropdbStmt *) parsetree)->dbname);
	case T_DropTableSpaceStmt:
		return ag_predecide_global_drop(command, "tablespace", TableSpaceRelationId,
										get_tablespace_oid(((DropTableSpaceStmt *) parsetree)->tablespacename, true),
										((DropTableSpaceStmt *) parsetree)->tablespacename);
	case T_DropSubscriptionStmt:
		return ag_predecide_global_drop(command, "subscription", SubscriptionRelationId,
										get_subscription_oid(((DropSubscriptionStmt *) parsetree)->subname, true),
										((DropSubscriptionStmt *) parsetree)->subname);
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;
				List	   *dropped = NIL;
				ListCell   *lc;

				if (!stmt->concurrent)
					break;
				foreach(lc, stmt->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));
					Oid			relid = RangeVarGetRelid(rv, NoLock, true);
					ObjectAddress addr;

					if (!OidIsValid(relid) || ag_relation_is_exempt(relid))
						continue;
					ObjectAddressSet(addr, RelationRelationId, relid);
					dropped = lappend(dropped, ag_dropped_new(&addr));
				}
				if (dropped == NIL)
					break;
				ag_decide_drop(command, dropped);
				return true;
			}
		default:
			break;
	}
	return false;
}
