/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Durable writes made outside the agent's transaction: audit rows in
 *	  agent_guard.events and parked requests in agent_guard.requests.
 *
 * A rejected or parked statement aborts the agent's transaction, and an
 * agent may roll back a logged one: a row written in that transaction would
 * vanish with it.  So these rows are written by a background worker, in its
 * own transaction, connected to the same database as the bootstrap
 * superuser; the agent's backend waits until the worker has committed
 * (before it raises its ERROR), so the row is committed before the agent
 * sees the error.  This is the pg_background pattern, without connecting
 * back over libpq.
 *
 * A job travels in a small dynamic shared memory segment: its kind, its
 * text arguments, and room for the result (request id, outcome, or the
 * worker's error message).  The worker runs one fixed SQL statement per
 * kind (ag_job_sql), with the arguments as parameters, sets done (or
 * failed) and then the requester's latch.
 *
 * Who runs a job.  Starting a worker costs 15-20 ms (fork, connection,
 * cold caches), more than the whole budget for parking a statement.  So
 * each database with agent work gets a persistent writer: a slot in shared
 * memory (shmem.c) holds its database, its latch and a queue of job
 * segment handles.  The protocol, all under the slot mutex:
 *	 - a backend finds the slot of its database (or claims a free one and
 *	   registers the writer), appends its handle, and sets the writer's
 *	   latch; a writer not yet connected drains the queue when it is;
 *	 - the writer takes every handle waiting at once and runs the batch
 *	   in one transaction, each job in a subtransaction (group commit: one
 *	   WAL flush for the batch, so parks scale with concurrent agents); an
 *	   error in a job is reported back through its segment and the others
 *	   go on; after the commit it sets each requester's latch;
 *	 - a full queue makes the requester wait for room (up to 2 s) rather
 *	   than start a one-shot worker: under sustained load the writer's
 *	   batches grow instead of the number of processes;
 *	 - the writer leaves - clearing its slot under the mutex, so no job can
 *	   be queued to a writer that is gone - when it has been idle for
 *	   agent_guard.writer_idle_timeout, when asked to (leave), and on
 *	   SIGTERM or error (a before_shmem_exit callback clears the slot).
 * A requester waits on its latch and, every 100 ms, checks that the slot
 * still belongs to the writer it queued to (same generation); if the
 * writer went away without answering, the job is run by a one-shot worker
 * instead, which is also the path when no slot is free or the idle
 * timeout is 0.  A job whose requester has gone (its segment cannot be
 * attached) is skipped.
 *
 * DROP DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE RENAME or
 * SET TABLESPACE need the database to have no other connections.  The
 * ProcessUtility hook, which runs in every backend, calls
 * ag_writer_leave() for the database first; PostgreSQL itself then waits
 * up to 5 s for other backends to go (CountOtherDBBackends), which is
 * plenty for an idle writer.
 *
 * Failure: ag_run_job() returns false and says why (no worker slot free,
 * the worker failed).  For an audit row the server-log line remains the
 * record; for parking the caller rejects the statement - it never lets it
 * through.  The worker sets lock_timeout: the agent's backend waits for it
 * while holding its locks, so a lock the agent holds on the guard's tables
 * must make the worker give up, not wait forever.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define AG_JOB_MAX_ARGS 13

typedef struct AgJobShared
{
	Latch	   *requester_latch;	/* set by the worker when it is done */
	Oid			dbid;
	AgJobKind	kind;
	int			nargs;
	bool		done;			/* committed */
	bool		failed;			/* the job failed: see errmsg */
	bool		pinned;			/* nobody waits: the writer unpins it */
	int64		result_id;
	int32		result_attempts;
	char		outcome[16];
	char		errmsg[512];
	Size		offsets[AG_JOB_MAX_ARGS];
	bool		isnull[AG_JOB_MAX_ARGS];
	char		data[FLEXIBLE_ARRAY_MEMBER];
} AgJobShared;

/* The one statement each kind of job runs, with its text arguments. */
static const char *const ag_job_sql[] = {
	[AG_JOB_AUDIT] =
	"INSERT INTO agent_guard.events"
	" (role_name, class, decision, command, query, client_addr,"
	"  application_name, objects, request_id, estimated_rows)"
	" VALUES ($1, $2, $3, $4, $5, $6::inet, $7,"
	"  pg_catalog.string_to_array($8, pg_catalog.chr(31)), $9::bigint,"
	"  $10::bigint)",
	[AG_JOB_PARK] =
	"SELECT request_id, outcome, attempts FROM agent_guard._park("
	" $1, $2::oid, $3, $4, pg_catalog.string_to_array($5, pg_catalog.chr(31)),"
	" $6, $7, $8, $9::inet, $10, $11::integer, $12::interval, $13::bigint)",
};

/* How a requester waits: its latch, and a look at the writer's slot. */
#define AG_POLL_MS	100
/* How long a role past its write rate waits for room before failing. */
#define AG_RATE_WAIT_MS		5000
/* How long a requester waits for room in a full queue, in 1 ms steps. */
#define AG_QUEUE_WAIT_MS	2000
/* A slot claimed this long ago whose writer never connected is dead. */
#define AG_START_TIMEOUT_MS 10000

PGDLLEXPORT void ag_worker_main(Datum arg);
PGDLLEXPORT void ag_writer_main(Datum arg);

/* In a writer: its slot, and the generation it was started for. */
static int	ag_my_slot = -1;
static uint32 ag_my_generation = 0;

static void
ag_worker_define(BackgroundWorker *worker, const char *function, Datum arg)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, AG_NAME);
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "agent_guard writer");
	snprintf(worker->bgw_type, BGW_MAXLEN, "agent_guard writer");
	worker->bgw_main_arg = arg;
	worker->bgw_notify_pid = MyProcPid;
}

