/*-------------------------------------------------------------------------
 *
 * preflight.c
 *	  agent_guard.check(query): what the guard would decide for one
 *	  statement in the caller's session, without running it or recording
 *	  anything.
 *
 * The guard is put in preflight mode (ag_preflight): the first decision
 * it reaches - in ag_decide() or ag_tamper(), before any audit row,
 * request, NOTIFY, server-log line, counter or permit - is copied out
 * (ag_preflight_decided) and raised as an error that stops the statement
 * there.  So a statement is never let through by check(): log mode stops
 * it too, and nothing the guard would have stopped has run.
 *
 * How a statement is looked at:
 *	 - SELECT, INSERT, UPDATE, DELETE, MERGE are parsed, rewritten and
 *	   planned, never executed: the guard's plan checks (dml.c: writes to
 *	   the guard's tables, unbounded, estimate above the row limit) are
 *	   applied to each plan.  What only the exact count would show when it
 *	   runs (more rows than the estimate), and what functions it calls do,
 *	   are not known.
 *	 - other statements run, through SPI, inside a subtransaction that is
 *	   always rolled back: DROP and TRUNCATE are decided when they have
 *	   computed what they remove, so the result lists what a CASCADE takes.
 *	   Their locks are released with the subtransaction.
 *	 - statements that cannot run inside a function or a transaction block
 *	   (transaction control, VACUUM, CREATE DATABASE, CREATE INDEX
 *	   CONCURRENTLY, ALTER SYSTEM, ...) are not run: the drops among them
 *	   that the guard decides before they run (DROP DATABASE, DROP
 *	   TABLESPACE, DROP SUBSCRIPTION, DROP INDEX CONCURRENTLY) still get the
 *	   decision; the others come back as unknown.
 * The planning and the subtransaction both happen inside a subtransaction
 * that check() rolls back, whatever happens; an error that is not the
 * guard's decision (a missing table, a syntax error) comes back as unknown
 * with its message; a cancel is re-raised.
 *
 * Permits and grants are not consulted: check() reports the guard's rule,
 * and a statement it reports as park may still run on an approval or a
 * grant.
 *
 * State: ag_preflight (per backend, true only while check() runs a
 * statement) and the decision it collected, allocated in the memory
 * context of the check() call.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

bool		ag_preflight = false;

typedef struct AgPreflightResult
{
	const char *cls;
	const char *decision;
	List	   *objects;
	int64		estimated_rows;
	const char *reason;
} AgPreflightResult;

static MemoryContext ag_preflight_cxt = NULL;
static AgPreflightResult *ag_preflight_result = NULL;

/*
 * The guard reached a decision on the statement check() is looking at:
 * keep it and stop the statement.
 */
void
ag_preflight_decided(AgClass cls, const char *decision, List *objects,
					 int64 estimated_rows, const char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(ag_preflight_cxt);
	AgPreflightResult *r = palloc0(sizeof(AgPreflightResult));
	ListCell   *lc;

	r->cls = pstrdup(ag_class_name(cls));
	r->decision = pstrdup(decision);
	foreach(lc, objects)
		r->objects = lappend(r->objects, pstrdup((const char *) lfirst(lc)));
	r->estimated_rows = estimated_rows;
	r->reason = reason ? pstrdup(reason) : NULL;
	ag_preflight_result = r;
	MemoryContextSwitchTo(old);
	ereport(ERROR,
			(errcode(ERRCODE_AG_PARKED),
			 errmsg("agent_guard: preflight decision reached")));
}

/*
 * Statements that cannot run inside a function or a transaction block,
 * and that the guard does not decide before they run: unknown.
 */
static const char *
ag_preflight_cannot_run(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
			return "Transaction control (BEGIN, COMMIT, ROLLBACK, savepoints, PREPARE TRANSACTION) is not guarded and cannot be checked inside a function.";
		case T_VacuumStmt:
		case T_CreatedbStmt:
		case T_AlterSystemStmt:
		case T_CreateTableSpaceStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_CheckPointStmt:
			return "The statement cannot run inside a transaction block or a function, so check() cannot run it; the guard decides it when it runs.";
		case T_IndexStmt:
			if (((IndexStmt *) stmt)->concurrent)
				return "CREATE INDEX CONCURRENTLY cannot run inside a transaction block or a function, so check() cannot run it; the guard decides it when it runs.";
			return NULL;
		case T_ReindexStmt:
			return "REINDEX may not run inside a transaction block (CONCURRENTLY, SYSTEM, DATABASE), so check() does not run it; the guard decides it when it runs.";
		default:
			return NULL;
	}
}

static bool
ag_preflight_is_dml(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_SelectStmt:
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
		case T_MergeStmt:
			return true;
		default:
			return false;
	}
}

