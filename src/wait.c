/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  agent_guard.wait(request_id, timeout): wait for the decision on a
 *	  request without polling.
 *
 * Waiting.  A backend that waits puts (database, request id, its latch)
 * into a slot of a small table in shared memory, reads the request's
 * status, and sleeps on its latch (WaitLatch with the time left) until the
 * status changes, the timeout passes, or the request's own expiry time
 * (created_at + agent_guard.request_ttl, as agent_guard.pending counts it)
 * comes.  Every status change of a request (approve, reject, expiry, use)
 * fires the trigger agent_guard._wake_waiters on agent_guard.requests,
 * which notes the request in the changing backend; when that transaction
 * commits (XACT_EVENT_COMMIT comes after the commit is visible to new
 * snapshots), it sets the latch of every backend waiting for it.  A rolled
 * back change wakes nobody.  The slot is filled before the status is read,
 * so a decision committed in between either is seen by the read or finds
 * the slot and sets the latch: no wake-up is lost, and there is no loop
 * that reads the table on a timer.
 *
 * Locks and snapshots.  Each read of the status opens agent_guard.requests
 * and its primary key with AccessShareLock and a fresh snapshot
 * (GetLatestSnapshot: it sees decisions committed since the calling
 * statement began, in every isolation level) and releases both before
 * sleeping.  So wait() holds no lock while it sleeps and takes no snapshot
 * of its own; the statement that calls it keeps the snapshot every running
 * statement keeps (its portal's, and in REPEATABLE READ the transaction's),
 * which holds back VACUUM's horizon for as long as the wait lasts, as any
 * query of that length would.
 *
 * Interrupts: the loop calls CHECK_FOR_INTERRUPTS after every wake-up, so
 * a cancel or statement_timeout ends the wait with their usual error; the
 * slot is cleared on every exit (PG_FINALLY, and a before_shmem_exit
 * callback for a backend that dies waiting).
 *
 * State: the slot table (shared memory, one slot per backend that can
 * wait, under its spinlock); per backend, the slot in use and the list of
 * requests to wake at commit (TopMemoryContext, emptied at every
 * transaction end).
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/trigger.h"
#include "parser/parse_relation.h"
#include "fmgr.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct AgWaiter
{
	Oid			dbid;			/* InvalidOid: free */
	int64		request_id;
	Latch	   *latch;
} AgWaiter;

typedef struct AgWaiters
{
	slock_t		mutex;
	int			nslots;
	AgWaiter	slots[FLEXIBLE_ARRAY_MEMBER];
} AgWaiters;

static AgWaiters *ag_waiters = NULL;
static int	ag_my_slot = -1;
static List *ag_to_wake = NIL;	/* int64 * in TopMemoryContext */

static Size
ag_waiters_size(void)
{
	return add_size(offsetof(AgWaiters, slots),
					mul_size(MaxBackends, sizeof(AgWaiter)));
}

/* shmem.c: the space to ask for at server start */
Size
ag_wait_shmem_size(void)
{
	return MAXALIGN(ag_waiters_size());
}

/* shmem.c, under AddinShmemInitLock */
void
ag_wait_shmem_startup(void)
{
	bool		found;

	ag_waiters = ShmemInitStruct(AG_NAME " waiters", ag_waiters_size(), &found);
	if (!found)
	{
		memset(ag_waiters, 0, ag_waiters_size());
		SpinLockInit(&ag_waiters->mutex);
		ag_waiters->nslots = MaxBackends;
	}
}

static void
ag_waiter_clear(int code, Datum arg)
{
	if (ag_my_slot < 0 || ag_waiters == NULL)
		return;
	SpinLockAcquire(&ag_waiters->mutex);
	ag_waiters->slots[ag_my_slot].dbid = InvalidOid;
	SpinLockRelease(&ag_waiters->mutex);
	ag_my_slot = -1;
}

