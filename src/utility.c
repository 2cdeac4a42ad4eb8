/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  The utility hook and the object access hook of agent sessions: one
 *	  frame per utility statement, and the dispatch of what each hook sees
 *	  to the file that decides it.
 *
 * Hooks: ProcessUtility_hook (every backend) and object_access_hook plus a
 * transaction callback (installed in a backend the first time it finds an
 * agent session), all chained.
 *
 * Dispatch.  Before an agent's utility statement runs: tamper checks on
 * its parse tree (tamper.c), statements that lose or hide data without a
 * drop (alters.c: SET UNLOGGED, REFRESH ... WITH NO DATA, renames that
 * swap, ALTER DATABASE), the drops that cannot be rolled back (drops.c),
 * the tables a column type change may rewrite (rewrite.c).  While it runs,
 * the object access hook hands every object dropped or truncated to
 * drops.c (those the cleanup of a temporary schema drops, internal work
 * otherwise never guarded, through temp_objects.c), collects created and
 * changed objects for tamper.c and temp_objects.c, and tags roles the
 * agent creates (tags.c).  When it returns: created objects (tamper.c),
 * rewrites (rewrite.c), persistent objects made to depend on temporary
 * ones (temp_objects.c), then the collected drops and truncates
 * (drops.c), each decided as one statement, still inside the agent's
 * transaction.
 *
 * State: a stack of AgFrame, one per utility statement of an agent session
 * being run, living on the C stack of ag_ProcessUtility; its lists are
 * allocated in the memory context current at entry, which outlives the
 * statement.  Collected objects are decided when the frame returns, or at
 * the latest at pre-commit (a procedure may COMMIT inside its frame).
 * PG_FINALLY pops the frame on error, so an abort leaves no frame behind.
 * Human sessions push no frame and collect nothing.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_trigger.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "tcop/utility.h"
#include "utils/inval.h"

AgFrame    *ag_frame = NULL;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

/*
 * Take in tag changes committed by other sessions before this statement is
 * checked.  A transaction that started with this statement has just done
 * so (AtStart_Cache): its start time is the statement's.  Then only
 * statements inside an explicit transaction block pay for the call.
 */
void
ag_accept_invalidations(void)
{
	if (GetCurrentStatementStartTimestamp() != GetCurrentTransactionStartTimestamp())
		AcceptInvalidationMessages();
}

/* Decide what a frame collected, once. */
static void
ag_decide_pending(AgFrame *frame)
{
	List	   *truncated = frame->truncated;
	List	   *dropped = frame->dropped;

	frame->truncated = NIL;
	frame->dropped = NIL;
	if (truncated != NIL)
		ag_decide_truncate(frame->command, truncated);
	if (dropped != NIL && frame->temp_cleanup)
		ag_decide_temp_cleanup(frame->command, dropped);
	else if (dropped != NIL)
		ag_decide_drop(frame->command, dropped);
}

static void
ag_frame_finish(AgFrame *frame)
{
	if (frame->created != NIL)
		ag_check_created(frame->command, frame->created);
	if (frame->internal_triggers != NIL)
		ag_check_internal_triggers(frame->command, frame->internal_triggers);
	if (frame->rewrites != NIL)
		ag_check_rewrites(frame->command, frame->rewrites);
	if (frame->changed != NIL)
		ag_check_temp_dependencies(frame->command, frame->changed);
	ag_decide_pending(frame);
}

/*
 * A frame's objects must be decided before their transaction commits: a
 * procedure (CALL) or DO block may COMMIT after an lo_unlink() or a TRUNCATE
 * run through SPI and before its own frame returns.  So every frame's
 * pending objects are decided at pre-commit (and pre-prepare) too; an
 * ERROR there aborts the commit.
 */
static void
ag_xact_callback(XactEvent event, void *arg)
{
	/* one callback for both concerns: drops pending, and the row count */
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			for (AgFrame *f = ag_frame; f != NULL; f = f->parent)
				ag_decide_pending(f);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			ag_rowlimit_xact_end(false);
			break;
		case XACT_EVENT_ABORT:
			ag_rowlimit_xact_end(true);
			break;
		default:
			break;
	}
}

/* ---------- object access hook ---------- */

