/*-------------------------------------------------------------------------
 *
 * objects.c
 *	  What an object is, for every guard: whether it belongs to the guard
 *	  (the extension, its schema and what is in it), whether it is exempt
 *	  (temporary, or created by this transaction: no committed data can be
 *	  lost), which relation and schema it belongs to, how to name it, and
 *	  how many rows a table holds.
 *
 * No hooks.  State: the OID of the schema named agent_guard, cached and
 * forgotten on any change of pg_namespace (a syscache callback registered
 * by ag_objects_init); nothing else outlives a call.
 *
 * Rows a table holds (1.1).  At OAT_DROP and OAT_TRUNCATE, and before a
 * column type change rewrites a table, the relation is still there
 * (catalog row and storage), so ag_relation_row_estimate() estimates the
 * rows of a table or materialized view from pg_class.reltuples scaled to
 * the relation's current size, or, for a relation never vacuumed or
 * analyzed, from the tuple density its column widths give (as plancat.c
 * estimates, without its ten-page floor).  It reads the relcache and the
 * relation's size only: no lock beyond what the caller holds, no write.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_publication_namespace.h"
#include "catalog/pg_publication_rel.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

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
 * An OID column of a catalog row, found through the catalog's OID index
 * (the generic lookups of objectaddress.c do not cover every catalog).
 */
Oid
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
Oid
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
Oid
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
bool
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
bool
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
int64
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

/*
 * Does the object still exist?  A statement may create objects and drop
 * them again before it returns (the transient heap of a table rewrite and
 * its row type: VACUUM FULL, CLUSTER, REFRESH MATERIALIZED VIEW, ALTER
 * TABLE ... ALTER COLUMN TYPE); looking those up would fail.
 */
bool
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
Oid
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

void
ag_objects_init(void)
{
	CacheRegisterSyscacheCallback(NAMESPACEOID, ag_invalidate_named_schema, (Datum) 0);
}
