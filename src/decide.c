/*-------------------------------------------------------------------------
 *
 * decide.c
 *	  The one decision point of agent_guard.
 *
 * Every guarded statement, whatever hook classified it, ends up in
 * ag_decide() with an AgStatement.  The session's action decides:
 *	  log	 - the statement runs; a WARNING, a server-log line and an audit
 *			   row say what it did (a dry run for rollout);
 *	  reject - server-log line, audit row, then an ERROR (SQLSTATE 42AG1)
 *			   that aborts the agent's transaction;
 *	  park	 - if a human approved exactly this statement (same role,
 *			   class, statement text, search_path, object OIDs, parameter
 *			   values and reading settings: permit.c), the permit is taken
 *			   in the agent's transaction (the request turns 'used'; a
 *			   rollback gives it back) and the statement runs once.
 *			   Otherwise a background worker records the request, or counts
 *			   a repeat of the same pending one, and commits; then an ERROR
 *			   (SQLSTATE 42AGP) names the request id.  If the request cannot
 *			   be recorded (no extension here, a standby, no worker, the
 *			   per-role cap), the statement is rejected instead.
 * Tamper attempts (class "guard") go to ag_tamper(): always rejected, with
 * SQLSTATE 42AG2, never loggable or parkable.
 *
 * Grants (grants.c) are asked after the permit, on the way to parking or
 * rejecting: a statement a human's grant covers runs, counted against it.
 * In preflight mode (agent_guard.check(), preflight.c) the first decision
 * reached here or in ag_tamper() is handed to ag_preflight_decided()
 * before anything is logged, counted, audited or recorded.
 *
 * Row limits (1.1): a statement the exact row count stopped (stopped_after
 * set) is worded as such ("DELETE on public.t stopped after 6 rows"), and
 * every request and audit row carries the statement's estimated_rows.
 * ag_decide() returns true when a permit was used, so that the row count
 * can lift the limit for what the human approved.
 *
 * Audit rows and requests are written by a background worker in its own
 * transaction (worker.c) before the ERROR is raised, so they survive the
 * abort.  Permits are taken with SPI in the agent's own transaction, as the
 * bootstrap superuser, with the guard switched off for that query only.
 *
 * State: the text of the statement being decided, and the values bound to
 * its parameters.  Hooks register them with ag_set_current_query() and
 * ag_set_current_params() (and restore the previous ones when they
 * return, so nesting - a DROP inside a DO block - reports the inner
 * statement).  They point into memory owned by the caller; nothing here
 * survives a statement.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "lib/stringinfo.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
#include "storage/ipc.h"
#include "tcop/pquery.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

/* The statement the innermost active hook is deciding about. */
static const char *ag_query_source = NULL;
static int	ag_query_location = -1;
static int	ag_query_len = 0;
static ParamListInfo ag_query_params = NULL;

static const char *const ag_class_names[] = {
	[AG_CLASS_DROP] = "drop",
	[AG_CLASS_TRUNCATE] = "truncate",
	[AG_CLASS_DELETE] = "delete",
	[AG_CLASS_UPDATE] = "update",
	[AG_CLASS_GUARD] = "guard",
};

const char *
ag_class_name(AgClass cls)
{
	return ag_class_names[cls];
}

/*
 * Register the statement being decided: source string, location and length
 * as in PlannedStmt (location -1: whole string; length 0: to the end).  It
 * has no parameters until ag_set_current_params() says otherwise.
 * Returns nothing; callers save and restore with ag_get_current_query and
 * ag_restore_current_query below.
 */
void
ag_set_current_query(const char *source, int location, int len)
{
	ag_query_source = source;
	ag_query_location = location;
	ag_query_len = len;
	ag_query_params = NULL;
}

/* The values bound to the parameters of the statement registered last. */
void
ag_set_current_params(ParamListInfo params)
{
	ag_query_params = params;
}

void
ag_get_current_query(AgQueryRef *ref)
{
	ref->source = ag_query_source;
	ref->location = ag_query_location;
	ref->len = ag_query_len;
	ref->params = ag_query_params;
}

void
ag_restore_current_query(const AgQueryRef *ref)
{
	ag_set_current_query(ref->source, ref->location, ref->len);
	ag_query_params = ref->params;
}

/* One statement out of a source string, trimmed; NULL when empty. */
static char *
ag_cut_statement(const char *s, int location, int qlen)
{
	int			len;

	if (s == NULL)
		return NULL;
	if (location >= 0 && location <= (int) strlen(s))
	{
		s += location;
		len = qlen > 0 ? qlen : (int) strlen(s);
	}
	else
		len = strlen(s);
	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && (isspace((unsigned char) s[len - 1]) || s[len - 1] == ';'))
		len--;
	return len > 0 ? pnstrdup(s, len) : NULL;
}

