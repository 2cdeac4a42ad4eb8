/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Loading agent_guard: settings, hook installation, status().
 *
 * The guard must never be half-on.  Hooks are installed only when the
 * library is loaded through shared_preload_libraries, so that every
 * backend of the cluster has them from its first statement.  Loaded any
 * other way (CREATE EXTENSION calling a C function, LOAD), _PG_init
 * installs nothing; the install script asks status() and refuses, with a
 * hint naming the setting.
 *
 * Settings (all reserved under the prefix "agent_guard."):
 *	  agent_guard.default_action  superuser-only; the action for sessions
 *								  marked by agent_guard.session_agent
 *	  agent_guard.session_agent	  one-way: once on, the session is an agent
 *								  session until it ends (for agents that
 *								  share a login with humans)
 *	  agent_guard.max_rows		  superuser-only; the row limit of agent DML
 *								  (10000; 0 = none) for tags without their own
 *	  agent_guard.approvals_required  superuser-only; distinct humans whose
 *								  approvals make a request approved (1)
 * An agent session can change none of them (session_agent only to on):
 * the check hooks refuse SET, set_config(), function SET clauses and
 * connection options from agent sessions, and utility.c refuses ALTER
 * ROLE/DATABASE ... SET and ALTER SYSTEM.
 *
 * agent_guard.session_agent = on stored by ALTER ROLE/DATABASE ... SET wins
 * over the client's connection options (ag_latch_stored_session_agent).
 *
 * State: ag_session_latched is per backend and, unlike the setting's value
 * (which a ROLLBACK or RESET would restore), never goes back to false.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"

PG_MODULE_MAGIC;

bool		ag_preloaded = false;
int			ag_default_action = AG_ACTION_PARK;
int			ag_max_pending = 100;
int			ag_request_ttl = 86400;	/* seconds: one day */
int			ag_approval_ttl = 3600;	/* seconds: one hour */
int			ag_max_rows = 10000;
int			ag_approvals_required = 1;

int			ag_writer_idle_timeout = 600;	/* seconds */
int			ag_role_write_rate = 100;	/* durable writes a second, per role */
bool		ag_session_agent = false;
bool		ag_session_latched = false;

/* while the backend starts: an agent_guard setting a connection option changed */
static const char *ag_client_option = NULL;

