/*-------------------------------------------------------------------------
 *
 * rowlimit.c
 *	  The exact row count of agent DML: how many rows one top-level
 *	  statement of an agent session deletes or updates, counted while it
 *	  runs, and stopped the moment it passes the session's row limit
 *	  (agent_guard.max_rows, or the max_rows of the role's tag).
 *
 * Hooks: ExecutorRun_hook, ExecutorFinish_hook, ExecutorEnd_hook,
 * ProcessUtility_hook (all chained); dml.c's ExecutorStart hook has
 * tracked executors started here (ag_rowlimit_start); utility.c's
 * transaction callback passes the transaction's end on
 * (ag_rowlimit_xact_end).
 *
 * What is counted.  After an executor of an agent session has started,
 * every ModifyTable node doing DELETE, UPDATE or MERGE whose result
 * relations are not all exempt (temporary, or created in this transaction)
 * gets its subplan's ExecProcNode wrapped (ag_counting_exec): every tuple
 * the subplan returns is one row about to be deleted or updated.  For
 * MERGE, whose subplan also returns the rows it will insert, the count
 * follows the node's own counters of updated and deleted rows instead, on
 * each fetch and once more when the executor finishes.  Wrapping the node
 * in every executor catches every path: top-level statements, functions,
 * DO blocks, triggers (foreign-key cascades are RI triggers running their
 * own DELETE/UPDATE), rules, data-modifying CTEs, EXPLAIN ANALYZE.  Views
 * with INSTEAD OF triggers are not counted themselves: the statements the
 * trigger runs are.
 *
 * The running total spans one top-level statement.  A nesting counter
 * (as pg_stat_statements' exec_nested_level) is raised around ExecutorStart
 * (functions can run there: initial partition pruning), ExecutorRun,
 * ExecutorFinish and ProcessUtility.
 *
 * Levels and errors.  The executor hooks raise and lower the level without
 * a PG_TRY (it costs more than the rest of the hook); an error that
 * unwinds through them leaves it raised, and it is repaired where the
 * error stops: a subtransaction abort (an exception block that caught it)
 * puts back the level the subtransaction began at; our ProcessUtility
 * frame (PG_TRY) puts back its own; a transaction abort with no utility
 * frame alive sets it to 0.  A ROLLBACK inside a procedure aborts with the
 * CALL's frame alive and no executor between, so its level stays right.
 * An error swallowed without a subtransaction (which PostgreSQL's rules
 * forbid) could only leave the level too high: statements would then not
 * be taken for top-level ones and the count would run on until the
 * transaction ends - stricter, never looser.
 * An executor or utility statement started at level 0 from a portal
 * (ActivePortal set) is a top-level statement; when the last statement of
 * that portal ends (ExecutorEnd, or ProcessUtility returning), the total is
 * reset: the several plans a rule makes of one statement share one count.
 * So is it when a transaction ends at level 0 (commit or abort).  Nothing
 * else resets it: not a subtransaction abort (an exception block would
 * otherwise be a way around the limit), not a procedure's COMMIT inside a
 * CALL (the count goes on across it, though what was committed stays
 * committed), not the deferred triggers that run at COMMIT (they have no
 * portal: their rows add up until the transaction ends).  Functions run at
 * plan time (an IMMUTABLE function calling a volatile one) run outside any
 * portal, so they are not top-level: what they change counts into the
 * statement planned next, whose end resets it.
 *
 * Human sessions are not tracked: their executors are marked at
 * ExecutorStart (ag_untracked_estate), so ExecutorRun and ExecutorFinish
 * pass them through with one pointer compare.
 *
 * Passing the limit calls ag_decide() with the class of the node that
 * passed it and the text of the top-level statement: reject raises an
 * ERROR (42AG1), park records a request and raises 42AGP - either way the
 * transaction rolls back and nothing is lost; log emits one WARNING and
 * one audit row per top-level statement and lets it go on.  A permit for
 * exactly this statement (the re-run of an approved request) lifts the
 * limit for the rest of the top-level statement; a grant with max_rows
 * (grants.c) raises it to that instead, so passing it is decided again.  An executor that dml.c
 * let run on a permit (an unbounded or over-estimated statement a human
 * approved) is not counted, nor is anything it runs (its triggers and
 * cascades are part of what was approved).
 *
 * Cost.  Human sessions: none of these hooks is installed until the backend
 * first finds an agent session (ag_install_agent_hooks); after that, a
 * pointer compare in ExecutorRun and ExecutorFinish, a NULL test in
 * ExecutorEnd, no allocation, no wrapping.  Agent sessions: a counter per
 * hook level, one small record per ModifyTable node of a DML statement,
 * and one list lookup per row the wrapped node returns.
 *
 * State: the running total, the flags of the current top-level statement,
 * its executor (ag_top_estate, a pointer compared, never dereferenced) and
 * the levels are per backend statics.  Per executor records (AgCounted,
 * and AgExecInfo for executors running on a permit) belong to the
 * executor's es_query_cxt (allocated there, or one static AgCounted lent
 * to it) and unlink themselves through a memory context callback when it
 * is freed, on success or abort, so nothing dangles.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* An executor running on a permit: neither it nor what it runs is counted. */