/*
 * The text of the statement being decided, trimmed; NULL when unknown.
 * When no hook registered one (lo_unlink() in a SELECT), or it has no text
 * (the body of a BEGIN ATOMIC function), it is the statement the client
 * sent: the active portal's, at its own location in the string.
 */
char *
ag_current_query_text(void)
{
	char	   *text = ag_cut_statement(ag_query_source, ag_query_location,
										ag_query_len);

	if (text == NULL && ActivePortal != NULL && ActivePortal->sourceText != NULL)
	{
		int			location = -1;
		int			qlen = 0;

		if (ActivePortal->stmts != NIL &&
			IsA(linitial(ActivePortal->stmts), PlannedStmt))
		{
			location = linitial_node(PlannedStmt, ActivePortal->stmts)->stmt_location;
			qlen = linitial_node(PlannedStmt, ActivePortal->stmts)->stmt_len;
		}
		text = ag_cut_statement(ActivePortal->sourceText, location, qlen);
	}
	return text;
}

/*
 * Items joined for a message; after "max" of them, "and N more" (the audit
 * and request rows keep the full list).
 */
static char *
ag_join(List *items, const char *sep, int max)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&buf);
	foreach(lc, items)
	{
		if (n == max)
		{
			appendStringInfo(&buf, " and %d more", list_length(items) - max);
			break;
		}
		if (buf.len > 0)
			appendStringInfoString(&buf, sep);
		appendStringInfoString(&buf, (const char *) lfirst(lc));
		n++;
	}
	return buf.data;
}

#define ag_role_name() ag_agent_role_name()

/* "DROP TABLE public.t": the command and its target, for every message */
static char *
ag_what(const char *command, const char *target)
{
	return target ? psprintf("%s %s", command, target) : pstrdup(command);
}

/*
 * One greppable server-log line per decision:
 *	 agent_guard: <decision> <class> by role "r" in database "d"[ as request N]: <what>
 */
static void
ag_log_decision(AgCounter decision, AgClass cls, const char *what,
				int64 request_id)
{
	static const char *const words[AG_NUM_COUNTERS] = {
		[AG_COUNT_PARKED] = "parked",
		[AG_COUNT_REJECTED] = "rejected",
		[AG_COUNT_LOGGED] = "logged",
		[AG_COUNT_USED] = "allowed",
	};

	ag_count_decision(cls, decision);
	ereport(LOG,
			(errmsg("agent_guard: %s %s by role \"%s\" in database \"%s\"%s: %s",
					words[decision], ag_class_name(cls), ag_role_name(),
					get_database_name(MyDatabaseId),
					request_id > 0 ? psprintf(" as request " INT64_FORMAT, request_id) : "",
					what),
			 errhidestmt(true)));
}

/* The text of the statement for requests and permits: never empty. */
static char *
ag_statement_text(const AgStatement *st)
{
	char	   *q = ag_current_query_text();

	if (q == NULL)
		q = psprintf("%s %s", st->command, st->target ? st->target : "");
	return q;
}

/*
 * Run a short SQL statement of the guard's own in the agent's transaction,
 * as the bootstrap superuser and unguarded (the agent itself has no rights
 * on the guard's tables, and must not get any).  Returns the first column
 * of the first row as int8, or 0 when it is NULL or there is no row.
 */
int64
ag_internal_query(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	Oid			save_userid;
	int			save_sec;
	bool		save_internal = ag_in_internal_work;
	volatile int64 result = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	ag_in_internal_work = true;
	PG_TRY();
	{
		bool		isnull;
		Datum		d;
		bool		pushed = false;

		/*
		 * Decided at pre-commit (a procedure's COMMIT), there is no active
		 * snapshot: SPI would then create one as the portal's snapshot and
		 * leave it behind ("snapshot still active", then
		 * Assert(portal->portalSnapshot == NULL) at the procedure's next
		 * statement).  Bring our own.
		 */
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		SPI_connect();
		if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL,
								  false, 1) < 0)
			elog(ERROR, "agent_guard: internal query failed: %s", sql);
		if (SPI_processed == 1)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							  &isnull);
			if (!isnull)
				result = DatumGetInt64(d);
		}
		SPI_finish();
		if (pushed)
			PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		ag_in_internal_work = save_internal;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return result;
}

/*
 * Has a human approved exactly this statement, with the same parameter
 * values ("params", NULL: none) under the same settings?  Then take the
 * permit: the request turns 'used' in this transaction (a rollback gives
 * it back).  Returns the request id, or 0.
 */
