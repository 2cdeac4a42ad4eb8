/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  Guarding utility statements: DROP (class drop), TRUNCATE (class
 *	  truncate), column type changes that rewrite a table (class update)
 *	  and tampering with the guard (class guard).
 *
 * Hooks: ProcessUtility_hook and object_access_hook, both chained.
 *
 * How a drop is decided.  Parsing the many DROP forms (and DROP OWNED,
 * ALTER TABLE ... DROP COLUMN, CASCADE, lo_unlink(), DROP inside a DO
 * block or a function) would always miss one.  Instead the object access
 * hook sees OAT_DROP for every object PostgreSQL actually removes, cascaded
 * ones included, and OAT_TRUNCATE for every table a TRUNCATE empties
 * (partitions and CASCADE included).  For an agent session, each such
 * object that is not exempt (temporary, or created in this transaction: no
 * committed data can be lost) is collected into the frame of the innermost
 * utility statement being run.  When that statement returns - still inside
 * the agent's transaction, nothing committed - the frame is decided as one
 * statement with its full object list: reject or park raises an ERROR
 * and the transaction's abort undoes the drop; log, or a permit a human
 * approved for exactly this statement and these objects, lets it stand.
 * Deletions PostgreSQL does internally (PERFORM_DELETION_INTERNAL: table
 * rewrites, REINDEX CONCURRENTLY, temp cleanup) are not guarded.  An
 * OAT_DROP outside any utility statement (lo_unlink() in a SELECT) is
 * decided on the spot.
 *
 * Rows lost (1.1).  At OAT_DROP and OAT_TRUNCATE the relation is still
 * there (catalog row and storage), so each dropped or truncated table or
 * materialized view (partitions included; partitioned parents, views,
 * indexes and sequences hold no rows of their own), and each dropped
 * column, carries an estimate of the rows it holds: pg_class.reltuples
 * scaled to the relation's current size, or, for a relation never
 * vacuumed or analyzed, the tuple density its column widths give (as
 * plancat.c estimates, without its ten-page floor).  This reads the
 * relcache and the relation's size only: no lock beyond what the drop
 * holds, no write.  The DETAIL says "It would remove 4 objects and about
 * 1200 rows: ..."; the request and the audit row carry the sum.  Global
 * objects decided before they run (DROP DATABASE, ...) have no estimate.
 *
 * Column type changes.  ALTER TABLE ... ALTER COLUMN ... TYPE that
 * makes PostgreSQL rewrite a committed table has computed a new value for
 * every row: class update, decided when the statement returns, from the
 * storage its tables had before (ag_watch_rewrites).
 *
 * The few drops that cannot be rolled back are decided before they run:
 * DROP DATABASE, DROP TABLESPACE, DROP SUBSCRIPTION (it drops a remote
 * replication slot) and DROP INDEX CONCURRENTLY (it commits internally).
 *
 * Tamper attempts (DESIGN.md section 6) are refused before the statement
 * runs where the parse tree says enough (ALTER SYSTEM, LOAD, agent_guard.*
 * settings, settings stored for roles or databases, role changes and
 * memberships, SECURITY LABEL, ALTER/DROP EXTENSION, GRANT on the guard's
 * objects), and otherwise by the object access hook: any
 * creation, change or drop of an object in schema agent_guard, of the
 * schema or of the extension.  DML on the guard's tables is refused in
 * dml.c.  Created objects are checked when their statement returns, after
 * a CommandCounterIncrement, because their catalog rows are not visible
 * to lookups before that: relations through the relcache, which has them
 * all, other objects through the syscache (ag_check_created).
 *
 * State: a stack of AgFrame, one per utility statement of an agent session
 * being run, living on the C stack of ag_ProcessUtility; its lists are
 * allocated in the memory context current at entry, which outlives the
 * statement.  Collected objects are decided when the frame returns, or at
 * the latest at pre-commit (a procedure may COMMIT inside its frame).  PG_FINALLY pops the frame on error, so an abort leaves no
 * frame behind.  Human sessions push no frame and collect nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_database.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_publication_namespace.h"
#include "catalog/pg_publication_rel.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "catalog/pg_subscription.h"
#include "commands/tablespace.h"
#include "nodes/makefuncs.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "parser/parse_func.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

/* An object a statement of an agent session is about to drop. */
typedef struct AgDropped
{
	ObjectAddress addr;
	Oid			parent_rel;		/* relation it belongs to, if any */
	bool		hidden;			/* implicit (row type, toast): not listed */
	char	   *description;	/* "table public.bookings" */
	char	   *identity;		/* "public.bookings" */
	char	   *type;			/* "table" */
	bool		has_rows;		/* a table, matview or column: rows are lost */
	int64		est_rows;		/* rows lost (estimate); -1: unknown */
} AgDropped;

typedef struct AgFrame
{
	struct AgFrame *parent;
	MemoryContext cxt;
	const char *command;		/* "DROP TABLE", "DO", ... */
	bool		decided;		/* decided before running: collect nothing */
	bool		runs_code;		/* DO or CALL: drops seen directly are calls */
	List	   *dropped;		/* AgDropped * */
	List	   *truncated;		/* AgDropped * */
	List	   *created;		/* ObjectAddress * */
	List	   *rewrites;		/* AgRewrite *: ALTER COLUMN ... TYPE */
	List	   *internal_triggers;	/* ObjectAddress *: foreign keys' */
} AgFrame;