static const struct config_enum_entry ag_action_options[] = {
	{"park", AG_ACTION_PARK, false},
	{"reject", AG_ACTION_REJECT, false},
	{"log", AG_ACTION_LOG, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/*
 * Would this change of a setting come from an agent session?  Settings
 * from the configuration file, the command line and ALTER ROLE/DATABASE
 * made by a DBA come with a lower source and are not refused.
 */
static bool
ag_change_by_agent(GucSource source)
{
	if (source < PGC_S_CLIENT || !IsTransactionState())
		return false;

	/*
	 * Connection options (PGOPTIONS, options=) are applied while the backend
	 * starts, before ag_session_action() answers: ask the login role's tags,
	 * and whether an earlier option turned session_agent on.
	 */
	if (!IsNormalProcessingMode())
	{
		if (ag_in_internal_work || IsBinaryUpgrade || !OidIsValid(MyDatabaseId))
			return false;
		/* set before the options are processed (InitializeSessionUserId) */
		if (ag_session_latched || ag_role_is_agent(GetSessionUserId()))
			return true;
		/* refused later if the role or database turns session_agent on */
		if (source == PGC_S_CLIENT)
			ag_client_option = "agent_guard settings";
		return false;
	}
	return ag_session_action() != AG_ACTION_NONE;
}

/*
 * agent_guard.session_agent = on stored for the role or the database by an
 * administrator (ALTER ROLE/DATABASE ... SET, also IN DATABASE and ROLE
 * ALL) marks every session of that login, and the client cannot undo it.
 * PostgreSQL applies the client's connection options first and the stored
 * settings after them, at a lower priority: the client's value stays, but
 * the check hook still sees the stored one.  So the check hook latches the
 * session there, and a connection whose options turned session_agent off,
 * or changed another agent_guard setting, is refused (class guard,
 * audited): the error ends the connection while it starts.
 */
static void
ag_latch_stored_session_agent(void)
{
	if (!ag_session_latched)
	{
		ag_session_latched = true;
		ag_session_changed();
	}
	if (ag_client_option != NULL && !ag_in_internal_work && IsTransactionState())
		ag_tamper("connection option", ag_client_option,
				  psprintf("Role \"%s\" or this database has agent_guard.session_agent = on set by an administrator (ALTER ROLE/DATABASE ... SET): every session of it is an agent session, and a connection option cannot change that or any other agent_guard setting.",
						   GetUserNameFromId(GetSessionUserId(), false)));
}

static bool
ag_refuse_setting_change(GucSource source)
{
	if (ag_change_by_agent(source))
	{
		GUC_check_errcode(ERRCODE_AG_TAMPER);
		GUC_check_errmsg("agent_guard: agent sessions cannot change agent_guard settings");
		GUC_check_errhint("Ask a database administrator whose session is not an agent session to make this change.");
		return false;
	}
	return true;
}

static bool
ag_check_default_action(int *newval, void **extra, GucSource source)
{
	return ag_refuse_setting_change(source);
}

static bool
ag_check_int_setting(int *newval, void **extra, GucSource source)
{
	return ag_refuse_setting_change(source);
}

static bool
ag_check_session_agent(bool *newval, void **extra, GucSource source)
{
	if (!IsNormalProcessingMode() && OidIsValid(MyDatabaseId))
	{
		if (!*newval && source == PGC_S_CLIENT)
			ag_client_option = "agent_guard.session_agent=off";
		if (*newval && (source == PGC_S_GLOBAL || source == PGC_S_DATABASE ||
						source == PGC_S_USER || source == PGC_S_DATABASE_USER))
			ag_latch_stored_session_agent();
	}
	if (!*newval && ag_session_latched)
	{
		GUC_check_errcode(ERRCODE_AG_TAMPER);
		GUC_check_errmsg("agent_guard: agent_guard.session_agent cannot be turned off in this session");
		GUC_check_errdetail("The setting is one-way: once on, the session stays an agent session until it ends.");
		GUC_check_errhint("Open a new session to work as a human.");
		return false;
	}
	return true;
}

static void
ag_assign_session_agent(bool newval, void *extra)
{
	if (newval && !ag_session_latched)
	{
		ag_session_latched = true;
		ag_session_changed();
	}
}

static void
ag_assign_default_action(int newval, void *extra)
{
	ag_session_changed();
}

static const char *
ag_show_session_agent(void)
{
	return (ag_session_latched || ag_session_agent) ? "on" : "off";
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomEnumVariable("agent_guard.default_action",
							 "Action for sessions marked by agent_guard.session_agent.",
							 "One of park, reject, log.  Tagged roles carry their own action.",
							 &ag_default_action,
							 AG_ACTION_PARK,
							 ag_action_options,
							 PGC_SUSET,
							 0,
							 ag_check_default_action, ag_assign_default_action, NULL);

	DefineCustomBoolVariable("agent_guard.session_agent",
							 "Marks this session as an agent session, for the rest of the session.",
							 "Once on, it cannot be turned off again in the same session.",
							 &ag_session_agent,
							 false,
							 PGC_USERSET,
							 0,
							 ag_check_session_agent, ag_assign_session_agent,
							 ag_show_session_agent);

	DefineCustomIntVariable("agent_guard.max_pending",
							"Most pending requests one agent role may have in a database.",
							"A further statement that would be parked is rejected instead.",
							&ag_max_pending,
							100, 1, 1000000,
							PGC_SUSET,
							0,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.role_write_rate",
							"Most durable writes (parked requests, audit rows) one agent role may ask for a second in a database.",
							"A role past it waits for the next second; after 5 seconds a park is rejected instead and an audit row is left to the server log. 0 turns the limit off.",
							&ag_role_write_rate,
							100, 0, 1000000,
							PGC_SUSET,
							0,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.request_ttl",
							"How long a parked request waits for a decision before it expires.",
							NULL,
							&ag_request_ttl,
							86400, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.approval_ttl",
							"How long an approval stays usable before it expires.",
							NULL,
							&ag_approval_ttl,
							3600, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.max_rows",
							"Most rows one statement of an agent session may delete or update.",
							"Counted over the whole top-level statement; 0 turns the limit off.  A tag's own max_rows takes precedence.",
							&ag_max_rows,
							10000, 0, INT_MAX,
							PGC_SUSET,
							0,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.approvals_required",
							"How many distinct humans must approve a request before it is approved.",
							"Each approval by another human counts once; one rejection rejects.",
							&ag_approvals_required,
							1, 1, 100,
							PGC_SUSET,
							0,
							ag_check_int_setting, NULL, NULL);

	DefineCustomIntVariable("agent_guard.writer_idle_timeout",
							"How long a database's persistent writer stays connected without work.",
							"0 starts a new background worker for every durable write instead.",
							&ag_writer_idle_timeout,
							600, 0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved(AG_NAME);

	ag_shmem_init();

	ag_tags_init();
	ag_utility_init();
	ag_dml_init();
	ag_preloaded = true;
}

/*
 * Hooks that only agent sessions need - the row count's executor and
 * utility hooks, the transaction callback - are installed in a backend the
 * first time it finds an agent session (tags.c), so that a backend that
 * only ever serves humans never pays for them.  (The object access hook is
 * not one of them: it is what finds an agent whose first message is a
 * fast-path lo_unlink(); utility.c installs it at preload.)  Each of those hooks balances its own state within one call, so
 * installing them in the middle of a statement (a function that runs SET
 * ROLE) is safe.  Hooks stay installed until the backend exits.
 */
void
ag_install_agent_hooks(void)
{
	static bool installed = false;

	if (installed || !ag_preloaded)
		return;
	installed = true;
	ag_utility_install_agent_hooks();
	ag_rowlimit_init();
}

/*
 * agent_guard._refuse_agent_session(command): called first by approve(),
 * reject(), allow() and revoke_grant(); an agent session can never decide,
 * whatever its grants.
 */
PG_FUNCTION_INFO_V1(ag_refuse_agent_session);
Datum
ag_refuse_agent_session(PG_FUNCTION_ARGS)
{
	AcceptInvalidationMessages();
	if (ag_preloaded && ag_session_action() != AG_ACTION_NONE)
		ag_tamper(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL,
				  "Requests can only be approved or rejected, and grants only made or revoked, by a human, from a session that is not an agent session.");
	PG_RETURN_VOID();
}

/*
 * agent_guard.status(): is the guard active, and is this an agent session?
 */
PG_FUNCTION_INFO_V1(ag_status);
Datum
ag_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {0};
	AgAction	action;

	AcceptInvalidationMessages();	/* answer with the latest tags */
	action = ag_preloaded ? ag_session_action() : AG_ACTION_NONE;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("agent_guard.status() must return a record")));
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = BoolGetDatum(ag_preloaded);
	values[1] = CStringGetTextDatum(AG_VERSION);
	values[2] = BoolGetDatum(action != AG_ACTION_NONE);
	if (action != AG_ACTION_NONE)
	{
		values[3] = CStringGetTextDatum(ag_action_name(action));
		values[4] = CStringGetTextDatum(ag_session_tag_sentence());
	}
	else
	{
		nulls[3] = true;
		nulls[4] = true;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