typedef struct AgExecInfo
{
	dlist_node	node;
	EState	   *estate;
	MemoryContextCallback cb;
} AgExecInfo;

/* A ModifyTable node whose subplan is wrapped by ag_counting_exec. */
typedef struct AgCounted
{
	dlist_node	node;
	PlanState  *subplan;
	ExecProcNodeMtd real;		/* the subplan's own ExecProcNode */
	ModifyTableState *mtstate;
	EState	   *estate;
	bool		merge;			/* a MERGE node: counted from its counters */
	double		merge_seen;		/* MERGE: updated + deleted counted so far */
	int64		limit;
	AgClass		cls;
	const char *command;
	Oid			relid;
	MemoryContextCallback cb;
} AgCounted;

int			ag_nesting = 0;		/* read inline by dml.c */
static int	ag_approved_depth = 0;	/* executors on a permit running */
static int	ag_utility_depth = 0;	/* our ProcessUtility frames alive */
static int64 ag_rows_total = 0;
static bool ag_limit_lifted = false;	/* a permit was used at the limit */
static int64 ag_limit_raised = 0;	/* a grant's max_rows was used there */
static bool ag_limit_logged = false;	/* log action: warned once */
static bool ag_top_query_set = false;
static AgQueryRef ag_top_query;

static dlist_head ag_execs = DLIST_STATIC_INIT(ag_execs);	/* AgExecInfo: on a permit */

/*
 * The executor of the current top-level statement.  Set when it has
 * started, cleared when a top-level statement (executor or utility) starts
 * and when it ends, so that no other executor - one started inside it, or
 * a later one at the same address - is ever taken for it.
 */
static EState *ag_top_estate = NULL;

/*
 * The executor a human session started last, when it was not tracked: its
 * ExecutorRun and ExecutorFinish go straight through; every other executor
 * is run one level deeper (a human's older executor, say a cursor's, too:
 * harmless, the level is balanced and nothing of it is counted).  Every
 * ExecutorStart sets it (dml.c), so a freed executor's address, reused by a
 * new one, never matches a stale value.
 */
EState	   *ag_untracked_estate = NULL;
static dlist_head ag_counted = DLIST_STATIC_INIT(ag_counted);	/* AgCounted */

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static TupleTableSlot *ag_counting_exec(PlanState *ps);

/* A top-level statement ended: start counting afresh. */
static void
ag_statement_done(void)
{
	ag_rows_total = 0;
	ag_limit_lifted = false;
	ag_limit_raised = 0;
	ag_limit_logged = false;
	ag_top_query_set = false;
}

/*
 * Is pstmt the last statement of the active portal?  A statement that the
 * rewriter turned into several plans (rules with several actions) runs
 * them one after another in one portal: they are one top-level statement
 * and share one count.
 */
static bool
ag_last_of_portal(PlannedStmt *pstmt)
{
	if (ActivePortal == NULL || ActivePortal->stmts == NIL)
		return true;
	return (PlannedStmt *) llast(ActivePortal->stmts) == pstmt;
}

static void
ag_set_top_query(const char *source, int location, int len,
				 ParamListInfo params)
{
	ag_top_query.source = source;
	ag_top_query.location = location;
	ag_top_query.len = len;
	ag_top_query.params = params;
	ag_top_query_set = true;
}

/* Is the session one we track?  Humans outside any tracked level are not. */
static inline bool
ag_untracked(void)
{
	return ag_nesting == 0 && ag_session_action() == AG_ACTION_NONE;
}

/* ---------- per-executor records ---------- */

/* An executor on a permit is being freed: unlink its record. */
static void
ag_exec_info_gone(void *arg)
{
	dlist_delete((dlist_node *) arg);
}