/* Plan a DML statement and apply the guard's plan checks; never run it. */
static void
ag_preflight_plan(RawStmt *raw, const char *query)
{
	List	   *qtrees;
	ListCell   *lc;

	PushActiveSnapshot(GetTransactionSnapshot());
	qtrees = pg_analyze_and_rewrite_fixedparams(raw, query, NULL, 0, NULL);
	foreach(lc, qtrees)
	{
		Query	   *q = lfirst_node(Query, lc);
		PlannedStmt *ps;
		QueryDesc  *qd;

		if (q->commandType == CMD_UTILITY)
			continue;			/* NOTIFY of a rule */
		ps = AG_PLAN_QUERY(q, query, CURSOR_OPT_PARALLEL_OK, NULL);
		qd = CreateQueryDesc(ps, query, GetActiveSnapshot(), InvalidSnapshot,
							 None_Receiver, NULL, NULL, 0);
		ag_dml_preflight(qd);
		FreeQueryDesc(qd);
	}
	PopActiveSnapshot();
}

/* Run any other statement; the caller rolls it back. */
static void
ag_preflight_run(const char *query)
{
	int			rc;

	SPI_connect();
	rc = SPI_execute(query, false, 0);
	if (rc < 0)
		elog(ERROR, "agent_guard: check() could not run the statement: %s",
			 SPI_result_code_string(rc));
	SPI_finish();
}

static void
ag_preflight_row(ReturnSetInfo *rsinfo, const char *cls, const char *decision,
				 List *objects, int64 estimated_rows, const char *reason)
{
	Datum		values[5];
	bool		nulls[5] = {0};

	values[0] = cls ? CStringGetTextDatum(cls) : (Datum) 0;
	nulls[0] = cls == NULL;
	values[1] = CStringGetTextDatum(decision);
	if (objects != NIL)
	{
		Datum	   *items = palloc(sizeof(Datum) * list_length(objects));
		int			n = 0;
		ListCell   *lc;

		foreach(lc, objects)
			items[n++] = CStringGetTextDatum((const char *) lfirst(lc));
		values[2] = PointerGetDatum(construct_array(items, n, TEXTOID, -1,
													false, TYPALIGN_INT));
	}
	else
		nulls[2] = true;
	values[3] = Int64GetDatum(estimated_rows);
	nulls[3] = estimated_rows < 0;
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason == NULL;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * agent_guard.check(query text) RETURNS TABLE(class, decision, objects,
 * estimated_rows, reason)
 */
PG_FUNCTION_INFO_V1(ag_check);
Datum
ag_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *query;
	List	   *raws;
	RawStmt    *raw;
	const char *why_not;
	ErrorData  *volatile failure = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null"),
				 errhint("Pass the text of one statement, for example agent_guard.check('DELETE FROM sessions WHERE expires < now()').")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, 0);

	raws = raw_parser(query, RAW_PARSE_DEFAULT);
	if (list_length(raws) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("agent_guard.check() takes exactly one statement, not %d",
						list_length(raws)),
				 errhint("Check each statement of a script on its own.")));
	raw = linitial_node(RawStmt, raws);

	AcceptInvalidationMessages();	/* decide with the latest tags */
	if (!ag_preflight && ag_session_action() == AG_ACTION_NONE)
	{
		ag_preflight_row(rsinfo, NULL, "allowed", NIL, -1,
						 "This is not an agent session: the guard does not touch its statements. To check as an agent, run check() after SET ROLE to the agent's role.");
		return (Datum) 0;
	}
	if (ag_preflight)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("agent_guard.check() cannot check a statement that calls agent_guard.check()")));
	why_not = ag_preflight_cannot_run(raw->stmt);
	if (why_not != NULL)
	{
		ag_preflight_row(rsinfo, NULL, "unknown", NIL, -1, why_not);
		return (Datum) 0;
	}

	ag_preflight_cxt = cxt;
	ag_preflight_result = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	/* the statement's own notices (drop cascades to ...): not for the caller */
	(void) set_config_option("client_min_messages", "warning", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	ag_preflight = true;
	PG_TRY();
	{
		if (ag_preflight_is_dml(raw->stmt))
			ag_preflight_plan(raw, query);
		else
			ag_preflight_run(query);
		ag_preflight = false;
	}
	PG_CATCH();
	{
		ag_preflight = false;
		MemoryContextSwitchTo(cxt);
		failure = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	/* nothing it did stays: not the statement, not what the guard read */
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (failure != NULL && ag_preflight_result == NULL &&
		failure->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(failure);
	if (ag_preflight_result != NULL)
	{
		AgPreflightResult *r = ag_preflight_result;

		ag_preflight_result = NULL;
		ag_preflight_row(rsinfo, r->cls, r->decision, r->objects,
						 r->estimated_rows, r->reason);
	}
	else if (failure != NULL)
		ag_preflight_row(rsinfo, NULL, "unknown", NIL, -1,
						 psprintf("The statement failed before the guard decided: %s",
								  failure->message));
	else
		ag_preflight_row(rsinfo, NULL, "allowed", NIL, -1,
						 ag_preflight_is_dml(raw->stmt) ?
						 "The guard lets it run: its plan is bounded and within the row limit. The exact row count may still stop it when it runs, and what functions it calls is decided when they run." :
						 "The guard lets it run.");
	return (Datum) 0;
}