static void
ag_waiter_set(int64 request_id)
{
	static bool exit_callback = false;

	if (!exit_callback)
	{
		before_shmem_exit(ag_waiter_clear, (Datum) 0);
		exit_callback = true;
	}
	SpinLockAcquire(&ag_waiters->mutex);
	for (int i = 0; i < ag_waiters->nslots; i++)
	{
		if (OidIsValid(ag_waiters->slots[i].dbid))
			continue;
		ag_waiters->slots[i].dbid = MyDatabaseId;
		ag_waiters->slots[i].request_id = request_id;
		ag_waiters->slots[i].latch = MyLatch;
		ag_my_slot = i;
		break;
	}
	SpinLockRelease(&ag_waiters->mutex);
	if (ag_my_slot < 0)			/* one slot per backend: cannot happen */
		elog(ERROR, "agent_guard: no free waiter slot");
}

/* ---------- waking, at commit ---------- */

static void
ag_wake_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (ag_to_wake == NIL)
		return;
	if (event == XACT_EVENT_COMMIT && ag_waiters != NULL)
	{
		foreach(lc, ag_to_wake)
		{
			int64		id = *(int64 *) lfirst(lc);
			Latch	   *latches[64];
			int			n = 0;

			SpinLockAcquire(&ag_waiters->mutex);
			for (int i = 0; i < ag_waiters->nslots && n < lengthof(latches); i++)
			{
				AgWaiter   *w = &ag_waiters->slots[i];

				if (w->dbid == MyDatabaseId && w->request_id == id)
					latches[n++] = w->latch;
			}
			SpinLockRelease(&ag_waiters->mutex);
			for (int i = 0; i < n; i++)
				SetLatch(latches[i]);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
	{
		list_free_deep(ag_to_wake);
		ag_to_wake = NIL;
	}
}

/*
 * agent_guard._wake_waiters(): AFTER UPDATE trigger on agent_guard.requests
 * for rows whose status changed: wake the backends waiting for them once
 * this transaction commits.
 */
PG_FUNCTION_INFO_V1(ag_wake_waiters);
Datum
ag_wake_waiters(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	static bool registered = false;
	bool		isnull;
	Datum		id;
	int64	   *copy;
	MemoryContext old;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("agent_guard._wake_waiters() must be called as a row trigger on update")));
	if (!registered)
	{
		RegisterXactCallback(ag_wake_xact_callback, NULL);
		registered = true;
	}
	id = heap_getattr(trigdata->tg_newtuple,
					  attnameAttNum(trigdata->tg_relation, "id", false),
					  RelationGetDescr(trigdata->tg_relation), &isnull);
	if (!isnull)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		copy = palloc(sizeof(int64));
		*copy = DatumGetInt64(id);
		ag_to_wake = lappend(ag_to_wake, copy);
		MemoryContextSwitchTo(old);
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}

/* ---------- reading a request ---------- */

typedef struct AgRequestState
{
	bool		found;
	Oid			role_oid;
	char	   *status;
	TimestampTz created_at;
	TimestampTz permit_expires_at;	/* 0 when NULL */
} AgRequestState;

static Datum
ag_request_attr(Relation rel, HeapTuple tup, const char *name, bool *isnull)
{
	return heap_getattr(tup, attnameAttNum(rel, name, false),
						RelationGetDescr(rel), isnull);
}

/*
 * Read one request with a fresh snapshot; the lock on the table and its
 * index, and the snapshot, are released before returning.
 */