/* A table that ALTER COLUMN ... TYPE may rewrite, and its storage before. */
typedef struct AgRewrite
{
	Oid			relid;
	Oid			relfilenode;
	int64		est_rows;		/* before the statement: a rewrite loses the statistics */
} AgRewrite;

static AgFrame *ag_frame = NULL;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

/* ---------- object helpers ---------- */

/*
 * The schema of the extension, InvalidOid when the extension is not
 * installed in this database.  The extension is not relocatable and its
 * control file fixes the schema name.
 */
Oid
ag_guard_schema(void)
{
	if (!OidIsValid(get_extension_oid(AG_NAME, true)))
		return InvalidOid;
	return get_namespace_oid(AG_NAME, true);
}

/*
 * The OID of the schema named agent_guard, InvalidOid when there is none:
 * cached, and forgotten on any change of pg_namespace.  A relation outside
 * it is not the guard's, whatever ag_guard_schema() (which also looks the
 * extension up, a catalog scan) would say, so hot paths ask this first.
 */
static Oid	ag_named_schema = InvalidOid;
static bool ag_named_schema_valid = false;

static void
ag_invalidate_named_schema(Datum arg, int cacheid, uint32 hashvalue)
{
	ag_named_schema_valid = false;
}

Oid
ag_schema_named_guard(void)
{
	if (!ag_named_schema_valid)
	{
		ag_named_schema = get_namespace_oid(AG_NAME, true);
		ag_named_schema_valid = true;
	}
	return ag_named_schema;
}

/*
 * Take in tag changes committed by other sessions before this statement is
 * checked.  A transaction that started with this statement has just done
 * so (AtStart_Cache): its start time is the statement's.  Then only
 * statements inside an explicit transaction block pay for the call.
 */
void
ag_accept_invalidations(void)
{
	if (GetCurrentStatementStartTimestamp() != GetCurrentTransactionStartTimestamp())
		AcceptInvalidationMessages();
}

/*
 * An OID column of a catalog row, found through the catalog's OID index
 * (the generic lookups of objectaddress.c do not cover every catalog).
 */
static Oid
ag_catalog_oid_field(Oid classId, Oid indexId, Oid objectId, AttrNumber attnum)
{
	Relation	catalog;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	catalog = table_open(classId, AccessShareLock);
	/* the OID is the first column of every catalog looked up here */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(catalog, indexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, attnum, RelationGetDescr(catalog),
									 &isnull);

		if (!isnull)
			result = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return result;
}

/* Where the parts of a relation say which relation they belong to. */
static const struct
{
	Oid			classId;
	Oid			oidIndexId;
	AttrNumber	relattnum;
}			ag_relation_parts[] = {
	{AttrDefaultRelationId, AttrDefaultOidIndexId, Anum_pg_attrdef_adrelid},
	{ConstraintRelationId, ConstraintOidIndexId, Anum_pg_constraint_conrelid},
	{TriggerRelationId, TriggerOidIndexId, Anum_pg_trigger_tgrelid},
	{RewriteRelationId, RewriteOidIndexId, Anum_pg_rewrite_ev_class},
	{PolicyRelationId, PolicyOidIndexId, Anum_pg_policy_polrelid},
	{PublicationRelRelationId, PublicationRelObjectIndexId, Anum_pg_publication_rel_prrelid},
};

/*
 * The relation an object belongs to: the relation itself for a relation or
 * a column, the table of a default, constraint, trigger, rule or policy,
 * the relation of a row type.  InvalidOid for free-standing objects.
 */
static Oid
ag_object_relation(const ObjectAddress *addr)
{
	if (addr->classId == RelationRelationId)
		return addr->objectId;
	if (addr->classId == TypeRelationId)
		return get_typ_typrelid(addr->objectId);
	for (int i = 0; i < lengthof(ag_relation_parts); i++)
		if (ag_relation_parts[i].classId == addr->classId)
			return ag_catalog_oid_field(addr->classId,
										ag_relation_parts[i].oidIndexId,
										addr->objectId,
										ag_relation_parts[i].relattnum);
	return InvalidOid;
}

/* The schema of an object, or of the relation it belongs to. */
static Oid
ag_object_schema(const ObjectAddress *addr)
{
	Oid			relid;

	if (addr->classId == RelationRelationId)
		return get_rel_namespace(addr->objectId);
	if (is_objectclass_supported(addr->classId))
	{
		Oid			nsp = get_object_namespace(addr);

		if (OidIsValid(nsp))
			return nsp;
	}
	if (addr->classId == PublicationNamespaceRelationId)
		return ag_catalog_oid_field(PublicationNamespaceRelationId,
									PublicationNamespaceObjectIndexId,
									addr->objectId,
									Anum_pg_publication_namespace_pnnspid);
	relid = ag_object_relation(addr);
	return OidIsValid(relid) ? get_rel_namespace(relid) : InvalidOid;
}

/* Is the object part of the guard itself: extension, schema, or in it? */
static bool
ag_object_is_guard(const ObjectAddress *addr)
{
	Oid			nsp;

	if (addr->classId == ExtensionRelationId)
	{
		Oid			extoid = get_extension_oid(AG_NAME, true);

		return OidIsValid(extoid) && addr->objectId == extoid;
	}
	/* the cached schema first: looking the extension up scans pg_extension */
	nsp = ag_schema_named_guard();
	if (!OidIsValid(nsp))
		return false;
	if (addr->classId == NamespaceRelationId ? addr->objectId != nsp :
		ag_object_schema(addr) != nsp)
		return false;
	return OidIsValid(get_extension_oid(AG_NAME, true));
}