static int64
ag_take_permit(const AgStatement *st, const char *query, const char *params,
			   const char *settings)
{
	Oid			argtypes[7] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID};
	Datum		values[7];

	if (RecoveryInProgress() || !OidIsValid(ag_guard_schema()))
		return 0;
	values[0] = ObjectIdGetDatum(ag_agent_role());
	values[1] = CStringGetTextDatum(ag_class_name(st->cls));
	values[2] = CStringGetTextDatum(query);
	values[3] = CStringGetTextDatum(namespace_search_path);
	values[4] = CStringGetTextDatum(st->object_key ? st->object_key : "");
	/* NULL params: the empty string never comes out of ag_permit_params */
	values[5] = CStringGetTextDatum(params ? params : "");
	values[6] = CStringGetTextDatum(settings);
	return ag_internal_query("SELECT agent_guard._use_permit($1, $2, $3, $4, $5, nullif($6, ''), $7)",
							 7, argtypes, values);
}

/* Refuse the statement; "why" adds a sentence to DETAIL when it says more. */
static void
ag_reject(const AgStatement *st, const char *what, const char *detail,
		  const char *why)
{
	ag_log_decision(AG_COUNT_REJECTED, st->cls, what, 0);
	if (st->stopped_after > 0)
		ereport(ERROR,
				(errcode(ERRCODE_AG_REJECTED),
				 errmsg("agent_guard: %s stopped after " INT64_FORMAT " rows: agent role \"%s\" has a row limit of " INT64_FORMAT,
						what, st->stopped_after, ag_role_name(), st->row_limit),
				 errdetail("%s%s%s", detail, why ? " " : "", why ? why : ""),
				 errhint("%s", st->hint)));
	ereport(ERROR,
			(errcode(ERRCODE_AG_REJECTED),
			 errmsg("agent_guard: %s is not allowed for agent role \"%s\"",
					what, ag_role_name()),
			 errdetail("%s%s%s", detail, why ? " " : "", why ? why : ""),
			 errhint("%s", st->hint ? st->hint :
					 "Ask a database administrator to run the statement, or to change the tag with agent_guard.tag_role().")));
}

/*
 * Park the statement: a background worker records the request (or counts a
 * repeat of the same pending one) and commits; then the agent gets an
 * ERROR naming the request.  When the request cannot be recorded the
 * statement is rejected: it never goes through unapproved.
 */
static void
ag_park(const AgStatement *st, const char *what, const char *detail,
		const char *text, const char *params, const char *settings)
{
	const char *args[15];
	AgJobResult res;
	char	   *failure;

	if (!OidIsValid(ag_guard_schema()))
		ag_reject(st, what, detail,
				  "The statement was rejected instead of parked because the extension agent_guard is not installed in this database, so there is no approval table here.");
	if (RecoveryInProgress())
		ag_reject(st, what, detail,
				  "The statement was rejected instead of parked because this server is a read-only standby.");

	args[0] = ag_role_name();
	args[1] = psprintf("%u", ag_agent_role());
	args[2] = ag_class_name(st->cls);
	args[3] = st->command;
	args[4] = ag_join_objects(st->objects);
	args[5] = st->object_key ? st->object_key : "";
	args[6] = text;
	args[7] = namespace_search_path;
	args[8] = ag_client_addr();
	args[9] = application_name;
	args[10] = psprintf("%d", ag_max_pending);
	args[11] = psprintf("%d seconds", ag_request_ttl);
	args[12] = st->estimated_rows >= 0 ?
		psprintf(INT64_FORMAT, st->estimated_rows) : NULL;
	args[13] = params;
	args[14] = settings;
	if (args[4] == NULL)
		args[4] = "";

	if (!ag_run_job(AG_JOB_PARK, args, lengthof(args), &res, &failure, false))
		ag_reject(st, what, detail,
				  psprintf("The statement was rejected instead of parked because the request could not be recorded: %s.",
						   failure));
	if (strcmp(res.outcome, "cap") == 0)
		ag_reject(st, what, detail,
				  psprintf("The statement was rejected instead of parked because role \"%s\" already has %d pending requests (agent_guard.max_pending).",
						   ag_role_name(), ag_max_pending));

	ag_log_decision(AG_COUNT_PARKED, st->cls, what, res.id);
	ereport(ERROR,
			(errcode(ERRCODE_AG_PARKED),
			 st->stopped_after > 0 ?
			 errmsg("agent_guard: %s stopped after " INT64_FORMAT " rows and parked for approval as request " INT64_FORMAT,
					what, st->stopped_after, res.id) :
			 errmsg("agent_guard: %s parked for approval as request " INT64_FORMAT,
					what, res.id),
			 errdetail("%s%s", detail,
					   res.attempts > 1 ?
					   psprintf(" The same statement is already waiting: this is attempt %d.", res.attempts) :
					   " The request is recorded and waits for a human decision."),
			 errhint("A human must approve it with agent_guard.approve(" INT64_FORMAT "); then run exactly the same statement again, with the same parameter values, search_path and settings, and it will run once. To wait for the decision, run SELECT agent_guard.wait(" INT64_FORMAT ").%s%s",
					 res.id, res.id, st->limit_hint ? " " : "",
					 st->limit_hint ? st->limit_hint : "")));
}

