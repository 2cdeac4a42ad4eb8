/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared memory of agent_guard: the table of per-database writers
 *	  (used by worker.c) and the decision counters since server start
 *	  (agent_guard.counters).
 *
 * Sized once, at server start (shmem_request_hook), so there is nothing to
 * allocate later and nothing to leak: AG_WRITER_SLOTS writer slots and one
 * 64-bit atomic counter per (class, decision).  A server without
 * shared_preload_libraries = 'agent_guard' has no such memory; ag_shared
 * is then NULL and every user of it checks.
 *
 * Tags do not live here: they are catalog rows (tags.c), cached per
 * backend.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

AgShared   *ag_shared = NULL;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
ag_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AgShared)));
}

static void
ag_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ag_shared = ShmemInitStruct(AG_NAME, sizeof(AgShared), &found);
	if (!found)
	{
		memset(ag_shared, 0, sizeof(AgShared));
		SpinLockInit(&ag_shared->mutex);
		for (int c = 0; c < AG_NUM_CLASSES; c++)
			for (int d = 0; d < AG_NUM_COUNTERS; d++)
				pg_atomic_init_u64(&ag_shared->counters[c][d], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
ag_shmem_init(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = ag_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = ag_shmem_startup;
}

/* One more decision of this kind; lock-free, a few nanoseconds. */
void
ag_count(AgClass cls, AgCounter counter)
{
	if (ag_shared != NULL)
		pg_atomic_fetch_add_u64(&ag_shared->counters[cls][counter], 1);
}

/*
 * agent_guard._counters(): one row per class with the number of decisions
 * of each kind since the server started, in AgCounter order (parked,
 * rejected, logged, used): the agent_guard.counters view.
 */
PG_FUNCTION_INFO_V1(ag_counters);
Datum
ag_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int c = 0; c < AG_NUM_CLASSES; c++)
	{
		Datum		values[1 + AG_NUM_COUNTERS];
		bool		nulls[1 + AG_NUM_COUNTERS] = {0};

		values[0] = CStringGetTextDatum(ag_class_name((AgClass) c));
		for (int d = 0; d < AG_NUM_COUNTERS; d++)
		{
			if (ag_shared == NULL)
				nulls[1 + d] = true;
			else
				values[1 + d] = Int64GetDatum((int64)
											  pg_atomic_read_u64(&ag_shared->counters[c][d]));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