/* Temporary, or created by this transaction? */
static bool
ag_relation_is_exempt(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		exempt;

	if (rel == NULL)
		return false;
	exempt = ag_open_relation_is_exempt(rel);
	RelationClose(rel);
	return exempt;
}

/* The same, for a relation already open: temporary, or created by this transaction. */
bool
ag_open_relation_is_exempt(Relation rel)
{
	return rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
		rel->rd_createSubid != InvalidSubTransactionId;
}

/*
 * Was the object's catalog row inserted by this transaction, and never
 * updated since?  An updated row carries HEAP_UPDATED: the object existed
 * before, so it is not exempt (when unsure, guard).
 */
static bool
ag_catalog_row_is_new(const ObjectAddress *addr)
{
	Relation	catalog;
	HeapTuple	tup;
	bool		result = false;

	if (!is_objectclass_supported(addr->classId))
		return false;
	catalog = table_open(addr->classId, AccessShareLock);
	tup = get_catalog_object_by_oid(catalog,
									get_object_attnum_oid(addr->classId),
									addr->objectId);
	if (HeapTupleIsValid(tup))
		result = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)) &&
			!(tup->t_data->t_infomask & HEAP_UPDATED);
	table_close(catalog, AccessShareLock);
	return result;
}

/* A column added by this transaction, and not changed since? */
static bool
ag_column_is_new(Oid relid, int attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
									  Int16GetDatum(attnum));
	bool		result;

	if (!HeapTupleIsValid(tup))
		return false;
	result = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)) &&
		!(tup->t_data->t_infomask & HEAP_UPDATED);
	ReleaseSysCache(tup);
	return result;
}

/* Exempt objects: no committed data can be lost by dropping them. */
bool
ag_object_is_exempt(const ObjectAddress *addr)
{
	Oid			relid = ag_object_relation(addr);
	Oid			nsp;

	if (OidIsValid(relid))
	{
		Relation	rel = RelationIdGetRelation(relid);

		if (rel != NULL)
		{
			RelationClose(rel);
			if (ag_relation_is_exempt(relid))
				return true;
			/* a part added to an old relation by this transaction */
			if (addr->classId == RelationRelationId)
				return addr->objectSubId != 0 &&
					ag_column_is_new(relid, addr->objectSubId);
			return ag_catalog_row_is_new(addr);
		}

		/*
		 * The relation is gone already: it was dropped earlier in this
		 * statement (the pg_class entry of a stand-alone composite type goes
		 * before its pg_type row).  Judge the object by its own catalog row.
		 */
	}
	if (is_objectclass_supported(addr->classId))
	{
		nsp = get_object_namespace(addr);
		if (OidIsValid(nsp) && isAnyTempNamespace(nsp))
			return true;
	}
	return ag_catalog_row_is_new(addr);
}

/* "table public.bookings" */
char *
ag_object_description(const ObjectAddress *addr)
{
	return psprintf("%s %s", getObjectTypeDescription(addr, false),
					getObjectIdentity(addr, false));
}

/*
 * Estimated rows of a table or materialized view, -1 for a relation
 * without rows of its own.  Reads the relcache entry and the relation's
 * current size; takes no lock (the caller's drop or truncate holds one).
 */
static int64
ag_relation_row_estimate(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	BlockNumber curpages;
	double		tuples;

	if (rel == NULL)
		return -1;
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
	{
		RelationClose(rel);
		return -1;
	}
	curpages = RelationGetNumberOfBlocks(rel);
	if (curpages == 0)
		tuples = 0;
	else if (rel->rd_rel->reltuples >= 0 && rel->rd_rel->relpages > 0)
		tuples = rel->rd_rel->reltuples / rel->rd_rel->relpages * curpages;
	else
	{
		/* never vacuumed or analyzed: the density the row width gives */
		int32		width = get_rel_data_width(rel, NULL) +
			MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData);

		tuples = (double) ((BLCKSZ - SizeOfPageHeaderData) / width) * curpages;
	}
	RelationClose(rel);
	return (int64) Min(rint(tuples), (double) PG_INT64_MAX);
}

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
static char *
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

static AgDropped *
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
	 * is listed by its OID (only agent sessions' drops come here).
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
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
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
static char *
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
static const char *
ag_target_text(const char *first, int n, const char *noun)
{
	if (n <= 1)
		return first;
	return psprintf("%s and %d other %s%s", first, n - 1, noun,
					n - 1 == 1 ? "" : "s");
}

/* ---------- deciding a frame ---------- */

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

static void
ag_decide_drop(const char *command, List *dropped)
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
	st.reason = "Agents may not drop persistent objects: the statement would remove committed data or schema.";
	st.hint = "Ask a database administrator to run the statement, or to change the tag with agent_guard.tag_role(). Objects that are temporary or were created in the same transaction can be dropped.";
	ag_decide(&st);
}

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

static void
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

/*
 * Does the object still exist?  A statement may create objects and drop
 * them again before it returns (the transient heap of a table rewrite and
 * its row type: VACUUM FULL, CLUSTER, REFRESH MATERIALIZED VIEW, ALTER
 * TABLE ... ALTER COLUMN TYPE); looking those up would fail.
 */
