/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared memory of agent_guard: the table of per-database writers
 *	  (used by worker.c), the decision counters since server start
 *	  (agent_guard.counters), and the per-role write rates.
 *
 * Sized once, at server start (shmem_request_hook), so there is nothing to
 * allocate later and nothing to leak: AG_WRITER_SLOTS writer slots, one
 * 64-bit atomic counter per (class, decision), and AG_RATE_SLOTS entries
 * counting each agent role's durable writes in the current second.  A server without
 * shared_preload_libraries = 'agent_guard' has no such memory; ag_shared
 * is then NULL and every user of it checks.
 *
 * The table of backends waiting for a decision (agent_guard.wait()) is
 * wait.c's, allocated here too: one slot per backend (MaxBackends).
 *
 * Tags do not live here: they are catalog rows (tags.c), cached per
 * backend.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

AgShared   *ag_shared = NULL;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
ag_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(AgShared)), ag_wait_shmem_size()));
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
	ag_wait_shmem_startup();
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
ag_count_decision(AgClass cls, AgCounter counter)
{
	if (ag_shared != NULL)
		pg_atomic_fetch_add_u64(&ag_shared->counters[cls][counter], 1);
}

/*
 * Take one of a role's durable writes for this second.  Returns 0 when
 * taken, otherwise the microseconds until the next second begins (when
 * the role may try again).
 */
int64
ag_rate_take(Oid dbid, Oid roleid, int limit)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		second = now / USECS_PER_SEC;
	AgRoleRate *r = NULL;
	int64		wait = 0;

	SpinLockAcquire(&ag_shared->mutex);
	for (int i = 0; i < AG_RATE_SLOTS; i++)
	{
		AgRoleRate *e = &ag_shared->rates[i];

		if (e->dbid == dbid && e->roleid == roleid)
		{
			r = e;
			break;
		}
		if (r == NULL || e->second < r->second)
			r = e;				/* the longest-quiet entry, if none matches */
	}
	if (r->dbid != dbid || r->roleid != roleid || r->second != second)
	{
		r->dbid = dbid;
		r->roleid = roleid;
		r->second = second;
		r->count = 0;
	}
	if (r->count < limit)
		r->count++;
	else
		wait = (second + 1) * USECS_PER_SEC - now;
	SpinLockRelease(&ag_shared->mutex);
	return wait;
}

/*
 * agent_guard._counter(class, decision): how many decisions of this kind
 * were made since the server started; NULL without the shared memory (not
 * preloaded).  The agent_guard.counters view shows them all.
 */
PG_FUNCTION_INFO_V1(ag_counter);
Datum
ag_counter(PG_FUNCTION_ARGS)
{
	static const char *const names[AG_NUM_COUNTERS] = {
		[AG_COUNT_PARKED] = "parked",
		[AG_COUNT_REJECTED] = "rejected",
		[AG_COUNT_LOGGED] = "logged",
		[AG_COUNT_USED] = "used",
	};
	char	   *cls = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *decision = text_to_cstring(PG_GETARG_TEXT_PP(1));

	for (int c = 0; c < AG_NUM_CLASSES; c++)
	{
		if (strcmp(cls, ag_class_name((AgClass) c)) != 0)
			continue;
		for (int d = 0; d < AG_NUM_COUNTERS; d++)
		{
			if (strcmp(decision, names[d]) != 0)
				continue;
			if (ag_shared == NULL)
				PG_RETURN_NULL();
			PG_RETURN_INT64((int64) pg_atomic_read_u64(&ag_shared->counters[c][d]));
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("agent_guard: no counter for class \"%s\" and decision \"%s\"",
					cls, decision),
			 errhint("Read the counters through the view agent_guard.counters.")));
	PG_RETURN_NULL();			/* keep the compiler quiet */
}