/* ---------- the requester's side ---------- */

/*
 * Queue a job segment to this database's persistent writer, starting one
 * in a free slot if there is none.  Returns the slot (and its generation
 * in *generation), or -1 when no persistent writer can take it.
 */
static int
ag_writer_submit(dsm_handle job, uint32 *generation, bool *full)
{
	int			slot = -1;
	bool		start = false;
	Latch	   *latch = NULL;
	TimestampTz now = GetCurrentTimestamp();
	AgWriterSlot *w;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	*full = false;
	if (ag_shared == NULL || ag_writer_idle_timeout <= 0)
		return -1;

	SpinLockAcquire(&ag_shared->mutex);
	for (int i = 0; i < AG_WRITER_SLOTS; i++)
	{
		w = &ag_shared->writers[i];
		/* a writer that never connected (its start failed) frees its slot */
		if (OidIsValid(w->dbid) && w->pid == 0 &&
			TimestampDifferenceExceeds(w->claimed_at, now, AG_START_TIMEOUT_MS))
			w->dbid = InvalidOid;
		if (w->dbid == MyDatabaseId && !w->leave)
			slot = i;
	}
	if (slot < 0)
	{
		for (int i = 0; i < AG_WRITER_SLOTS && slot < 0; i++)
		{
			w = &ag_shared->writers[i];
			if (!OidIsValid(w->dbid))
			{
				slot = i;
				start = true;
				w->dbid = MyDatabaseId;
				w->generation++;
				w->pid = 0;
				w->latch = NULL;
				w->leave = false;
				w->claimed_at = now;
				w->head = 0;
				w->count = 0;
			}
		}
	}
	if (slot >= 0)
	{
		w = &ag_shared->writers[slot];
		if (w->count < AG_WRITER_QUEUE)
		{
			w->queue[(w->head + w->count) % AG_WRITER_QUEUE] = job;
			w->count++;
			latch = w->latch;
			*generation = w->generation;
		}
		else
		{
			slot = -1;			/* queue full: the caller waits for room */
			*full = true;
		}
	}
	SpinLockRelease(&ag_shared->mutex);

	if (latch != NULL)
		SetLatch(latch);
	if (!start)
		return slot;

	ag_worker_define(&worker, "ag_writer_main", Int32GetDatum(slot));
	memcpy(worker.bgw_extra, generation, sizeof(uint32));
	worker.bgw_notify_pid = 0;	/* the writer outlives this statement */
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		/* give the slot back, with whatever was queued to it meanwhile */
		SpinLockAcquire(&ag_shared->mutex);
		w = &ag_shared->writers[slot];
		if (w->generation == *generation)
			w->dbid = InvalidOid;
		SpinLockRelease(&ag_shared->mutex);
		return -1;
	}
	return slot;
}

/*
 * Is the writer we queued to still there, or still starting?  One that has
 * not connected within AG_START_TIMEOUT_MS never will (it could not be
 * forked, say): its slot is reclaimed by the next claim.
 */