static bool
ag_object_exists(const ObjectAddress *addr)
{
	Relation	catalog;
	HeapTuple	tup;

	if (!is_objectclass_supported(addr->classId))
		return true;
	catalog = table_open(addr->classId, AccessShareLock);
	tup = get_catalog_object_by_oid(catalog,
									get_object_attnum_oid(addr->classId),
									addr->objectId);
	table_close(catalog, AccessShareLock);
	return HeapTupleIsValid(tup);
}

/*
 * The schema of an object a statement created, from the syscache alone
 * (no error when it is gone again, see above): InvalidOid when it is gone
 * or in no schema.  *known is false when the syscache cannot tell (a
 * catalog without an OID cache or a schema column: a trigger, a default):
 * the caller then looks it up the long way.
 */
static Oid
ag_new_object_schema(const ObjectAddress *addr, bool *known)
{
	int			cache;
	AttrNumber	attnum;
	HeapTuple	tup;
	Datum		nsp;
	bool		isnull;

	*known = false;
	if (!is_objectclass_supported(addr->classId))
		return InvalidOid;
	cache = get_object_catcache_oid(addr->classId);
	attnum = get_object_attnum_namespace(addr->classId);
	if (cache < 0 || attnum == InvalidAttrNumber)
		return InvalidOid;
	*known = true;
	tup = SearchSysCache1(cache, ObjectIdGetDatum(addr->objectId));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	nsp = SysCacheGetAttr(cache, tup, attnum, &isnull);
	ReleaseSysCache(tup);
	return isnull ? InvalidOid : DatumGetObjectId(nsp);
}

/*
 * Objects an agent's statement created must not be in the guard's schema.
 * Relations first, so that the table is named rather than its row type,
 * and from the relcache, which has every relation this transaction
 * created; the row type of a relation is in the relation's schema.  The
 * catalog rows of the rest are new: each lookup is a syscache miss.
 */
static void
ag_check_created(const char *command, List *created)
{
	Oid			guard = ag_schema_named_guard();
	List	   *rowtypes = NIL; /* of new relations outside the guard's schema */
	ListCell   *lc;

	/* make the new catalog rows visible to the lookups below */
	CommandCounterIncrement();
	foreach(lc, created)
	{
		ObjectAddress *addr = lfirst(lc);
		Relation	rel;
		Oid			nsp;

		if (addr->classId != RelationRelationId)
			continue;
		rel = RelationIdGetRelation(addr->objectId);
		if (rel == NULL)
			continue;			/* gone again */
		nsp = rel->rd_rel->relnamespace;
		if (nsp != guard)
			rowtypes = lappend_oid(rowtypes, rel->rd_rel->reltype);
		RelationClose(rel);
		if (nsp == guard && ag_object_is_guard(addr))
			ag_tamper(command, ag_object_description(addr),
					  "Objects cannot be created in schema agent_guard by an agent session.");
	}
	foreach(lc, created)
	{
		ObjectAddress *addr = lfirst(lc);
		bool		known;

		if (addr->classId == RelationRelationId ||
			(addr->classId == TypeRelationId &&
			 list_member_oid(rowtypes, addr->objectId)))
			continue;
		if (ag_new_object_schema(addr, &known) != guard && known)
			continue;
		if (!ag_object_exists(addr))
			continue;
		if (ag_object_is_guard(addr))
			ag_tamper(command, ag_object_description(addr),
					  "Objects cannot be created in schema agent_guard by an agent session.");
	}
}

/*
 * Internal triggers a statement created: a foreign key referencing one of
 * the guard's tables puts two on it (named by OID: name the table).
 */
static void
ag_check_internal_triggers(const char *command, List *triggers)
{
	ListCell   *lc;

	CommandCounterIncrement();
	foreach(lc, triggers)
	{
		ObjectAddress *addr = lfirst(lc);
		ObjectAddress table;

		if (!ag_object_exists(addr) || !ag_object_is_guard(addr))
			continue;
		ObjectAddressSet(table, RelationRelationId, ag_object_relation(addr));
		ag_tamper(command, ag_object_description(&table),
				  "A foreign key that references a table of agent_guard puts triggers on that table, and the guard's tables cannot be changed by an agent session.");
	}
}