static AgExecInfo *
ag_exec_info(EState *estate)
{
	dlist_iter	iter;

	if (dlist_is_empty(&ag_execs))
		return NULL;
	dlist_foreach(iter, &ag_execs)
	{
		AgExecInfo *i = dlist_container(AgExecInfo, node, iter.cur);

		if (i->estate == estate)
			return i;
	}
	return NULL;
}

/*
 * The record of one counted node at a time is static: a statement's first
 * (most have one) costs no allocation.
 */
static AgCounted ag_counted_static;
static bool ag_counted_static_used = false;
static int	ag_counted_merges = 0;	/* records of MERGE nodes */

/* A counted node's executor memory is being freed: forget its record. */
static void
ag_counted_gone(void *arg)
{
	AgCounted  *c = (AgCounted *) arg;

	dlist_delete(&c->node);
	if (c->merge)
		ag_counted_merges--;
	if (c == &ag_counted_static)
		ag_counted_static_used = false;
}

/* ---------- the count ---------- */

/*
 * The text for the hint of every row-limit decision.
 */
char *
ag_row_limit_hint(void)
{
	return pstrdup("To change more rows in one statement, a superuser can raise the row limit with agent_guard.tag_role(role, action, max_rows => N) or the setting agent_guard.max_rows.");
}

/* The total passed the limit at node c: decide, as the top-level statement. */
static void
ag_limit_passed(AgCounted *c)
{
	AgStatement st = {0};
	ObjectAddress addr;
	AgQueryRef	saved;
	int64		limit = ag_session_row_limit();
	const char *source = ag_row_limit_source();
	bool		permit;

	if (limit <= 0)
	{
		/* the limit went away meanwhile (a tag change seen by a new statement) */
		limit = c->limit;
		source = "";
	}
	ObjectAddressSet(addr, RelationRelationId, c->relid);
	st.cls = c->cls;
	st.command = c->command;
	st.target = psprintf("on %s", getObjectIdentity(&addr, false));
	st.objects = list_make1(ag_object_description(&addr));
	/* what the executor whose node passed the limit reaches, as defined now */
	st.object_key = ag_plan_reach_key(c->estate->es_plannedstmt);
	st.estimated_rows = ag_rows_total;
	st.stopped_after = ag_rows_total;
	st.row_limit = limit;
	st.reason = psprintf("Counting every row the top-level statement deletes or updates (through functions, triggers and cascades too), it reached " INT64_FORMAT " rows at %s, above the row limit of " INT64_FORMAT " %s.",
						 ag_rows_total, ag_object_description(&addr), limit,
						 source ? source : "");
	st.hint = psprintf("Change fewer rows per statement. %s", ag_row_limit_hint());
	st.limit_hint = ag_row_limit_hint();

	ag_get_current_query(&saved);
	if (ag_top_query_set)
		ag_restore_current_query(&ag_top_query);
	else if (c->estate->es_sourceText != NULL)
	{
		/*
		 * No top-level statement (a function folded at plan time, a deferred
		 * trigger at COMMIT): the statement whose row passed the limit.
		 */
		ag_set_current_query(c->estate->es_sourceText, -1, 0);
		ag_set_current_params(c->estate->es_param_list_info);
	}
	PG_TRY();
	{
		permit = ag_decide(&st);
	}
	PG_FINALLY();
	{
		ag_restore_current_query(&saved);
	}
	PG_END_TRY();

	/*
	 * A permit lifts the limit for the rest of the statement, a grant with
	 * max_rows raises it to that (grants.c); log warns once.
	 */
	if (permit && ag_grant_row_limit > 0)
		ag_limit_raised = ag_grant_row_limit;
	else if (permit)
		ag_limit_lifted = true;
	else
		ag_limit_logged = true;
}

static void
ag_count(AgCounted *c, int64 rows)
{
	if (ag_limit_lifted || ag_limit_logged || ag_approved_depth > 0)
		return;
	ag_rows_total += rows;
	if (ag_rows_total > c->limit && ag_rows_total > ag_limit_raised)
		ag_limit_passed(c);
}

static void
ag_count_merge(AgCounted *c)
{
	double		done = c->mtstate->mt_merge_updated + c->mtstate->mt_merge_deleted;

	if (done > c->merge_seen)
	{
		int64		rows = (int64) (done - c->merge_seen);

		c->merge_seen = done;
		ag_count(c, rows);
	}
}