static bool
ag_writer_alive(int slot, uint32 generation)
{
	AgWriterSlot *w = &ag_shared->writers[slot];
	TimestampTz now = GetCurrentTimestamp();
	bool		alive;

	SpinLockAcquire(&ag_shared->mutex);
	alive = w->generation == generation && OidIsValid(w->dbid) &&
		!(w->pid == 0 &&
		  TimestampDifferenceExceeds(w->claimed_at, now, AG_START_TIMEOUT_MS));
	SpinLockRelease(&ag_shared->mutex);
	return alive;
}

/* Run the job in a one-shot worker and wait for its answer. */
static bool
ag_run_one_shot(dsm_segment *seg, AgJobShared *sh, char **failure)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;

	ag_worker_define(&worker, "ag_worker_main",
					 UInt32GetDatum(dsm_segment_handle(seg)));
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		*failure = pstrdup("no background worker slot is free (max_worker_processes)");
		return false;
	}
	/*
	 * The worker sets our latch when it is done; the postmaster also sets
	 * it when the worker stops, so a worker that fails is noticed too.
	 */
	for (;;)
	{
		pid_t		pid;

		CHECK_FOR_INTERRUPTS();
		if (sh->done || sh->failed)
			break;
		status = GetBackgroundWorkerPid(handle, &pid);
		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
		{
			pg_read_barrier();
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, 0,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	return true;
}

/*
 * Fairness between agents: one agent role may ask the writer of a database
 * for agent_guard.role_write_rate durable writes a second (parks, audit
 * rows, across all its sessions).  A role past its rate waits - its
 * statement is held, it uses no CPU and no writer time - until the next
 * second has room, so a runaway agent slows itself down instead of every
 * other agent; after AG_RATE_WAIT_MS without room the write fails (a park
 * is rejected instead, an audit row is left to the server log line).
 * Human sessions and the guard's own workers are never limited.
 */
static bool
ag_rate_wait(char **failure)
{
	TimestampTz start;
	Oid			role;

	if (ag_role_write_rate <= 0 || ag_shared == NULL ||
		ag_session_action() == AG_ACTION_NONE)
		return true;
	role = ag_agent_role();
	start = GetCurrentTimestamp();
	for (;;)
	{
		int64		wait = ag_rate_take(MyDatabaseId, role, ag_role_write_rate);

		if (wait == 0)
			return true;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), AG_RATE_WAIT_MS))
		{
			*failure = psprintf("role \"%s\" asked for more than %d durable writes a second for %d seconds (agent_guard.role_write_rate)",
								ag_agent_role_name(), ag_role_write_rate,
								AG_RATE_WAIT_MS / 1000);
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) (wait / 1000) + 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Run a job in a background worker and wait for it.  Returns true when the
 * worker committed; otherwise false with *failure saying why.
 *
 * With nowait, the job is handed to the persistent writer and not waited
 * for: the segment is pinned, so it outlives this backend's mapping, and
 * the writer unpins it when done.  Where no persistent writer takes it,
 * the job is run and waited for as usual.
 */
bool
ag_run_job(AgJobKind kind, const char **args, int nargs, AgJobResult *result,
		   char **failure, bool nowait)
{
	Size		size = offsetof(AgJobShared, data);
	Size		off = 0;
	dsm_segment *seg;
	AgJobShared *sh;
	int			slot;
	uint32		generation = 0;
	bool		ok;

	Assert(nargs <= AG_JOB_MAX_ARGS);
	if (!ag_rate_wait(failure))
		return false;
	for (int i = 0; i < nargs; i++)
		size += (args[i] ? strlen(args[i]) : 0) + 1;

	seg = dsm_create(size, 0);
	sh = dsm_segment_address(seg);
	memset(sh, 0, offsetof(AgJobShared, data));
	sh->requester_latch = &MyProc->procLatch;
	sh->dbid = MyDatabaseId;
	sh->kind = kind;
	sh->nargs = nargs;
	for (int i = 0; i < nargs; i++)
	{
		Size		len = args[i] ? strlen(args[i]) : 0;

		sh->offsets[i] = off;
		sh->isnull[i] = (args[i] == NULL);
		if (len > 0)
			memcpy(sh->data + off, args[i], len);
		sh->data[off + len] = '\0';
		off += len + 1;
	}
	if (nowait)
	{
		dsm_pin_segment(seg);
		sh->pinned = true;
	}
	pg_write_barrier();

	/*
	 * A full queue empties within a batch or two: wait for room rather than
	 * start a one-shot worker (15-20 ms, and one more process) per job.
	 */
	for (int waited = 0;; waited++)
	{
		bool		full;

		slot = ag_writer_submit(dsm_segment_handle(seg), &generation, &full);
		if (slot >= 0 || !full || waited >= AG_QUEUE_WAIT_MS)
			break;
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 PG_WAIT_EXTENSION);
	}
	if (nowait)
	{
		if (slot >= 0)
		{
			dsm_detach(seg);
			return true;
		}
		sh->pinned = false;
		dsm_unpin_segment(dsm_segment_handle(seg));
	}
	if (slot >= 0)
	{
		/* wait for the writer; if it goes away unanswered, go one-shot */
		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			if (sh->done || sh->failed)
				break;
			if (!ag_writer_alive(slot, generation))
			{
				pg_read_barrier();
				if (!sh->done && !sh->failed)
					slot = -1;
				break;
			}
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 AG_POLL_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	if (slot < 0 && !ag_run_one_shot(seg, sh, failure))
	{
		dsm_detach(seg);
		return false;
	}

	pg_read_barrier();
	ok = sh->done;
	if (ok && result != NULL)
	{
		result->id = sh->result_id;
		result->attempts = sh->result_attempts;
		strlcpy(result->outcome, sh->outcome, sizeof(result->outcome));
	}
	if (!ok)
		*failure = sh->errmsg[0] ? pstrdup(sh->errmsg) :
			pstrdup("the agent_guard writer stopped before it committed");
	dsm_detach(seg);
	return ok;
}