/* Decide what a frame collected, once. */
static void
ag_decide_pending(AgFrame *frame)
{
	List	   *truncated = frame->truncated;
	List	   *dropped = frame->dropped;

	frame->truncated = NIL;
	frame->dropped = NIL;
	if (truncated != NIL)
		ag_decide_truncate(frame->command, truncated);
	if (dropped != NIL)
		ag_decide_drop(frame->command, dropped);
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
static void
ag_watch_rewrites(AgFrame *frame, AlterTableStmt *stmt)
{
	ListCell   *lc;
	bool		alters_type = false;
	Oid			relid;
	List	   *roots;
	List	   *rels = NIL;

	/* ALTER FOREIGN TABLE recurses to a foreign table's local children */
	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_TYPE &&
		stmt->objtype != OBJECT_FOREIGN_TABLE)
		return;
	foreach(lc, stmt->cmds)
		alters_type |= ((AlterTableCmd *) lfirst(lc))->subtype == AT_AlterColumnType;
	if (!alters_type)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	/* ALTER TYPE ... ALTER ATTRIBUTE ... CASCADE rewrites the typed tables */
	roots = stmt->objtype == OBJECT_TYPE ?
		ag_typed_tables(get_rel_type_id(relid)) : list_make1_oid(relid);
	/*
	 * ALTER TYPE's RangeVar has inh = false, but PostgreSQL recurses from
	 * each typed table to its partitions and children all the same.
	 */
	foreach(lc, roots)
		rels = list_concat(rels, (stmt->relation->inh || stmt->objtype == OBJECT_TYPE) ?
						   find_all_inheritors(lfirst_oid(lc), NoLock, NULL) :
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
static void
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

static void
ag_frame_finish(AgFrame *frame)
{
	if (frame->created != NIL)
		ag_check_created(frame->command, frame->created);
	if (frame->internal_triggers != NIL)
		ag_check_internal_triggers(frame->command, frame->internal_triggers);
	if (frame->rewrites != NIL)
		ag_check_rewrites(frame->command, frame->rewrites);
	ag_decide_pending(frame);
}

/*
 * A frame's objects must be decided before their transaction commits: a
 * procedure (CALL) or DO block may COMMIT after an lo_unlink() or a TRUNCATE
 * run through SPI and before its own frame returns.  So every frame's
 * pending objects are decided at pre-commit (and pre-prepare) too; an
 * ERROR there aborts the commit.
 */
static void
ag_xact_callback(XactEvent event, void *arg)
{
	/* one callback for both concerns: drops pending, and the row count */
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			for (AgFrame *f = ag_frame; f != NULL; f = f->parent)
				ag_decide_pending(f);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			ag_rowlimit_xact_end(false);
			break;
		case XACT_EVENT_ABORT:
			ag_rowlimit_xact_end(true);
			break;
		default:
			break;
	}
}

/* ---------- object access hook ---------- */

static void
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

static void
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

static pg_noinline void
ag_object_access_guarded(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	ObjectAddress addr;

	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	/* cheap filters first: internal work is never guarded */
	switch (access)
	{
		case OAT_DROP:
			if (((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL)
				return;
			break;
		case OAT_POST_CREATE:
			/*
			 * Internal creations are PostgreSQL's own, except triggers: a
			 * foreign key referencing a guard table puts internal triggers
			 * on it.
			 */
			if (((ObjectAccessPostCreate *) arg)->is_internal &&
				classId != TriggerRelationId)
				return;
			break;
		case OAT_POST_ALTER:
		case OAT_TRUNCATE:
			break;
		default:
			return;
	}
	if (ag_session_action() == AG_ACTION_NONE)
		return;

	addr.classId = classId;
	addr.objectId = objectId;
	addr.objectSubId = subId;

	switch (access)
	{
		case OAT_DROP:
			ag_on_drop(&addr);
			break;
		case OAT_TRUNCATE:
			ag_on_truncate(objectId);
			break;
		case OAT_POST_CREATE:
			if (classId == AuthIdRelationId)
				ag_tag_new_role(objectId);
			else if (ag_frame != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(ag_frame->cxt);
				ObjectAddress *copy = palloc(sizeof(ObjectAddress));

				*copy = addr;
				if (((ObjectAccessPostCreate *) arg)->is_internal)
					ag_frame->internal_triggers = lappend(ag_frame->internal_triggers, copy);
				else
					ag_frame->created = lappend(ag_frame->created, copy);
				MemoryContextSwitchTo(old);
			}
			break;
		case OAT_POST_ALTER:
			if (ag_object_is_guard(&addr))
			{
				/* name a table, not its trigger or constraint (their names hold OIDs) */
				Oid			relid = ag_object_relation(&addr);
				ObjectAddress named = addr;

				if (OidIsValid(relid) && addr.classId != RelationRelationId)
					ObjectAddressSet(named, RelationRelationId, relid);
				ag_tamper(ag_frame ? ag_frame->command : "ALTER",
						  ag_object_description(&named),
						  "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
			}
			break;
		default:
			break;
	}
}

/*
 * The hook is called on every function execution (OAT_FUNCTION_EXECUTE)
 * and schema search: filter those out before anything else.
 */
static void
ag_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (unlikely(access != OAT_FUNCTION_EXECUTE && access != OAT_NAMESPACE_SEARCH))
		ag_object_access_guarded(access, classId, objectId, subId, arg);
	else if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
}

/* ---------- checks on the parse tree, before the statement runs ---------- */

/*
 * The table a TOAST table (or the index of one) belongs to; relid itself
 * for any other relation.  No index on reltoastrelid: a scan, for an
 * agent's rare REINDEX/VACUUM FULL naming a relation in pg_toast.
 */
static Oid
ag_toast_owner(Oid relid)
{
	Relation	pg_class_rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = relid;

	if (get_rel_namespace(relid) != PG_TOAST_NAMESPACE)
		return relid;
	if (get_rel_relkind(relid) == RELKIND_INDEX)
		relid = IndexGetRelation(relid, true);
	pg_class_rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_reltoastrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(pg_class_rel, InvalidOid, false, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		result = ((Form_pg_class) GETSTRUCT(tup))->oid;
	systable_endscan(scan);
	table_close(pg_class_rel, AccessShareLock);
	return result;
}

/* Refuse a statement naming a relation in the guard's schema (or its TOAST). */
static void
ag_refuse_guard_relation(const char *command, RangeVar *rv, const char *reason)
{
	Oid			nsp;
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return;
	relid = ag_toast_owner(relid);
	nsp = get_rel_namespace(relid);
	if (nsp == ag_schema_named_guard() && nsp == ag_guard_schema())
		ag_tamper(command,
				  psprintf("on %s", quote_qualified_identifier(AG_NAME, get_rel_name(relid))),
				  reason);
}

/* The same for each RangeVar of a list. */
static void
ag_refuse_guard_relations(const char *command, List *rangevars, const char *reason)
{
	ListCell   *lc;

	foreach(lc, rangevars)
		if (IsA(lfirst(lc), RangeVar))
			ag_refuse_guard_relation(command, lfirst(lc), reason);
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

static bool
ag_is_guard_setting(const char *name)
{
	return name != NULL && pg_strncasecmp(name, AG_NAME ".", strlen(AG_NAME) + 1) == 0;
}

/* SET agent_guard.session_agent = on is the one change an agent may make. */
static bool
ag_is_session_agent_on(VariableSetStmt *stmt)
{
	bool		on;

	if (stmt->kind != VAR_SET_VALUE || list_length(stmt->args) != 1 ||
		pg_strcasecmp(stmt->name, AG_NAME ".session_agent") != 0)
		return false;
	if (!IsA(linitial(stmt->args), A_Const))
		return false;
	{
		A_Const    *c = linitial_node(A_Const, stmt->args);
		char	   *s;

		if (c->isnull)
			return false;
		if (IsA(&c->val, Integer))
			return intVal(&c->val) != 0;
		if (!IsA(&c->val, String))
			return false;
		s = strVal(&c->val);
		return parse_bool(s, &on) && on;
	}
}

static bool
ag_names_guard_schema(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(strVal(lfirst(lc)), AG_NAME) == 0)
			return true;
	return false;
}

/* Does a GRANT/REVOKE name an object of the guard? */
static bool
ag_grant_touches_guard(GrantStmt *stmt)
{
	Oid			nsp = ag_guard_schema();
	ListCell   *lc;

	if (!OidIsValid(nsp))
		return false;
	if (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA)
		return ag_names_guard_schema(stmt->objects);
	if (stmt->targtype != ACL_TARGET_OBJECT)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);
		Oid			objnsp = InvalidOid;

		switch (stmt->objtype)
		{
			case OBJECT_SCHEMA:
				if (strcmp(strVal(obj), AG_NAME) == 0)
					return true;
				break;
			case OBJECT_TABLE:
			case OBJECT_SEQUENCE:
				{
					Oid			relid = RangeVarGetRelid((RangeVar *) obj, NoLock, true);

					if (OidIsValid(relid))
						objnsp = get_rel_namespace(relid);
					break;
				}
			case OBJECT_FUNCTION:
			case OBJECT_PROCEDURE:
			case OBJECT_ROUTINE:
				{
					Oid			funcid = LookupFuncWithArgs(stmt->objtype,
															(ObjectWithArgs *) obj, true);

					if (OidIsValid(funcid))
						objnsp = get_func_namespace(funcid);
					break;
				}
			default:
				break;
		}
		if (objnsp == nsp)
			return true;
	}
	return false;
}


static bool
ag_role_options_add_memberships(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "rolemembers") == 0 ||
			strcmp(def->defname, "adminmembers") == 0 ||
			strcmp(def->defname, "addroleto") == 0)
			return true;
	}
	return false;
}