static pg_noinline void
ag_object_access_guarded(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	ObjectAddress addr;

	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	/* cheap filters first: internal work is never guarded */
	switch (access)
	{
		case OAT_DROP:
			/*
			 * Internal deletions (table rewrites, REINDEX CONCURRENTLY) are
			 * PostgreSQL's own, except the cleanup of a temporary schema,
			 * the only one that keeps its original object: it takes every
			 * persistent object that depends on a temporary one along.
			 */
			if ((((ObjectAccessDrop *) arg)->dropflags &
				 (PERFORM_DELETION_INTERNAL | PERFORM_DELETION_SKIP_ORIGINAL)) ==
				PERFORM_DELETION_INTERNAL)
				return;
			break;
		case OAT_POST_CREATE:
		case OAT_POST_ALTER:
		case OAT_TRUNCATE:
			break;
		default:
			return;
	}
	if (ag_session_action() == AG_ACTION_NONE)
		return;

	addr.classId = classId;
	addr.objectId = objectId;
	addr.objectSubId = subId;

	switch (access)
	{
		case OAT_DROP:
			if (((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_SKIP_ORIGINAL)
				ag_on_temp_cleanup_drop(&addr);
			else
				ag_on_drop(&addr);
			break;
		case OAT_TRUNCATE:
			ag_on_truncate(objectId);
			break;
		case OAT_POST_CREATE:
			ag_note_changed(&addr);
			/*
			 * Internal creations are PostgreSQL's own, except triggers: a
			 * foreign key referencing a guard table puts internal triggers
			 * on it.
			 */
			if (((ObjectAccessPostCreate *) arg)->is_internal &&
				classId != TriggerRelationId)
				break;
			if (classId == AuthIdRelationId)
				ag_tag_new_role(objectId);
			else if (ag_frame != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(ag_frame->cxt);
				ObjectAddress *copy = palloc(sizeof(ObjectAddress));

				*copy = addr;
				if (((ObjectAccessPostCreate *) arg)->is_internal)
					ag_frame->internal_triggers = lappend(ag_frame->internal_triggers, copy);
				else
					ag_frame->created = lappend(ag_frame->created, copy);
				MemoryContextSwitchTo(old);
			}
			break;
		case OAT_POST_ALTER:
			ag_note_changed(&addr);
			ag_on_alter(&addr, ag_frame ? ag_frame->command : "ALTER");
			break;
		default:
			break;
	}
}

/*
 * The hook is called on every function execution (OAT_FUNCTION_EXECUTE)
 * and schema search: filter those out before anything else.
 */
static void
ag_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (unlikely(access != OAT_FUNCTION_EXECUTE && access != OAT_NAMESPACE_SEARCH))
		ag_object_access_guarded(access, classId, objectId, subId, arg);
	else if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
}

/* ---------- ProcessUtility hook ---------- */

/*
 * The database a DROP/CREATE/ALTER/RENAME DATABASE statement needs to have
 * no other connections: the dropped, altered or renamed one, or the
 * template of a new one.
 */
static const char *
ag_exclusive_database(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) parsetree)->dbname;
		case T_AlterDatabaseStmt:
			return ((AlterDatabaseStmt *) parsetree)->dbname;
		case T_RenameStmt:
			return ((RenameStmt *) parsetree)->subname;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *opt = lfirst(lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					return defGetString(opt);
			}
			return "template1";
		default:
			return NULL;
	}
}

static void
ag_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	AgFrame		frame;
	AgQueryRef	saved_query;

	ag_checked_perms = NIL;		/* see dml.c: COPY checks permissions too */

	/*
	 * Commands that need a database to themselves, from any session: that
	 * database's persistent writer (worker.c) leaves first.
	 */
	if (IsA(parsetree, DropdbStmt) || IsA(parsetree, CreatedbStmt) ||
		IsA(parsetree, AlterDatabaseStmt) ||
		(IsA(parsetree, RenameStmt) &&
		 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE))
		ag_writer_leave(get_database_oid(ag_exclusive_database(parsetree), true));

	/*
	 * Transaction control may run in an aborted transaction, where no
	 * catalog access is possible; it never destroys anything.  Human
	 * sessions go straight through.
	 */
	if (!IsA(parsetree, TransactionStmt))
		ag_accept_invalidations();	/* a tag change made meanwhile */
	if (IsA(parsetree, TransactionStmt) ||
		ag_session_action() == AG_ACTION_NONE)
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		return;
	}

	memset(&frame, 0, sizeof(frame));
	frame.cxt = CurrentMemoryContext;
	frame.command = GetCommandTagName(CreateCommandTag(parsetree));
	frame.runs_code = IsA(parsetree, DoStmt) || IsA(parsetree, CallStmt);

	ag_get_current_query(&saved_query);
	ag_set_current_query(queryString, pstmt->stmt_location, pstmt->stmt_len);
	frame.parent = ag_frame;
	ag_frame = &frame;
	PG_TRY();
	{
		ag_check_tamper(parsetree, frame.command);
		ag_check_alter(parsetree, frame.command);
		frame.decided = ag_predecide_drop(parsetree, frame.command);
		if (IsA(parsetree, AlterTableStmt))
			ag_watch_rewrites(&frame, (AlterTableStmt *) parsetree);
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		ag_frame_finish(&frame);
	}
	PG_FINALLY();
	{
		ag_frame = frame.parent;
		ag_restore_current_query(&saved_query);
	}
	PG_END_TRY();
}

void
ag_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ag_ProcessUtility;
	ag_objects_init();
}

/*
 * The object access hook and the transaction callback serve agent sessions
 * only (frames exist only for them): installed by ag_install_agent_hooks().
 */
void
ag_utility_install_agent_hooks(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = ag_object_access;
	RegisterXactCallback(ag_xact_callback, NULL);
}
