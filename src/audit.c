/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Durable audit rows in agent_guard.events.
 *
 * A rejected statement aborts the agent's transaction, and an agent may
 * roll back a logged one: a row inserted in that transaction would vanish
 * with it.  So the row is written by a dynamic background worker, in its
 * own transaction, connected to the same database as the bootstrap
 * superuser; the agent's backend waits for it to exit before it goes on
 * (and before it raises its ERROR).  The event travels in a small dynamic
 * shared memory segment; the worker sets "written" there after its commit.
 *
 * Failure never lets a statement through that would otherwise be stopped,
 * and never stops one that would otherwise run: if no worker slot is free,
 * the server is a read-only standby, the extension is not installed in this
 * database, or the insert fails, the server-log line (decide.c) remains the
 * record and a LOG line says the audit row is missing.
 *
 * The worker sets lock_timeout: the agent's backend waits for it while
 * holding its locks, so a lock the agent holds on agent_guard.events (a
 * superuser agent trying to drop it, say) must make the worker give up,
 * not wait forever.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

/* Text fields of an event, in the order they are packed. */
enum
{
	AG_EV_ROLE,
	AG_EV_CLASS,
	AG_EV_DECISION,
	AG_EV_COMMAND,
	AG_EV_QUERY,
	AG_EV_CLIENT_ADDR,
	AG_EV_APPLICATION,
	AG_EV_OBJECTS,				/* objects joined by AG_OBJECT_SEP */
	AG_EV_NFIELDS
};

#define AG_OBJECT_SEP '\x1f'

typedef struct AgAuditShared
{
	Oid			dbid;
	bool		written;
	Size		offsets[AG_EV_NFIELDS];
	bool		isnull[AG_EV_NFIELDS];
	char		data[FLEXIBLE_ARRAY_MEMBER];
} AgAuditShared;

PGDLLEXPORT void ag_audit_worker_main(Datum arg);

/* inet_client_addr() as text; NULL for a Unix-socket connection */
static char *
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

void
ag_audit(AgClass cls, const char *decision, const char *command,
		 List *objects, const char *query)
{
	const char *fields[AG_EV_NFIELDS];
	StringInfoData objs;
	ListCell   *lc;
	Size		size;
	dsm_segment *seg;
	AgAuditShared *sh;
	Size		off = 0;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	bool		written;

	if (RecoveryInProgress() ||
		!OidIsValid(get_extension_oid(AG_NAME, true)))
		return;

	initStringInfo(&objs);
	foreach(lc, objects)
	{
		if (objs.len > 0)
			appendStringInfoChar(&objs, AG_OBJECT_SEP);
		appendStringInfoString(&objs, (const char *) lfirst(lc));
	}

	fields[AG_EV_ROLE] = ag_agent_role_name();
	fields[AG_EV_CLASS] = ag_class_name(cls);
	fields[AG_EV_DECISION] = decision;
	fields[AG_EV_COMMAND] = command;
	fields[AG_EV_QUERY] = query;
	fields[AG_EV_CLIENT_ADDR] = ag_client_addr();
	fields[AG_EV_APPLICATION] = application_name;
	fields[AG_EV_OBJECTS] = objects ? objs.data : NULL;

	size = offsetof(AgAuditShared, data);
	for (int i = 0; i < AG_EV_NFIELDS; i++)
		size += (fields[i] ? strlen(fields[i]) : 0) + 1;

	seg = dsm_create(size, 0);
	sh = dsm_segment_address(seg);
	sh->dbid = MyDatabaseId;
	sh->written = false;
	for (int i = 0; i < AG_EV_NFIELDS; i++)
	{
		Size		len = fields[i] ? strlen(fields[i]) : 0;

		sh->offsets[i] = off;
		sh->isnull[i] = (fields[i] == NULL);
		if (len > 0)
			memcpy(sh->data + off, fields[i], len);
		sh->data[off + len] = '\0';
		off += len + 1;
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, AG_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ag_audit_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "agent_guard audit writer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "agent_guard audit writer");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_detach(seg);
		ereport(LOG,
				(errmsg("agent_guard: audit row not written: no background worker slot is free"),
				 errhint("Raise max_worker_processes."),
				 errhidestmt(true)));
		return;
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	written = sh->written;
	dsm_detach(seg);
	if (status != BGWH_STOPPED || !written)
		ereport(LOG,
				(errmsg("agent_guard: audit row not written: the audit writer failed"),
				 errdetail("The server log holds the audit writer's error, if it reported one."),
				 errhidestmt(true)));
}

void
ag_audit_worker_main(Datum arg)
{
	dsm_segment *seg;
	AgAuditShared *sh;
	Oid			argtypes[AG_EV_NFIELDS];
	Datum		values[AG_EV_NFIELDS];
	char		nulls[AG_EV_NFIELDS];
	int			ret;

	ag_in_internal_work = true;
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard audit writer: the event segment is gone")));
	sh = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(sh->dbid, InvalidOid, 0);
	SetConfigOption("lock_timeout", "5000", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "10000", PGC_SUSET, PGC_S_OVERRIDE);

	for (int i = 0; i < AG_EV_NFIELDS; i++)
	{
		argtypes[i] = TEXTOID;
		values[i] = CStringGetTextDatum(sh->data + sh->offsets[i]);
		nulls[i] = sh->isnull[i] ? 'n' : ' ';
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "agent_guard: writing audit event");
	ret = SPI_execute_with_args(
								"INSERT INTO agent_guard.events"
								" (role_name, class, decision, command, query,"
								"  client_addr, application_name, objects)"
								" VALUES ($1, $2, $3, $4, $5, $6::inet, $7,"
								"  pg_catalog.string_to_array($8, pg_catalog.chr(31)))",
								AG_EV_NFIELDS, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("agent_guard audit writer: insert failed with SPI code %d", ret)));
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	sh->written = true;
	dsm_detach(seg);
	proc_exit(0);
}