static void
ag_read_request(int64 id, AgRequestState *rs)
{
	Oid			schema = ag_guard_schema();
	Oid			relid = get_relname_relid("requests", schema);
	Oid			indexid = get_relname_relid("requests_pkey", schema);
	Relation	rel;
	Snapshot	snap;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;

	memset(rs, 0, sizeof(*rs));
	if (!OidIsValid(relid) || !OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard: the table agent_guard.requests is missing in this database")));
	rel = table_open(relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, attnameAttNum(rel, "id", false), BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(rel, indexid, true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		rs->found = true;
		rs->role_oid = DatumGetObjectId(ag_request_attr(rel, tup, "role_oid", &isnull));
		rs->status = TextDatumGetCString(ag_request_attr(rel, tup, "status", &isnull));
		rs->created_at = DatumGetTimestampTz(ag_request_attr(rel, tup, "created_at", &isnull));
		d = ag_request_attr(rel, tup, "permit_expires_at", &isnull);
		rs->permit_expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
}

/*
 * May this session wait for a request of role "owner"?  Its own role's
 * requests always; a human session also every request when it may read
 * agent_guard.pending or agent_guard.requests (an approver).
 */
static bool
ag_may_wait_for(Oid owner)
{
	Oid			schema = ag_guard_schema();

	if (owner == ag_agent_role() || has_privs_of_role(GetUserId(), owner))
		return true;
	if (ag_session_action() != AG_ACTION_NONE)
		return false;
	return pg_class_aclcheck(get_relname_relid("pending", schema), GetUserId(),
							 ACL_SELECT) == ACLCHECK_OK ||
		pg_class_aclcheck(get_relname_relid("requests", schema), GetUserId(),
						  ACL_SELECT) == ACLCHECK_OK;
}

/*
 * The status wait() reports, and when it would next change by itself (a
 * pending request expiring; 0: never).
 */
static const char *
ag_wait_status(const AgRequestState *rs, TimestampTz now, TimestampTz *expires)
{
	*expires = 0;
	if (strcmp(rs->status, "pending") == 0)
	{
		TimestampTz until = rs->created_at + (int64) ag_request_ttl * USECS_PER_SEC;

		if (now >= until)
			return "expired";
		*expires = until;
		return "pending";
	}
	if (strcmp(rs->status, "approved") == 0 && rs->permit_expires_at != 0 &&
		now >= rs->permit_expires_at)
		return "expired";
	return rs->status;
}

/*
 * agent_guard.wait(request_id bigint, timeout interval DEFAULT '5 minutes')
 * RETURNS text: approved, rejected, expired (or used), as soon as the
 * request leaves pending; pending when the timeout passes first.
 */
PG_FUNCTION_INFO_V1(ag_wait);
Datum
ag_wait(PG_FUNCTION_ARGS)
{
	int64		id;
	Interval   *timeout;
	int64		timeout_us;
	TimestampTz deadline;
	AgRequestState rs;
	const char *volatile result = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request id must not be null"),
				 errhint("Pass the id of the request named by the parked statement's error, for example agent_guard.wait(17).")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout must not be null"),
				 errhint("Pass how long to wait, for example agent_guard.wait(17, '30 seconds'), or leave it out for 5 minutes.")));
	id = PG_GETARG_INT64(0);
	timeout = PG_GETARG_INTERVAL_P(1);
	timeout_us = timeout->time +
		((int64) timeout->month * DAYS_PER_MONTH + timeout->day) * USECS_PER_DAY;
	if (timeout_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative"),
				 errhint("Pass how long to wait, for example '30 seconds'; '0' only reads the status.")));
	if (ag_waiters == NULL || !OidIsValid(ag_guard_schema()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard.wait() needs agent_guard in shared_preload_libraries")));

	ag_read_request(id, &rs);
	if (!rs.found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("agent_guard request " INT64_FORMAT " does not exist", id),
				 errhint("Pass the id named by the parked statement's error (\"parked for approval as request N\").")));
	if (!ag_may_wait_for(rs.role_oid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent_guard request " INT64_FORMAT " belongs to another role", id),
				 errdetail("A session may wait only for the requests of its own role, unless it is a human session that may read agent_guard.pending."),
				 errhint("Wait for the requests your own statements parked.")));

	deadline = GetCurrentTimestamp() + Min(timeout_us, PG_INT64_MAX / 4);
	ag_waiter_set(id);
	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now;
			TimestampTz expires;
			TimestampTz until;
			long		ms;
			const char *st;

			/* read after the slot is set: a later commit sets our latch */
			ag_read_request(id, &rs);
			now = GetCurrentTimestamp();
			if (!rs.found)
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("agent_guard request " INT64_FORMAT " was deleted while waiting", id)));
			st = ag_wait_status(&rs, now, &expires);
			if (strcmp(st, "pending") != 0 || now >= deadline)
			{
				result = st;
				break;
			}
			until = expires != 0 && expires < deadline ? expires : deadline;
			ms = (long) Min((until - now + 999) / 1000, (int64) INT_MAX);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		ag_waiter_clear(0, (Datum) 0);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
