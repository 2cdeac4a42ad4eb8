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
#define AG_CHECKPERMS_PERMS rtePermInfos
#define AG_PLAN_PERMS(pstmt) ((pstmt)->permInfos)
#else
#define AG_CHECKPERMS_ARGS	List *rangeTable, bool ereport_on_violation
#define AG_CHECKPERMS_CALL(fn)	(fn)(rangeTable, ereport_on_violation)
#define AG_CHECKPERMS_PERMS rangeTable
#define AG_PLAN_PERMS(pstmt) ((pstmt)->rtable)
#endif

/* ExecutorRun_hook: 18 dropped execute_once. */
#if PG_VERSION_NUM >= 180000
#define AG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define AG_EXECUTORRUN_CALL(fn) (fn)(queryDesc, direction, count)
#else
#define AG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define AG_EXECUTORRUN_CALL(fn) (fn)(queryDesc, direction, count, execute_once)
#endif

/*
 * CLUSTER: 19 parses it, and its successor REPACK, into RepackStmt, whose
 * relation is a VacuumRelation.
 */
#if PG_VERSION_NUM >= 190000
#define T_AgClusterStmt T_RepackStmt
#define AG_CLUSTER_RELATION(stmt) \
	(((RepackStmt *) (stmt))->relation ? ((RepackStmt *) (stmt))->relation->relation : NULL)
#else
#define T_AgClusterStmt T_ClusterStmt
#define AG_CLUSTER_RELATION(stmt) (((ClusterStmt *) (stmt))->relation)
#endif

/* pg_plan_query: 19 added the ExplainState of an EXPLAIN being planned. */
#if PG_VERSION_NUM >= 190000
#define AG_PLAN_QUERY(q, src, opts, params) pg_plan_query((q), (src), (opts), (params), NULL)
#else
#define AG_PLAN_QUERY(q, src, opts, params) pg_plan_query((q), (src), (opts), (params))
#endif

/*
 * The lookup callback of REFRESH MATERIALIZED VIEW (and VACUUM, CLUSTER):
 * 17 added the MAINTAIN privilege and renamed it.
 */
#if PG_VERSION_NUM >= 170000
#define AG_RANGEVAR_CALLBACK_MAINTAINS RangeVarCallbackMaintainsTable
#else
#define AG_RANGEVAR_CALLBACK_MAINTAINS RangeVarCallbackOwnsTable
#endif

/*
 * An intended fall-through between switch cases: 19 builds with
 * -Wimplicit-fallthrough=5, which only an attribute satisfies, and
 * defines pg_fallthrough for it; earlier majors do not have the macro.
 */
#ifndef pg_fallthrough
#if defined(__GNUC__) && __GNUC__ >= 7
#define pg_fallthrough __attribute__((fallthrough))
#else
#define pg_fallthrough ((void) 0)
#endif
#endif

#endif							/* AGENT_GUARD_COMPAT_H */