bool
ag_decide(const AgStatement *st)
{
	AgAction	action = ag_session_action();
	char	   *what;
	char	   *detail;
	char	   *objects;
	char	   *query;			/* as sent; NULL through the fast path */
	char	   *text;			/* what requests and permits match on */

	if (action == AG_ACTION_NONE)
		return false;

	what = ag_what(st->command, st->target);
	objects = ag_join(st->objects, ", ", 25);
	detail = psprintf("%s%s%s%s%s%s %s", st->reason,
					  objects[0] ? " " : "",
					  objects[0] ? (st->objects_label ? st->objects_label : "Objects") : "",
					  objects[0] ? ": " : "", objects,
					  objects[0] ? "." : "", ag_session_tag_sentence());
	if (unlikely(ag_preflight))
		ag_preflight_decided(st->cls, action == AG_ACTION_LOG ? "log" :
							 action == AG_ACTION_PARK ? "park" : "reject",
							 st->objects, st->estimated_rows, st->reason);
	query = ag_current_query_text();
	text = ag_statement_text(st);

	/* at the end of the session nothing can be stopped any more */
	if (action == AG_ACTION_LOG || proc_exit_inprogress)
	{
		ag_log_decision(AG_COUNT_LOGGED, st->cls, what, 0);
		ag_audit(st->cls, "logged", st->command, st->objects, query, 0,
				 st->estimated_rows);
		if (st->stopped_after > 0)
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("agent_guard: %s by agent role \"%s\" passed its row limit of " INT64_FORMAT " and was allowed in log mode",
							what, ag_role_name(), st->row_limit),
					 errdetail("%s", detail),
					 errhint("With action \"park\" or \"reject\" this statement would have been stopped after " INT64_FORMAT " rows.",
							 st->stopped_after)));
		else if (proc_exit_inprogress)
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("agent_guard: %s by agent role \"%s\" could not be stopped",
							what, ag_role_name()),
					 errdetail("%s", detail),
					 errhint("%s", st->hint)));
		else
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("agent_guard: %s by agent role \"%s\" was allowed in log mode",
							what, ag_role_name()),
					 errdetail("%s", detail),
					 errhint("With action \"park\" or \"reject\" this statement would have been stopped.")));
		return false;
	}

	if (action == AG_ACTION_PARK)
	{
		char	   *params = ag_permit_params(ag_query_params);
		char	   *settings = ag_permit_settings();
		int64		request_id = ag_take_permit(st, text, params, settings);

		if (request_id > 0)
		{
			ag_log_decision(AG_COUNT_USED, st->cls, what, request_id);
			ereport(NOTICE,
					(errmsg("agent_guard: %s runs with the approval of request " INT64_FORMAT,
							what, request_id),
					 errdetail("The approval is used up: running the statement again needs a new one.")));
			return true;
		}
		if (ag_use_grant(st, what, query))
			return true;
		ag_park(st, what, detail, text, params, settings);
	}
	else if (ag_use_grant(st, what, query))
		return true;

	ag_audit(st->cls, "rejected", st->command, st->objects, query, 0,
			 st->estimated_rows);
	ag_reject(st, what, detail, NULL);
	return false;				/* not reached */
}

void
ag_tamper(const char *command, const char *target, const char *reason)
{
	char	   *what = ag_what(command, target);

	if (unlikely(ag_preflight))
		ag_preflight_decided(AG_CLASS_GUARD, "reject",
							 target ? list_make1(pstrdup(target)) : NIL, -1,
							 reason);
	ag_log_decision(AG_COUNT_REJECTED, AG_CLASS_GUARD, what, 0);
	ag_audit(AG_CLASS_GUARD, "rejected", command,
			 target ? list_make1(pstrdup(target)) : NIL,
			 ag_current_query_text(), 0, -1);
	ereport(ERROR,
			(errcode(ERRCODE_AG_TAMPER),
			 errmsg("agent_guard: %s is not allowed for agent role \"%s\"",
					what, ag_role_name()),
			 errdetail("%s Agent sessions can never change the guard, whatever their privileges.",
					   reason),
			 errhint("Ask a database administrator whose session is not an agent session to make this change.")));
}
