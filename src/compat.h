/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL major versions agent_guard
 *	  supports (15 to 19) lives here, not scattered through the sources.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AGENT_GUARD_COMPAT_H
#define AGENT_GUARD_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "agent_guard requires PostgreSQL 15 or later"
#endif

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * ExecutorCheckPerms_hook: 16 moved the permission bits out of the range
 * table into a list of RTEPermissionInfo.
 */
#if PG_VERSION_NUM >= 160000
#define AG_CHECKPERMS_ARGS	List *rangeTable, List *rtePermInfos, bool ereport_on_violation
#define AG_CHECKPERMS_CALL(fn)	(fn)(rangeTable, rtePermInfos, ereport_on_violation)
#else
#define AG_CHECKPERMS_ARGS	List *rangeTable, bool ereport_on_violation
#define AG_CHECKPERMS_CALL(fn)	(fn)(rangeTable, ereport_on_violation)
#endif

/* 17 renamed MyBackendId; agent_guard only needs the process id. */

/* 16 replaced pg_class_ownercheck() by object_ownercheck(). */
#if PG_VERSION_NUM >= 160000
#define ag_relation_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define ag_relation_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

#endif							/* AGENT_GUARD_COMPAT_H */