/* The wrapped ExecProcNode of a ModifyTable's subplan. */
static TupleTableSlot *
ag_counting_exec(PlanState *ps)
{
	AgCounted  *c = NULL;
	TupleTableSlot *slot;
	dlist_iter	iter;

	dlist_foreach(iter, &ag_counted)
	{
		c = dlist_container(AgCounted, node, iter.cur);
		if (c->subplan == ps)
			break;
		c = NULL;
	}
	if (c == NULL)
		elog(ERROR, "agent_guard: row counter of a plan node not found");
	slot = c->real(ps);
	if (c->merge)
		ag_count_merge(c);
	else if (!TupIsNull(slot))
		ag_count(c, 1);
	return slot;
}

/* Wrap one ModifyTable node's subplan, if its rows count. */
static void
ag_wrap_modify(ModifyTableState *mtstate, int64 limit)
{
	ModifyTable *mt = (ModifyTable *) mtstate->ps.plan;
	EState	   *estate = mtstate->ps.state;
	PlanState  *sub = outerPlanState(mtstate);
	Relation	nominal;
	AgClass		cls;
	bool		all_exempt = true;
	AgCounted  *c;

	if (sub == NULL || sub->ExecProcNodeReal == ag_counting_exec)
		return;
	switch (mtstate->operation)
	{
		case CMD_INSERT:
			/* every row it proposes may overwrite one: inserts count too */
			if (mt->onConflictAction != ONCONFLICT_UPDATE)
				return;
			cls = AG_CLASS_UPDATE;
			break;
		case CMD_DELETE:
			cls = AG_CLASS_DELETE;
			break;
		case CMD_UPDATE:
			cls = AG_CLASS_UPDATE;
			break;
		case CMD_MERGE:
			{
				ListCell   *l1,
						   *l2;
				bool		deletes = false,
							updates = false;

				foreach(l1, mt->mergeActionLists)
				{
					foreach(l2, (List *) lfirst(l1))
					{
						MergeAction *action = lfirst(l2);

						deletes |= action->commandType == CMD_DELETE;
						updates |= action->commandType == CMD_UPDATE;
					}
				}
				if (!deletes && !updates)
					return;		/* inserts destroy nothing */
				/* as dml.c classifies MERGE */
				cls = deletes ? AG_CLASS_DELETE : AG_CLASS_UPDATE;
				break;
			}
		default:
			return;
	}

	nominal = mtstate->rootResultRelInfo ?
		mtstate->rootResultRelInfo->ri_RelationDesc :
		mtstate->resultRelInfo[0].ri_RelationDesc;
	/* INSTEAD OF triggers: the statements they run are counted */
	if (nominal->rd_rel->relkind == RELKIND_VIEW)
		return;
	for (int i = 0; i < mtstate->mt_nrels && all_exempt; i++)
		all_exempt = ag_open_relation_is_exempt(mtstate->resultRelInfo[i].ri_RelationDesc);
	if (all_exempt)
		return;

	if (!ag_counted_static_used)
	{
		c = &ag_counted_static;
		ag_counted_static_used = true;
	}
	else
		c = MemoryContextAlloc(estate->es_query_cxt, sizeof(AgCounted));
	c->subplan = sub;
	c->real = sub->ExecProcNodeReal;
	c->mtstate = mtstate;
	c->estate = estate;
	c->merge = mtstate->operation == CMD_MERGE;
	ag_counted_merges += c->merge;
	c->merge_seen = 0;
	c->limit = limit;
	c->cls = cls;
	c->command = mtstate->operation == CMD_MERGE ? "MERGE" :
		mtstate->operation == CMD_INSERT ? "INSERT ... ON CONFLICT DO UPDATE" :
		mtstate->operation == CMD_DELETE ? "DELETE" : "UPDATE";
	c->relid = RelationGetRelid(nominal);
	c->cb.func = ag_counted_gone;
	c->cb.arg = c;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &c->cb);
	dlist_push_head(&ag_counted, &c->node);
	ExecSetExecProcNode(sub, ag_counting_exec);
}

/*
 * Wrap the ModifyTable nodes of a plan state tree.  None is below another:
 * a data-modifying statement is the top of its plan, and those of WITH
 * queries are subplans (es_subplanstates), wrapped one by one.
 */
static bool
ag_wrap_walker(PlanState *ps, void *context)
{
	if (ps == NULL)
		return false;
	if (IsA(ps, ModifyTableState))
	{
		ag_wrap_modify((ModifyTableState *) ps, *(int64 *) context);
		return false;
	}
	return planstate_tree_walker(ps, ag_wrap_walker, context);
}