/*
 * Ask the writer of a database to leave (DROP DATABASE and the other
 * commands that need the database to themselves).  Does not wait: the
 * command itself waits for other backends to go.
 */
void
ag_writer_leave(Oid dbid)
{
	Latch	   *latch = NULL;

	if (ag_shared == NULL || !OidIsValid(dbid))
		return;
	SpinLockAcquire(&ag_shared->mutex);
	for (int i = 0; i < AG_WRITER_SLOTS; i++)
	{
		AgWriterSlot *w = &ag_shared->writers[i];

		if (w->dbid == dbid)
		{
			w->leave = true;
			latch = w->latch;
		}
	}
	SpinLockRelease(&ag_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/* ---------- the worker's side ---------- */

static void
ag_worker_connect(Oid dbid)
{
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	SetConfigOption("lock_timeout", "5000", PGC_SUSET, PGC_S_OVERRIDE);
	/* nothing an agent created may be resolved by the writer's statements */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * The statement of each kind of job, planned once per writer and kept
 * (the plan cache replans it after a change of the guard's objects).
 */
static SPIPlanPtr ag_job_plans[lengthof(ag_job_sql)];

/* Run one job's statement; its result goes into the segment. */
static void
ag_job_run_sql(AgJobShared *sh)
{
	Oid			argtypes[AG_JOB_MAX_ARGS];
	Datum		values[AG_JOB_MAX_ARGS];
	char		nulls[AG_JOB_MAX_ARGS];
	int			ret;

	for (int i = 0; i < sh->nargs; i++)
	{
		argtypes[i] = TEXTOID;
		values[i] = CStringGetTextDatum(sh->data + sh->offsets[i]);
		nulls[i] = sh->isnull[i] ? 'n' : ' ';
	}
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (ag_job_plans[sh->kind] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(ag_job_sql[sh->kind], sh->nargs, argtypes);

		if (plan == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("agent_guard writer: SPI error %d", SPI_result)));
		SPI_keepplan(plan);
		ag_job_plans[sh->kind] = plan;
	}
	ret = SPI_execute_plan(ag_job_plans[sh->kind], values, nulls, false, 0);
	if (ret < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("agent_guard writer: SPI error %d", ret)));
	if (sh->kind == AG_JOB_PARK && SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		char	   *outcome = SPI_getvalue(tup, desc, 2);
		char	   *attempts = SPI_getvalue(tup, desc, 3);

		sh->result_id = id ? strtoi64(id, NULL, 10) : 0;
		sh->result_attempts = attempts ? atoi(attempts) : 0;
		strlcpy(sh->outcome, outcome ? outcome : "", sizeof(sh->outcome));
	}
	SPI_finish();
	PopActiveSnapshot();
}

/* Keep an error's message for the requester and clear it. */
static void
ag_job_take_error(AgJobShared *sh, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	strlcpy(sh->errmsg, edata->message, sizeof(sh->errmsg));
	EmitErrorReport();
	FlushErrorState();
	FreeErrorData(edata);
}

/*
 * Run a batch of jobs in one transaction (group commit: one WAL flush for
 * all of them), each in a subtransaction of its own, so that a failing job
 * is reported back (failed, errmsg) without taking the others with it.
 * A job is done only once the transaction has committed: the requesters'
 * latches are set after the commit, so a parked request is durable before
 * its agent sees the error.  If the commit itself fails, every job of the
 * batch has failed.  The writer recovers from any error and goes on with
 * the next batch.
 */
static void
ag_jobs_execute(AgJobShared **jobs, int njobs)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner;
	volatile bool failed[AG_WRITER_QUEUE] = {0};

	Assert(njobs <= AG_WRITER_QUEUE);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		pgstat_report_activity(STATE_RUNNING, "agent_guard writer batch");
		oldowner = CurrentResourceOwner;
		for (int i = 0; i < njobs; i++)
		{
			MemoryContext txcxt = CurrentMemoryContext;

			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(txcxt);
			PG_TRY();
			{
				ag_job_run_sql(jobs[i]);
				ReleaseCurrentSubTransaction();
			}
			PG_CATCH();
			{
				ag_job_take_error(jobs[i], txcxt);
				RollbackAndReleaseCurrentSubTransaction();
				failed[i] = true;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(txcxt);
			CurrentResourceOwner = oldowner;
		}
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* the transaction failed as a whole: nothing of the batch is there */
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		for (int i = 0; i < njobs; i++)
			if (!failed[i])
			{
				strlcpy(jobs[i]->errmsg, edata->message, sizeof(jobs[i]->errmsg));
				failed[i] = true;
			}
		FreeErrorData(edata);
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	for (int i = 0; i < njobs; i++)
	{
		/* the result fields before the flag that says they are there */
		pg_write_barrier();
		if (failed[i])
			jobs[i]->failed = true;
		else
			jobs[i]->done = true;
		SetLatch(jobs[i]->requester_latch);
	}
}

/* The one-shot worker: one job, then exit. */
void
ag_worker_main(Datum arg)
{
	dsm_segment *seg;
	AgJobShared *sh;
	bool		done;

	ag_in_internal_work = true;
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard writer: the job's shared memory is gone")));
	sh = dsm_segment_address(seg);
	ag_worker_connect(sh->dbid);
	ag_jobs_execute(&sh, 1);
	done = sh->done;
	dsm_detach(seg);			/* sh is gone from here on */
	proc_exit(done ? 0 : 1);
}

/* A writer that goes, for whatever reason, frees its slot first. */
static void
ag_writer_release(int code, Datum arg)
{
	AgWriterSlot *w = &ag_shared->writers[ag_my_slot];

	SpinLockAcquire(&ag_shared->mutex);
	if (w->generation == ag_my_generation)
		w->dbid = InvalidOid;	/* free; claiming resets the rest */
	SpinLockRelease(&ag_shared->mutex);
}

/* The persistent writer of one database (see the header comment). */
void
ag_writer_main(Datum arg)
{
	AgWriterSlot *w;
	Oid			dbid;
	TimestampTz last_job = GetCurrentTimestamp();

	ag_in_internal_work = true;
	ag_my_slot = DatumGetInt32(arg);
	memcpy(&ag_my_generation, MyBgworkerEntry->bgw_extra, sizeof(uint32));
	if (ag_shared == NULL || ag_my_slot < 0 || ag_my_slot >= AG_WRITER_SLOTS)
		proc_exit(1);
	w = &ag_shared->writers[ag_my_slot];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	before_shmem_exit(ag_writer_release, (Datum) 0);

	SpinLockAcquire(&ag_shared->mutex);
	dbid = (w->generation == ag_my_generation) ? w->dbid : InvalidOid;
	SpinLockRelease(&ag_shared->mutex);
	if (!OidIsValid(dbid))
		proc_exit(0);			/* the slot was given up meanwhile */

	ag_worker_connect(dbid);

	SpinLockAcquire(&ag_shared->mutex);
	if (w->generation == ag_my_generation)
	{
		w->pid = MyProcPid;
		w->latch = MyLatch;
	}
	SpinLockRelease(&ag_shared->mutex);

	for (;;)
	{
		dsm_handle	jobs[AG_WRITER_QUEUE];
		int			njobs = 0;
		bool		leave = false;
		long		idle_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		idle_ms = ag_writer_idle_timeout * 1000L -
			(long) ((GetCurrentTimestamp() - last_job) / 1000);

		SpinLockAcquire(&ag_shared->mutex);
		if (w->generation != ag_my_generation)
			leave = true;
		else if (w->count > 0)
		{
			/* every job waiting: one batch, one commit */
			for (njobs = 0; w->count > 0; njobs++)
			{
				jobs[njobs] = w->queue[w->head];
				w->head = (w->head + 1) % AG_WRITER_QUEUE;
				w->count--;
			}
		}
		else if (w->leave || idle_ms <= 0)
		{
			/* nothing queued: free the slot, so nothing more can be */
			w->dbid = InvalidOid;
			leave = true;
		}
		SpinLockRelease(&ag_shared->mutex);
		if (leave)
			break;

		if (njobs > 0)
		{
			dsm_segment *segs[AG_WRITER_QUEUE];
			AgJobShared *shs[AG_WRITER_QUEUE];
			int			nrun = 0;

			/* no segment: the requester has gone, nobody needs the row */
			for (int i = 0; i < njobs; i++)
			{
				dsm_segment *seg = dsm_attach(jobs[i]);

				if (seg == NULL)
					continue;
				segs[nrun] = seg;
				shs[nrun++] = dsm_segment_address(seg);
			}
			ag_jobs_execute(shs, nrun);
			for (int i = 0; i < nrun; i++)
			{
				if (shs[i]->pinned)
					dsm_unpin_segment(dsm_segment_handle(segs[i]));
				dsm_detach(segs[i]);
			}
			last_job = GetCurrentTimestamp();
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(idle_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/* inet_client_addr() as text; NULL for a Unix-socket connection */
char *
ag_client_addr(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		addr;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	addr = inet_client_addr(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(inet_out, addr));
}

/* Objects joined with the unit separator, as the jobs' SQL splits them. */
char *
ag_join_objects(List *objects)
{
	StringInfoData buf;
	ListCell   *lc;

	if (objects == NIL)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, objects)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, '\x1f');
		appendStringInfoString(&buf, (const char *) lfirst(lc));
	}
	return buf.data;
}

/*
 * Does this backend hold a lock on one of the guard's relations that
 * blocks the writer's INSERT (ShareLock or stronger)?  Only a tamper
 * attempt can, in the statement being refused (ALTER TABLE, TRUNCATE,
 * CREATE TRIGGER ... on agent_guard.events): PostgreSQL takes the lock
 * before the guard sees the statement.  Waiting for the writer would then
 * wait for ourselves (until lock_timeout) and lose the row; not waiting
 * lets the writer insert it as soon as the refused statement's transaction
 * has aborted.  A rare path, so reading the lock table is fine.
 */
static bool
ag_holds_guard_lock(void)
{
	LockData   *locks = GetLockStatusData();
	LOCKMASK	strong = LOCKBIT_ON(ShareLock) | LOCKBIT_ON(ShareRowExclusiveLock) |
		LOCKBIT_ON(ExclusiveLock) | LOCKBIT_ON(AccessExclusiveLock);

	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];

		if (l->pid == MyProcPid && (l->holdMask & strong) != 0 &&
			l->locktag.locktag_type == LOCKTAG_RELATION &&
			l->locktag.locktag_field1 == MyDatabaseId &&
			get_rel_namespace(l->locktag.locktag_field2) == ag_guard_schema())
			return true;
	}
	return false;
}

/*
 * One durable audit row.  Where it cannot be written (no extension in this
 * database, a standby, no worker) the decision's server-log line remains
 * the record, and a LOG line says the row is missing.
 */
void
ag_audit(AgClass cls, const char *decision, const char *command,
		 List *objects, const char *query, int64 request_id,
		 int64 estimated_rows)
{
	const char *args[10];
	char	   *failure;

	if (RecoveryInProgress() || !OidIsValid(ag_guard_schema()))
		return;

	args[0] = ag_agent_role_name();
	args[1] = ag_class_name(cls);
	args[2] = decision;
	args[3] = command;
	args[4] = query;
	args[5] = ag_client_addr();
	args[6] = application_name;
	args[7] = ag_join_objects(objects);
	args[8] = request_id > 0 ? psprintf(INT64_FORMAT, request_id) : NULL;
	args[9] = estimated_rows >= 0 ? psprintf(INT64_FORMAT, estimated_rows) : NULL;

	if (!ag_run_job(AG_JOB_AUDIT, args, lengthof(args), NULL, &failure,
					cls == AG_CLASS_GUARD && ag_holds_guard_lock()))
		ereport(LOG,
				(errmsg("agent_guard: audit row not written: %s", failure),
				 errhidestmt(true)));
}