/*
 * Refuse tamper attempts the parse tree shows, and decide the drops that
 * cannot be rolled back.  Returns true when the statement was decided here
 * (its frame must then collect nothing more).
 */
static bool
ag_check_utility(Node *parsetree, const char *command)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterSystemStmt:
			ag_tamper(command, NULL,
					  "The server configuration cannot be changed by an agent session.");
			break;
		case T_LoadStmt:
			ag_tamper(command, ((LoadStmt *) parsetree)->filename,
					  "Libraries cannot be loaded by an agent session.");
			break;
		case T_VariableSetStmt:
			{
				VariableSetStmt *stmt = (VariableSetStmt *) parsetree;

				if (ag_is_guard_setting(stmt->name) && !ag_is_session_agent_on(stmt))
					ag_tamper(command, stmt->name,
							  "Settings of agent_guard cannot be changed by an agent session.");
				break;
			}
		case T_AlterRoleSetStmt:
		case T_AlterDatabaseSetStmt:
			/*
			 * Stored settings run in other sessions: a search_path set for a
			 * human role could plant code that runs unguarded there, and a
			 * RESET ALL could remove agent_guard.session_agent from a role.
			 */
			ag_tamper(command, NULL,
					  "Settings stored for roles or databases apply to other sessions, humans' included, and cannot be changed by an agent session.");
			break;
		case T_AlterRoleStmt:
			ag_tamper(command, get_rolespec_name(((AlterRoleStmt *) parsetree)->role),
					  "Role attributes, passwords and memberships cannot be changed by an agent session: a changed role could be used to leave the guard.");
			break;
		case T_GrantRoleStmt:
			ag_tamper(command, NULL,
					  "Role memberships cannot be changed by an agent session: a changed membership could be used to leave the guard.");
			break;
		case T_CreateRoleStmt:
			if (ag_role_options_add_memberships(((CreateRoleStmt *) parsetree)->options))
				ag_tamper(command, ((CreateRoleStmt *) parsetree)->role,
						  "A role created by an agent session cannot be given memberships (IN ROLE, ROLE, ADMIN): membership in a predefined role such as pg_execute_server_program reaches around the guard, and members added to the new, tagged role would be guarded against their will.");
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_ROLE)
				ag_tamper(command, ((RenameStmt *) parsetree)->subname,
						  "Roles cannot be renamed by an agent session.");
			break;
		case T_SecLabelStmt:
			{
				SecLabelStmt *stmt = (SecLabelStmt *) parsetree;

				if (stmt->provider == NULL || strcmp(stmt->provider, AG_NAME) == 0)
					ag_tamper(command, NULL,
							  "Agent tags cannot be changed by an agent session.");
				break;
			}
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) parsetree)->extname, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "The extension agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterExtensionContentsStmt:
			if (strcmp(((AlterExtensionContentsStmt *) parsetree)->extname, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "The extension agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterObjectSchemaStmt:
			if (strcmp(((AlterObjectSchemaStmt *) parsetree)->newschema, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "Objects cannot be moved into schema agent_guard by an agent session.");
			break;
		case T_GrantStmt:
			if (ag_grant_touches_guard((GrantStmt *) parsetree))
				ag_tamper(command, NULL,
						  "Privileges on the objects of agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterDefaultPrivilegesStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterDefaultPrivilegesStmt *) parsetree)->options)
				{
					DefElem    *def = lfirst(lc);

					if (strcmp(def->defname, "schemas") == 0 &&
						ag_names_guard_schema((List *) def->arg))
						ag_tamper(command, AG_NAME,
								  "Default privileges in schema agent_guard cannot be changed by an agent session.");
				}
				break;
			}
		case T_LockStmt:
			ag_refuse_guard_relations(command, ((LockStmt *) parsetree)->relations,
									  "The tables of agent_guard cannot be locked by an agent session.");
			break;
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			/* a child adds its rows to the parent's: forged events, approvals */
			ag_refuse_guard_relations(command, ((CreateStmt *) parsetree)->inhRelations,
									  "A table inheriting from a table of agent_guard would add rows to it, and the guard's tables cannot be changed by an agent session.");
			break;
		case T_AlterTableStmt:
			{
				/*
				 * Any ALTER of a guard relation, refused before it runs: some
				 * subcommands change it without the object access hook
				 * (REPLICA IDENTITY, CLUSTER ON, ENABLE/FORCE ROW LEVEL
				 * SECURITY).  And INHERIT of a guard table.
				 */
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				ag_refuse_guard_relation(command, stmt->relation,
										 "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst(lc);

					if (cmd->subtype == AT_AddInherit)
						ag_refuse_guard_relation(command, (RangeVar *) cmd->def,
												 "A table inheriting from a table of agent_guard would add rows to it, and the guard's tables cannot be changed by an agent session.");
				}
				break;
			}
		case T_CommentStmt:
			{
				CommentStmt *stmt = (CommentStmt *) parsetree;
				Relation	rel;
				ObjectAddress addr;

				/* the lock COMMENT takes itself; a missing object is its error */
				addr = get_object_address(stmt->objtype, stmt->object, &rel,
										  ShareUpdateExclusiveLock, true);
				if (rel != NULL)
					relation_close(rel, NoLock);
				if (OidIsValid(addr.objectId) && ag_object_is_guard(&addr))
					ag_tamper(command, ag_object_description(&addr),
							  "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
				break;
			}
		case T_CreateStatsStmt:
			ag_refuse_guard_relations(command, ((CreateStatsStmt *) parsetree)->relations,
									  "The tables of agent_guard cannot be changed by an agent session.");
			break;
		case T_CreatePublicationStmt:
			{
				/*
				 * CREATE PUBLICATION adds its tables and schemas without the
				 * object access hook (ALTER PUBLICATION ... ADD calls it).
				 */
				ListCell   *lc;

				if (((CreatePublicationStmt *) parsetree)->for_all_tables &&
					OidIsValid(ag_guard_schema()))
					ag_tamper(command, "schema " AG_NAME,
							  "A publication FOR ALL TABLES includes the tables of agent_guard, which cannot be published by an agent session.");
				foreach(lc, ((CreatePublicationStmt *) parsetree)->pubobjects)
				{
					PublicationObjSpec *obj = lfirst(lc);
					Oid			nsp = InvalidOid;

					if (obj->pubobjtype == PUBLICATIONOBJ_TABLE && obj->pubtable != NULL)
						ag_refuse_guard_relation(command, obj->pubtable->relation,
												 "The tables of agent_guard cannot be published by an agent session.");
					else if (obj->pubobjtype == PUBLICATIONOBJ_TABLES_IN_SCHEMA && obj->name != NULL)
						nsp = get_namespace_oid(obj->name, true);
					else if (obj->pubobjtype == PUBLICATIONOBJ_TABLES_IN_CUR_SCHEMA)
					{
						List	   *path = fetch_search_path(false);

						nsp = path != NIL ? linitial_oid(path) : InvalidOid;
					}
					if (OidIsValid(nsp) && nsp == ag_guard_schema())
						ag_tamper(command, "schema " AG_NAME,
								  "The tables of agent_guard cannot be published by an agent session.");
				}
				break;
			}
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				if (stmt->relation != NULL)
					ag_refuse_guard_relation(command, stmt->relation,
											 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				else if (((stmt->kind == REINDEX_OBJECT_SCHEMA && stmt->name != NULL &&
						   strcmp(stmt->name, AG_NAME) == 0) ||
						  stmt->kind == REINDEX_OBJECT_DATABASE) &&
						 OidIsValid(ag_guard_schema()))
					ag_tamper(command, "schema " AG_NAME,
							  "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				break;
			}
		case T_AgClusterStmt:
			ag_refuse_guard_relation(command, AG_CLUSTER_RELATION(parsetree),
									 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) parsetree;
				ListCell   *lc;
				bool		full = false;

				/* plain VACUUM and ANALYZE take no lock that stops the guard */
				foreach(lc, stmt->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "full") == 0)
						full = defGetBoolean(lfirst(lc));
				if (!full)
					break;
				foreach(lc, stmt->rels)
					ag_refuse_guard_relation(command, ((VacuumRelation *) lfirst(lc))->relation,
											 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				break;
			}
		case T_IndexStmt:
			{
				/*
				 * CREATE INDEX CONCURRENTLY commits the index's catalog row
				 * (and later its build) before it returns: refused when it
				 * returns, it would leave an invalid but ready index on the
				 * guard's table, maintained on every insert.  Decide first.
				 */
				IndexStmt  *stmt = (IndexStmt *) parsetree;

				if (stmt->concurrent)
					ag_refuse_guard_relation(command, stmt->relation,
											 "Objects cannot be created in schema agent_guard by an agent session.");
				break;
			}
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
				ListCell   *lc;

				if (stmt->removeType == OBJECT_EXTENSION ||
					stmt->removeType == OBJECT_SCHEMA)
				{
					foreach(lc, stmt->objects)
						if (strcmp(strVal(lfirst(lc)), AG_NAME) == 0 &&
							OidIsValid(ag_guard_schema()))
							ag_tamper(command, AG_NAME,
									  "The extension agent_guard and its schema cannot be dropped by an agent session.");
				}
				if (stmt->concurrent)
				{
					List	   *dropped = NIL;

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
					if (dropped != NIL)
					{
						ag_decide_drop(command, dropped);
						return true;
					}
				}
				break;
			}
		default:
			break;
	}
	return false;
}

/* ---------- ProcessUtility hook ---------- */

/*
 * The database a DROP/CREATE/ALTER/RENAME DATABASE statement needs to have
 * no other connections: the dropped, altered or renamed one, or the
 * template of a new one.
 */
static const char *
ag_exclusive_database(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) parsetree)->dbname;
		case T_AlterDatabaseStmt:
			return ((AlterDatabaseStmt *) parsetree)->dbname;
		case T_RenameStmt:
			return ((RenameStmt *) parsetree)->subname;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *opt = lfirst(lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					return defGetString(opt);
			}
			return "template1";
		default:
			return NULL;
	}
}

