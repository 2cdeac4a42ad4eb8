/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Durable writes made outside the agent's transaction: audit rows in
 *	  agent_guard.events and parked requests in agent_guard.requests.
 *
 * A rejected or parked statement aborts the agent's transaction, and an
 * agent may roll back a logged one: a row written in that transaction would
 * vanish with it.  So these rows are written by a dynamic background
 * worker, in its own transaction, connected to the same database as the
 * bootstrap superuser; the agent's backend waits for it to exit before it
 * goes on (and before it raises its ERROR), so the row is committed before
 * the agent sees the error.  This is the pg_background pattern, without
 * connecting back over libpq.  The worker sets the waiting backend's latch
 * right after its commit, so the backend does not wait for the worker's
 * exit as well.
 *
 * A job travels in a small dynamic shared memory segment: its kind, its
 * text arguments, and room for the result (request id, outcome, or the
 * worker's error message).  The worker runs one fixed SQL statement per
 * kind (ag_job_sql), with the arguments as parameters.
 *
 * Failure: ag_run_job() returns false and says why (no worker slot free,
 * the worker failed).  For an audit row the server-log line remains the
 * record; for parking the caller rejects the statement - it never lets it
 * through.  The worker sets lock_timeout and statement_timeout: the agent's
 * backend waits for it while holding its locks, so a lock the agent holds
 * on the guard's tables must make the worker give up, not wait forever.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define AG_JOB_MAX_ARGS 13

typedef struct AgJobShared
{
	Latch	   *requester_latch;	/* set by the worker after its commit */
	Oid			dbid;
	AgJobKind	kind;
	int			nargs;
	bool		done;			/* set by the worker after its commit */
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

PGDLLEXPORT void ag_worker_main(Datum arg);

/*
 * Run a job in a background worker and wait for it.  Returns true when the
 * worker committed; otherwise false with *failure saying why.
 */
bool
ag_run_job(AgJobKind kind, const char **args, int nargs, AgJobResult *result,
		   char **failure)
{
	Size		size = offsetof(AgJobShared, data);
	Size		off = 0;
	dsm_segment *seg;
	AgJobShared *sh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	bool		ok;


	Assert(nargs <= AG_JOB_MAX_ARGS);
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

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, AG_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ag_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "agent_guard writer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "agent_guard writer");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_detach(seg);
		*failure = pstrdup("no background worker slot is free (max_worker_processes)");
		return false;
	}
	/*
	 * Wait for the worker's commit, not for its exit: it sets our latch as
	 * soon as it has committed (exiting and being reaped takes as long
	 * again).  The postmaster also sets our latch when the worker stops, so
	 * a worker that fails is noticed too.
	 */
	for (;;)
	{
		pid_t		pid;

		CHECK_FOR_INTERRUPTS();
		if (sh->done)
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

void
ag_worker_main(Datum arg)
{
	dsm_segment *seg;
	AgJobShared *sh;
	Oid			argtypes[AG_JOB_MAX_ARGS];
	Datum		values[AG_JOB_MAX_ARGS];
	char		nulls[AG_JOB_MAX_ARGS];

	ag_in_internal_work = true;
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard writer: the job's shared memory is gone")));
	sh = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(sh->dbid, InvalidOid, 0);
	SetConfigOption("lock_timeout", "5000", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "10000", PGC_SUSET, PGC_S_OVERRIDE);
	/* nothing an agent created may be resolved by the writer's statements */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (int i = 0; i < sh->nargs; i++)
	{
		argtypes[i] = TEXTOID;
		values[i] = CStringGetTextDatum(sh->data + sh->offsets[i]);
		nulls[i] = sh->isnull[i] ? 'n' : ' ';
	}

	PG_TRY();
	{
		int			ret;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, ag_job_sql[sh->kind]);
		ret = SPI_execute_with_args(ag_job_sql[sh->kind], sh->nargs, argtypes,
									values, nulls, false, 0);
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
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		sh->done = true;
		SetLatch(sh->requester_latch);	/* includes a memory barrier */
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		strlcpy(sh->errmsg, edata->message, sizeof(sh->errmsg));
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		dsm_detach(seg);
		proc_exit(1);
	}
	PG_END_TRY();

	dsm_detach(seg);
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

	if (!ag_run_job(AG_JOB_AUDIT, args, lengthof(args), NULL, &failure))
		ereport(LOG,
				(errmsg("agent_guard: audit row not written: %s", failure),
				 errhidestmt(true)));
}