/*
 * Start a tracked executor (an agent session's, or any inside a tracked
 * statement) for dml.c's ExecutorStart hook, which has decided its plan:
 * "start" is the next hook or standard_ExecutorStart.  Functions can run
 * inside ExecutorStart (initial partition pruning evaluates stable
 * expressions), and what they change belongs to this statement, so the
 * start is a level of its own (no PG_TRY: see "Levels and errors").  Once
 * the executor exists, its ModifyTable nodes are wrapped.
 * "limit": the session's row limit when the statement changes rows and is
 * an agent's (0: nothing to count); "approved": dml.c let it run on a
 * permit; "logged": dml.c warned about it in log mode (the count then warns
 * no more in this statement).
 */
void
ag_rowlimit_start(QueryDesc *queryDesc, int eflags, void (*start) (QueryDesc *, int),
				  int64 limit, bool approved, bool logged)
{
	bool		is_top = ag_nesting == 0 && ActivePortal != NULL;
	EState	   *estate;
	ListCell   *lc;

	if (is_top)
	{
		ag_top_estate = NULL;	/* set once the executor exists */
		ag_set_top_query(queryDesc->sourceText,
						 queryDesc->plannedstmt->stmt_location,
						 queryDesc->plannedstmt->stmt_len, queryDesc->params);
	}
	ag_nesting++;
	start(queryDesc, eflags);
	ag_nesting--;

	/* the guard's own statements (a permit taken) are not the agent's */
	estate = queryDesc->estate;
	if (estate == NULL || ag_in_internal_work)
		return;
	if (is_top)
		ag_top_estate = estate;
	if (logged)
		ag_limit_logged = true;
	if (approved)
	{
		AgExecInfo *info = MemoryContextAllocZero(estate->es_query_cxt,
												  sizeof(AgExecInfo));

		info->estate = estate;
		info->cb.func = ag_exec_info_gone;
		info->cb.arg = &info->node;
		MemoryContextRegisterResetCallback(estate->es_query_cxt, &info->cb);
		dlist_push_head(&ag_execs, &info->node);
		return;
	}
	if (limit <= 0)
		return;
	ag_wrap_walker(queryDesc->planstate, &limit);
	/* data-modifying CTEs and other subplans */
	foreach(lc, estate->es_subplanstates)
		ag_wrap_walker((PlanState *) lfirst(lc), &limit);
}

/* ---------- nesting ---------- */

/*
 * One level deeper while a tracked executor runs or finishes, and one
 * permit level deeper when it runs on a permit (it has a record then).  No
 * PG_TRY: an error that leaves the levels raised is repaired where it is
 * caught (see "Levels and errors" in the header comment).
 */
static inline bool
ag_level_enter(EState *estate)
{
	bool		approved = !dlist_is_empty(&ag_execs) && ag_exec_info(estate) != NULL;

	ag_nesting++;
	if (approved)
		ag_approved_depth++;
	return approved;
}

static inline void
ag_level_leave(bool approved)
{
	ag_nesting--;
	if (approved)
		ag_approved_depth--;
}

static pg_noinline void
ag_tracked_ExecutorRun(AG_EXECUTORRUN_ARGS)
{
	bool		approved = ag_level_enter(queryDesc->estate);

	if (prev_ExecutorRun)
		AG_EXECUTORRUN_CALL(prev_ExecutorRun);
	else
		AG_EXECUTORRUN_CALL(standard_ExecutorRun);
	ag_level_leave(approved);
}

static void
ag_ExecutorRun(AG_EXECUTORRUN_ARGS)
{
	if (queryDesc->estate != ag_untracked_estate)
		AG_EXECUTORRUN_CALL(ag_tracked_ExecutorRun);
	else if (prev_ExecutorRun)
		AG_EXECUTORRUN_CALL(prev_ExecutorRun);
	else
		AG_EXECUTORRUN_CALL(standard_ExecutorRun);
}

static pg_noinline void
ag_tracked_ExecutorFinish(QueryDesc *queryDesc)
{
	bool		approved = ag_level_enter(queryDesc->estate);

	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	/* MERGE: the last row's action came after the last fetch */
	if (ag_counted_merges > 0)
	{
		dlist_iter	iter;

		dlist_foreach(iter, &ag_counted)
		{
			AgCounted  *c = dlist_container(AgCounted, node, iter.cur);

			if (c->estate == queryDesc->estate && c->merge)
				ag_count_merge(c);
		}
	}
	ag_level_leave(approved);
}