static void
ag_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	AgFrame		frame;

	ag_checked_perms = NIL;		/* see dml.c: COPY checks permissions too */
	AgQueryRef	saved_query;

	/*
	 * Commands that need a database to themselves, from any session: that
	 * database's persistent writer (worker.c) leaves first.
	 */
	if (IsA(parsetree, DropdbStmt) || IsA(parsetree, CreatedbStmt) ||
		IsA(parsetree, AlterDatabaseStmt) ||
		(IsA(parsetree, RenameStmt) &&
		 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE))
		ag_writer_leave(get_database_oid(ag_exclusive_database(parsetree), true));

	/*
	 * Transaction control may run in an aborted transaction, where no
	 * catalog access is possible; it never destroys anything.  Human
	 * sessions go straight through.
	 */
	if (!IsA(parsetree, TransactionStmt))
		ag_accept_invalidations();	/* a tag change made meanwhile */
	if (IsA(parsetree, TransactionStmt) ||
		ag_session_action() == AG_ACTION_NONE)
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		return;
	}

	memset(&frame, 0, sizeof(frame));
	frame.cxt = CurrentMemoryContext;
	frame.command = GetCommandTagName(CreateCommandTag(parsetree));
	frame.runs_code = IsA(parsetree, DoStmt) || IsA(parsetree, CallStmt);

	ag_get_current_query(&saved_query);
	ag_set_current_query(queryString, pstmt->stmt_location, pstmt->stmt_len);
	frame.parent = ag_frame;
	ag_frame = &frame;
	PG_TRY();
	{
		frame.decided = ag_check_utility(parsetree, frame.command);
		if (IsA(parsetree, AlterTableStmt))
			ag_watch_rewrites(&frame, (AlterTableStmt *) parsetree);
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		ag_frame_finish(&frame);
	}
	PG_FINALLY();
	{
		ag_frame = frame.parent;
		ag_restore_current_query(&saved_query);
	}
	PG_END_TRY();
}

void
ag_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ag_ProcessUtility;
	CacheRegisterSyscacheCallback(NAMESPACEOID, ag_invalidate_named_schema, (Datum) 0);
}

/*
 * The object access hook and the transaction callback serve agent sessions
 * only (frames exist only for them): installed by ag_install_agent_hooks().
 */
void
ag_utility_install_agent_hooks(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = ag_object_access;
	RegisterXactCallback(ag_xact_callback, NULL);
}