static void
ag_ExecutorFinish(QueryDesc *queryDesc)
{
	if (queryDesc->estate != ag_untracked_estate)
		ag_tracked_ExecutorFinish(queryDesc);
	else if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
}

static void
ag_ExecutorEnd(QueryDesc *queryDesc)
{
	bool		is_top = queryDesc->estate == ag_top_estate &&
		ag_top_estate != NULL && ag_last_of_portal(queryDesc->plannedstmt);

	/* frees the executor state: its records unlink themselves */
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (is_top)
	{
		ag_top_estate = NULL;
		ag_statement_done();
	}
}

static void
ag_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	bool		is_top;
	int			saved_nesting;
	int			saved_approved;

	if (ag_untracked())
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		return;
	}
	is_top = ag_nesting == 0 && ActivePortal != NULL;
	if (is_top)
	{
		ag_top_estate = NULL;
		ag_set_top_query(queryString, pstmt->stmt_location, pstmt->stmt_len,
						 params);
	}
	saved_nesting = ag_nesting;
	saved_approved = ag_approved_depth;
	ag_nesting++;
	ag_utility_depth++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		/* also repairs executor levels an error left raised inside */
		ag_nesting = saved_nesting;
		ag_approved_depth = saved_approved;
		ag_utility_depth--;
	}
	PG_END_TRY();
	if (is_top && ag_last_of_portal(pstmt))
		ag_statement_done();
}

/*
 * A transaction that ends at level 0 ends the statement's count (deferred
 * triggers fired at COMMIT add up until here).  A COMMIT or ROLLBACK inside
 * a procedure (level > 0) does not: the CALL goes on.  Subtransactions
 * never reset it.
 */
void
ag_rowlimit_xact_end(bool abort)
{
	/*
	 * An abort with no utility frame alive is an error that went all the
	 * way up: every level is gone.  (A ROLLBACK inside a procedure aborts
	 * with the CALL's frame alive, and no executor between: its level is
	 * right as it is.)
	 */
	if (abort && ag_utility_depth == 0)
	{
		ag_nesting = 0;
		ag_approved_depth = 0;
	}
	if (ag_nesting == 0)
	{
		ag_statement_done();
		ag_top_estate = NULL;
		ag_approved_depth = 0;
	}
}

/*
 * Subtransactions: the level when each began, by nesting level of the
 * subtransaction; an abort (an exception block that caught an error) puts
 * it back.  Entries hold the level + 1, so 0 means "not recorded" (a
 * subtransaction that began before these hooks were installed).
 */
static int *ag_sub_levels = NULL;
static int *ag_sub_approved = NULL;
static int	ag_sub_size = 0;

static void
ag_rowlimit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (level >= ag_sub_size)
			{
				int			size = Max(16, level * 2);

				if (ag_sub_levels == NULL)
				{
					ag_sub_levels = MemoryContextAllocZero(TopMemoryContext, size * sizeof(int));
					ag_sub_approved = MemoryContextAllocZero(TopMemoryContext, size * sizeof(int));
				}
				else
				{
					ag_sub_levels = repalloc(ag_sub_levels, size * sizeof(int));
					ag_sub_approved = repalloc(ag_sub_approved, size * sizeof(int));
					memset(ag_sub_levels + ag_sub_size, 0, (size - ag_sub_size) * sizeof(int));
					memset(ag_sub_approved + ag_sub_size, 0, (size - ag_sub_size) * sizeof(int));
				}
				ag_sub_size = size;
			}
			ag_sub_levels[level] = ag_nesting + 1;
			ag_sub_approved[level] = ag_approved_depth + 1;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			if (level < ag_sub_size && ag_sub_levels[level] > 0)
			{
				ag_nesting = ag_sub_levels[level] - 1;
				ag_approved_depth = ag_sub_approved[level] - 1;
			}
			pg_fallthrough;
		case SUBXACT_EVENT_COMMIT_SUB:
			if (level < ag_sub_size)
				ag_sub_levels[level] = 0;
			break;
		default:
			break;
	}
}

void
ag_rowlimit_init(void)
{
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ag_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ag_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = ag_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ag_ProcessUtility;
	RegisterSubXactCallback(ag_rowlimit_subxact_callback, NULL);
}
