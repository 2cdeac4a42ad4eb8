/*-------------------------------------------------------------------------
 *
 * dml.c
 *	  Guarding data changes: unbounded DELETE and UPDATE (classes delete and
 *	  update, MERGE included), and writes to the guard's own tables and to
 *	  the system catalogs (class guard).
 *
 * Hooks: ExecutorStart_hook and ExecutorCheckPerms_hook, both chained.
 *
 * Why the executor.  Every path that changes rows - top-level statements,
 * the extended protocol, PREPARE/EXECUTE, SPI from PL/pgSQL (DO blocks,
 * EXECUTE, cursors, FOR loops), SQL functions, triggers, rules (each rule
 * action is its own plan), data-modifying CTEs, MERGE, EXPLAIN ANALYZE,
 * COPY (...) TO - starts an executor on a PlannedStmt.  Deciding there,
 * once per execution, also catches a cached plan prepared by a human and
 * executed after SET ROLE to an agent.  A later row limit will count rows
 * in the same place.
 *
 * What "unbounded" means on a plan.  The planner has folded constants, so
 * WHERE true, WHERE 1=1 and WHERE NOT false have left no qual at all, and
 * a condition that does not look at any row (WHERE now() > '2000-01-01',
 * an uncorrelated EXISTS) has become a one-time gating filter with no
 * column reference in it.  Each ModifyTable node doing UPDATE or DELETE (or
 * MERGE with such actions) is examined: it is bounded when the scan of a
 * target relation carries a qual that references a column (filter, index
 * qual, bitmap recheck, TID qual), or a join that involves a target
 * relation has a join condition (DELETE ... USING ... WHERE t.a = u.a,
 * IN (SELECT ...), MERGE ... ON t.id = s.id).  A cross join with a filter
 * on the other table only, or a partitioned target where one partition is
 * scanned without a qual, is unbounded.  For MERGE, a destructive action
 * whose WHEN condition references a column is bounded too.
 *
 * Row limit, before anything runs (1.1).  A ModifyTable node doing DELETE,
 * UPDATE or MERGE whose subplan the planner estimates to return more rows
 * than the session's row limit (ag_session_row_limit) counts as unbounded
 * too, whatever its WHERE clause: parked, rejected or logged the same way,
 * with the estimate in DETAIL and on the request.  For MERGE the estimate is
 * of the joined rows, inserts included (an over-estimate: the exact count
 * while it runs counts only updates and deletes).  The exact count itself
 * lives in rowlimit.c, which wraps the same nodes after the executor has
 * started; it is told whether this executor runs on a permit a human gave.
 *
 * Exempt: target relations that are temporary or created in this
 * transaction.  EXPLAIN without ANALYZE never runs the plan: not guarded.
 * agent_guard.check() (preflight.c) has the same plan checks applied to a
 * plan it never starts (ag_dml_preflight), every plan judged by its
 * estimate as a client's statement would be.
 *
 * State: none across statements; the analysis runs on the plan at hand.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;


/*
 * Does a list of quals reference a column?  The common shape (column op
 * value, an index qual) is recognised without walking the expressions.
 */
static bool
ag_has_column_ref(List *quals)
{
	ListCell   *lc;

	if (quals == NIL)
		return false;
	foreach(lc, quals)
	{
		Node	   *q = lfirst(lc);

		if (IsA(q, OpExpr) && ((OpExpr *) q)->args != NIL &&
			IsA(linitial(((OpExpr *) q)->args), Var))
			return true;
	}
	return contain_var_clause((Node *) quals);
}

/*
 * The target relations of a ModifyTable node, as range table indexes: a bit
 * mask for the first 64 (every ordinary statement: no allocation), a
 * Bitmapset past them.
 */
typedef struct AgTargets
{
	uint64		low;
	Bitmapset  *high;
} AgTargets;

static inline void
ag_targets_add(AgTargets *targets, int rti)
{
	if (rti < 64)
		targets->low |= UINT64CONST(1) << rti;
	else
		targets->high = bms_add_member(targets->high, rti);
}

static inline bool
ag_is_target(const AgTargets *targets, int rti)
{
	if (rti <= 0)
		return false;
	if (rti < 64)
		return (targets->low >> rti) & 1;
	return bms_is_member(rti, targets->high);
}

/*
 * Does an expression evaluated at plan node "plan" look at a column of a
 * target relation?  Above the scans, setrefs.c has turned Vars into
 * references to a child's output (OUTER_VAR, INNER_VAR, or the scanrelid
 * of a SubqueryScan); follow them down the child's targetlist to the scan
 * that produces the value.  A join condition between two other relations
 * (DELETE FROM t USING o, p WHERE o.id = p.id), or a MERGE condition on
 * the source only, does not bound the target.
 */
typedef struct AgRefContext
{
	Plan	   *plan;
	const AgTargets *targets;
} AgRefContext;

static bool ag_refs_target_walker(Node *node, AgRefContext *cxt);

/* special varnos (OUTER_VAR ...) are past 64000 in 15, negative from 16 on */
static inline bool
ag_is_target_varno(int varno, const AgTargets *targets)
{
	return varno != OUTER_VAR && varno != INNER_VAR &&
		varno != INDEX_VAR && ag_is_target(targets, varno);
}

static bool
ag_expr_refs_target(Node *expr, Plan *plan, const AgTargets *targets)
{
	AgRefContext cxt;

	cxt.plan = plan;
	cxt.targets = targets;
	return ag_refs_target_walker(expr, &cxt);
}

/* Does output column attno of plan come from a target relation? */
static bool
ag_output_refs_target(Plan *plan, AttrNumber attno, const AgTargets *targets)
{
	TargetEntry *tle;

	if (plan == NULL || attno < 1 || attno > list_length(plan->targetlist))
		return false;
	tle = list_nth_node(TargetEntry, plan->targetlist, attno - 1);
	return ag_expr_refs_target((Node *) tle->expr, plan, targets);
}

static bool
ag_refs_target_walker(Node *node, AgRefContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		Plan	   *plan = cxt->plan;
		List	   *children = NIL;
		ListCell   *lc;

		if (plan == NULL)
			return ag_is_target_varno(var->varno, cxt->targets);
		if (IsA(plan, ModifyTable))
		{
			/* MERGE action conditions: INNER_VAR is the subplan's output */
			if (var->varno == INNER_VAR)
				return ag_output_refs_target(outerPlan(plan), var->varattno,
											 cxt->targets);
			return ag_is_target_varno(var->varno, cxt->targets);
		}
		if (var->varno == OUTER_VAR || var->varno == INNER_VAR)
		{
			if (IsA(plan, Append))
				children = ((Append *) plan)->appendplans;
			else if (IsA(plan, MergeAppend))
				children = ((MergeAppend *) plan)->mergeplans;
			else
				return ag_output_refs_target(var->varno == OUTER_VAR ?
											 outerPlan(plan) : innerPlan(plan),
											 var->varattno, cxt->targets);
			foreach(lc, children)
			{
				if (ag_output_refs_target(lfirst(lc), var->varattno, cxt->targets))
					return true;
			}
			return false;
		}
		if (var->varno == INDEX_VAR)
		{
			/* an index column (IndexOnlyScan) or a pushed-down join's column */
			if (IsA(plan, ForeignScan) && ((ForeignScan *) plan)->fdw_scan_tlist != NIL)
				return ag_expr_refs_target((Node *) ((ForeignScan *) plan)->fdw_scan_tlist,
										   NULL, cxt->targets);
			if (IsA(plan, CustomScan) && ((CustomScan *) plan)->custom_scan_tlist != NIL)
				return ag_expr_refs_target((Node *) ((CustomScan *) plan)->custom_scan_tlist,
										   NULL, cxt->targets);
			return IsA(plan, IndexOnlyScan) &&
				ag_is_target(cxt->targets, ((Scan *) plan)->scanrelid);
		}
		if (IsA(plan, SubqueryScan) && var->varno == ((Scan *) plan)->scanrelid)
			return ag_output_refs_target(((SubqueryScan *) plan)->subplan,
										 var->varattno, cxt->targets);
		return ag_is_target_varno(var->varno, cxt->targets);
	}
	return expression_tree_walker(node, ag_refs_target_walker, (void *) cxt);
}

/*
 * Walk a plan subtree.  *has_target: it scans one of the target relations;
 * *bounded: that scan is restricted by a qual or a join condition that
 * references a column.
 */
static void
ag_plan_bounds(Plan *plan, const AgTargets *targets, bool *has_target, bool *bounded)
{
	bool		lh = false,
				lb = false,
				rh = false,
				rb = false;

	*has_target = false;
	*bounded = false;
	if (plan == NULL)
		return;

	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_ForeignScan:
			if (!ag_is_target(targets, ((Scan *) plan)->scanrelid))
				return;
			*has_target = true;
			*bounded = ag_has_column_ref(plan->qual);
			if (IsA(plan, IndexScan))
				*bounded |= ag_has_column_ref(((IndexScan *) plan)->indexqualorig);
			else if (IsA(plan, IndexOnlyScan))
				*bounded |= ag_has_column_ref(((IndexOnlyScan *) plan)->indexqual);
			else if (IsA(plan, BitmapHeapScan))
				*bounded |= ag_has_column_ref(((BitmapHeapScan *) plan)->bitmapqualorig);
			else if (IsA(plan, TidScan))
				*bounded |= ((TidScan *) plan)->tidquals != NIL;
			else if (IsA(plan, TidRangeScan))
				*bounded |= ((TidRangeScan *) plan)->tidrangequals != NIL;
			else if (IsA(plan, ForeignScan))
				*bounded |= ag_has_column_ref(((ForeignScan *) plan)->fdw_recheck_quals);
			return;

		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			ag_plan_bounds(plan->lefttree, targets, &lh, &lb);
			ag_plan_bounds(plan->righttree, targets, &rh, &rb);
			*has_target = lh || rh;
			*bounded = lb || rb;
			if (*has_target && !*bounded)
			{
				Join	   *join = (Join *) plan;

				/* a join condition bounds only if it looks at the target */
				*bounded = ag_expr_refs_target((Node *) join->joinqual, plan, targets) ||
					ag_expr_refs_target((Node *) plan->qual, plan, targets);
				if (IsA(plan, NestLoop))
				{
					ListCell   *lc;

					foreach(lc, ((NestLoop *) plan)->nestParams)
					{
						NestLoopParam *nlp = lfirst(lc);

						*bounded |= ag_expr_refs_target((Node *) nlp->paramval,
														plan, targets);
					}
				}
				else if (IsA(plan, MergeJoin))
					*bounded |= ag_expr_refs_target((Node *) ((MergeJoin *) plan)->mergeclauses,
													plan, targets);
				else
					*bounded |= ag_expr_refs_target((Node *) ((HashJoin *) plan)->hashclauses,
													plan, targets);
			}
			return;

		case T_Append:
		case T_MergeAppend:
			{
				List	   *children = IsA(plan, Append) ?
					((Append *) plan)->appendplans : ((MergeAppend *) plan)->mergeplans;
				ListCell   *lc;
				bool		all_bounded = true;

				/* every scanned target partition must be bounded */
				foreach(lc, children)
				{
					ag_plan_bounds(lfirst(lc), targets, &lh, &lb);
					if (lh)
					{
						*has_target = true;
						all_bounded &= lb;
					}
				}
				*bounded = *has_target && all_bounded;
				return;
			}

		case T_SubqueryScan:
			ag_plan_bounds(((SubqueryScan *) plan)->subplan, targets,
						   has_target, bounded);
			return;

		default:
			/* Result, Hash, Sort, Material, Memoize, Gather, LockRows, ... */
			ag_plan_bounds(plan->lefttree, targets, &lh, &lb);
			ag_plan_bounds(plan->righttree, targets, &rh, &rb);
			*has_target = lh || rh;
			*bounded = lb || rb ||
				(*has_target && ag_expr_refs_target((Node *) plan->qual, plan, targets));
			return;
	}
}

/* Which destructive action does a MERGE carry, and are they all bounded? */
static void
ag_merge_actions(ModifyTable *mt, const AgTargets *targets, bool *deletes,
				 bool *updates, bool *actions_bounded)
{
	ListCell   *l1,
			   *l2;
	bool		any = false;

	*deletes = *updates = false;
	*actions_bounded = true;
	foreach(l1, mt->mergeActionLists)
	{
		foreach(l2, (List *) lfirst(l1))
		{
			MergeAction *action = lfirst(l2);

			if (action->commandType != CMD_DELETE &&
				action->commandType != CMD_UPDATE)
				continue;
			any = true;
			if (action->commandType == CMD_DELETE)
				*deletes = true;
			else
				*updates = true;
			/* a condition on the source only does not choose target rows */
			if (!ag_expr_refs_target(action->qual, (Plan *) mt, targets))
				*actions_bounded = false;
		}
	}
	if (!any)
		*actions_bounded = false;
}

/*
 * MERGE ... WHEN NOT MATCHED BY SOURCE (17+) deletes or updates the target
 * rows the join did not match: the join condition does not bound it.
 */
static bool
ag_merge_has_by_source_action(ModifyTable *mt, const AgTargets *targets)
{
#if PG_VERSION_NUM >= 170000
	ListCell   *l1,
			   *l2;

	foreach(l1, mt->mergeActionLists)
	{
		foreach(l2, (List *) lfirst(l1))
		{
			MergeAction *action = lfirst(l2);

			if ((action->commandType == CMD_DELETE ||
				 action->commandType == CMD_UPDATE) &&
				action->matchKind == MERGE_WHEN_NOT_MATCHED_BY_SOURCE &&
				!ag_expr_refs_target(action->qual, (Plan *) mt, targets))
				return true;
		}
	}
#endif
	return false;
}

/*
 * The statement being decided is the executor's: register its text and its
 * parameter values for the decision's messages, audit row and permit only
 * now, on the way to a decision, and put back the ones before (a hook
 * further out may have registered one).
 */
static bool
ag_decide_executor(const AgStatement *st, QueryDesc *queryDesc)
{
	AgQueryRef	saved;
	bool		permit;

	ag_get_current_query(&saved);
	ag_set_current_query(queryDesc->sourceText,
						 queryDesc->plannedstmt->stmt_location,
						 queryDesc->plannedstmt->stmt_len);
	ag_set_current_params(queryDesc->params);
	PG_TRY();
	{
		permit = ag_decide(st);
	}
	PG_FINALLY();
	{
		ag_restore_current_query(&saved);
	}
	PG_END_TRY();
	return permit;
}

/* What deciding the ModifyTable nodes of a plan came to. */
#define AG_MODIFY_PERMIT	0x01	/* a human's permit let it run */
#define AG_MODIFY_LOGGED	0x02	/* log action: warned and let it run */
#define AG_MODIFY_GRANTED	0x04	/* a grant with max_rows: counted to it */

/*
 * Decide one ModifyTable node: unbounded (no condition on the target), or
 * estimated above the row limit.  Returns AG_MODIFY_* flags.
 */
static int
ag_check_modify(ModifyTable *mt, QueryDesc *queryDesc, int64 limit)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	AgTargets	targets = {0};
	bool		has_target,
				bounded = true;
	bool		deletes = false,
				updates = false;
	bool		by_source = false;
	bool		unbounded = false;
	bool		merge_actions_bounded = false;
	double		plan_rows;
	const char *limit_source = NULL;
	RangeTblEntry *rte;
	ObjectAddress addr;
	AgStatement st;
	ListCell   *lc;

	if (mt->operation != CMD_DELETE && mt->operation != CMD_UPDATE &&
		mt->operation != CMD_MERGE &&
		!(mt->operation == CMD_INSERT && mt->onConflictAction == ONCONFLICT_UPDATE))
		return 0;

	rte = rt_fetch(mt->nominalRelation, pstmt->rtable);
	if (rte->rtekind != RTE_RELATION)
		return 0;

	foreach(lc, mt->resultRelations)
		ag_targets_add(&targets, lfirst_int(lc));
	if (mt->rootRelation > 0)
		ag_targets_add(&targets, mt->rootRelation);

	/*
	 * A view with INSTEAD OF triggers: its rows come from the view's query,
	 * flattened into the plan, and the trigger runs once per row.  Count
	 * the relations the statement reads as the target (an approximation:
	 * a relation of a USING or FROM list counts too).
	 */
	if (rte->relkind == RELKIND_VIEW)
	{
		int			rti = 0;

		foreach(lc, pstmt->rtable)
		{
			RangeTblEntry *r = lfirst(lc);

			rti++;
			if (r->rtekind == RTE_RELATION && r->relid != rte->relid)
				ag_targets_add(&targets, rti);
		}
	}

	switch (mt->operation)
	{
		case CMD_DELETE:
			deletes = true;
			break;
		case CMD_UPDATE:
			updates = true;
			break;
		case CMD_INSERT:
			/* ON CONFLICT DO UPDATE: only the row limit applies (below) */
			updates = true;
			break;
		case CMD_MERGE:
			{
				bool		actions_bounded;

				ag_merge_actions(mt, &targets, &deletes, &updates, &actions_bounded);
				merge_actions_bounded = actions_bounded;
				if (!actions_bounded)
				{
					by_source = ag_merge_has_by_source_action(mt, &targets);
					bounded = false;	/* the join decides, below */
				}
				break;
			}
		default:
			return 0;
	}
	if (!deletes && !updates)
		return 0;

	if (mt->operation == CMD_DELETE || mt->operation == CMD_UPDATE ||
		(mt->operation == CMD_MERGE && !bounded))
	{
		ag_plan_bounds(outerPlan(mt), &targets, &has_target, &bounded);
		/* WHEN NOT MATCHED BY SOURCE acts on rows the join did not pick */
		unbounded = !bounded || by_source;
	}

	/*
	 * The planner's estimate against the row limit.  A MERGE whose
	 * destructive actions all carry a condition on the target is left to
	 * the exact count: the plan estimates the joined rows, not how many of
	 * them those conditions pick.  Only the plans a client's statement is
	 * made of (the active portal's: also through EXECUTE) are judged by their
	 * estimate: the statements they run (functions, triggers, foreign-key
	 * cascades with their generic plans) are left to the exact count, which
	 * stops them at the real limit.  An INSERT ... ON CONFLICT DO UPDATE is
	 * judged by the rows it proposes.
	 */
	plan_rows = outerPlan(mt) ? outerPlan(mt)->plan_rows : 0;
	if (!unbounded &&
		(limit <= 0 || plan_rows <= (double) limit || merge_actions_bounded ||
		 (!ag_preflight &&
		  (ActivePortal == NULL || !list_member_ptr(ActivePortal->stmts, pstmt)))))
		return 0;

	/*
	 * Exempt only when every relation whose rows change is: a parent or a
	 * partitioned table created in this transaction may have a committed
	 * table attached or inheriting from it.
	 */
	{
		bool		all_exempt = true;

		foreach(lc, mt->resultRelations)
		{
			RangeTblEntry *r = rt_fetch(lfirst_int(lc), pstmt->rtable);
			ObjectAddress a;

			ObjectAddressSet(a, RelationRelationId, r->relid);
			if (r->rtekind != RTE_RELATION || !ag_object_is_exempt(&a))
			{
				all_exempt = false;
				break;
			}
		}
		if (all_exempt)
			return 0;
	}
	ObjectAddressSet(addr, RelationRelationId, rte->relid);

	memset(&st, 0, sizeof(st));
	st.cls = deletes ? AG_CLASS_DELETE : AG_CLASS_UPDATE;
	st.command = mt->operation == CMD_MERGE ? "MERGE" :
		mt->operation == CMD_INSERT ? "INSERT ... ON CONFLICT DO UPDATE" :
		deletes ? "DELETE" : "UPDATE";
	st.objects = list_make1(ag_object_description(&addr));
	/* a permit stands for every relation the plan reaches, as defined now */
	st.object_key = ag_plan_reach_key(pstmt);
	st.estimated_rows = (int64) Min(plan_rows, (double) PG_INT64_MAX);
	if (unbounded)
	{
		st.target = psprintf("on %s without a WHERE clause",
							 getObjectIdentity(&addr, false));
		st.reason = deletes ?
			"Agents may only delete rows chosen by a condition on the table's columns; this statement would delete every row." :
			"Agents may only update rows chosen by a condition on the table's columns; this statement would update every row.";
		st.hint = deletes ?
			"Add a WHERE clause that selects the rows to delete, or ask a database administrator to run the statement." :
			"Add a WHERE clause that selects the rows to update, or ask a database administrator to run the statement.";
	}
	else
	{
		st.target = psprintf("on %s above the row limit",
							 getObjectIdentity(&addr, false));
		limit_source = ag_row_limit_source();
		st.reason = psprintf("The planner estimates it %s about %.0f rows of %s, above the row limit of " INT64_FORMAT " %s.",
							 deletes ? "deletes" : "changes", plan_rows,
							 ag_object_description(&addr), limit, limit_source);
		st.hint = ag_row_limit_hint();
		st.limit_hint = st.hint;
	}
	/* reject and park do not return */
	if (!ag_decide_executor(&st, queryDesc))
		return AG_MODIFY_LOGGED;
	return ag_grant_row_limit > 0 ? AG_MODIFY_GRANTED : AG_MODIFY_PERMIT;
}

/*
 * Find every ModifyTable node of a plan tree.  Returns the AG_MODIFY_*
 * flags of their decisions.  There is none below a ModifyTable node: a
 * data-modifying statement is planned as the top of its plan, and those of
 * WITH queries are subplans (pstmt->subplans), checked one by one.
 */
static int
ag_find_modify(Plan *plan, QueryDesc *queryDesc, int64 limit)
{
	ListCell   *lc;
	int			decided = 0;

	if (plan == NULL)
		return 0;
	if (IsA(plan, ModifyTable))
		return ag_check_modify((ModifyTable *) plan, queryDesc, limit);

	decided |= ag_find_modify(plan->lefttree, queryDesc, limit);
	decided |= ag_find_modify(plan->righttree, queryDesc, limit);
	switch (nodeTag(plan))
	{
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				decided |= ag_find_modify(lfirst(lc), queryDesc, limit);
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				decided |= ag_find_modify(lfirst(lc), queryDesc, limit);
			break;
		case T_SubqueryScan:
			decided |= ag_find_modify(((SubqueryScan *) plan)->subplan, queryDesc, limit);
			break;
		case T_CustomScan:
			foreach(lc, ((CustomScan *) plan)->custom_plans)
				decided |= ag_find_modify(lfirst(lc), queryDesc, limit);
			break;
		default:
			break;
	}
	return decided;
}

static void ag_check_writes(List *perms, QueryDesc *queryDesc);

/*
 * An agent's data change, before the executor starts: tampering first
 * (refused as such, never parked as a change), then the plan.  Returns the
 * AG_MODIFY_* flags of the decisions.
 */
static int
ag_check_plan(QueryDesc *queryDesc, int64 limit)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	int			decided;
	ListCell   *lc;

	ag_check_writes(AG_PLAN_PERMS(pstmt), queryDesc);
	decided = ag_find_modify(pstmt->planTree, queryDesc, limit);
	foreach(lc, pstmt->subplans)
		decided |= ag_find_modify(lfirst(lc), queryDesc, limit);
	return decided;
}

/*
 * agent_guard.check() (preflight.c): the plan checks of a statement that is
 * planned, never started.  A decision raises the preflight error.
 */
void
ag_dml_preflight(QueryDesc *queryDesc)
{
	(void) ag_check_plan(queryDesc, ag_session_row_limit());
}

/*
 * The permission list of the executor being started that needs no check by
 * the permission hook (ag_ExecutorCheckPerms) called from inside that
 * start: a human session's, or an agent's whose writes were just checked.  Set just before the start and cleared
 * after it, by every ExecutorStart and at the entry of every utility
 * statement (COPY and ALTER TABLE reach the permission hook without
 * ExecutorStart), so a stale value is never compared with a list of
 * another statement.
 */
List	   *ag_checked_perms = NIL;

/*
 * An agent session's executor (or any executor started while a statement
 * of one is running): tampering and the plan are decided first, then the
 * executor starts inside a row-count level.
 */
static pg_noinline void
ag_agent_ExecutorStart(QueryDesc *queryDesc, int eflags, bool modifies,
					   AgAction action)
{
	int			decided = 0;
	int64		limit = 0;

	if (modifies && action != AG_ACTION_NONE)
	{
		limit = ag_session_row_limit();
		decided = ag_check_plan(queryDesc, limit);
		/* its writes are checked: the permission hook need not again */
		ag_checked_perms = AG_PLAN_PERMS(queryDesc->plannedstmt);
	}
	else if (queryDesc->plannedstmt->commandType == CMD_SELECT &&
			 queryDesc->plannedstmt->rowMarks == NIL)
	{
		/*
		 * A plain SELECT neither writes nor locks a row: a locking clause
		 * (FOR UPDATE, which asks for UPDATE privilege) leaves row marks in
		 * the plan, those of subqueries and subplans included.
		 */
		ag_checked_perms = AG_PLAN_PERMS(queryDesc->plannedstmt);
	}
	/* a grant's max_rows is the limit its statement is counted to */
	if (decided & AG_MODIFY_GRANTED)
		limit = ag_grant_row_limit;
	/* the guard's own query taking a permit set it: this one is tracked */
	ag_untracked_estate = NULL;
	/* started in a row-count level, its nodes counted (rowlimit.c) */
	ag_rowlimit_start(queryDesc, eflags,
					  prev_ExecutorStart ? prev_ExecutorStart : standard_ExecutorStart,
					  limit, (decided & AG_MODIFY_PERMIT) != 0,
					  (decided & AG_MODIFY_LOGGED) != 0);
	ag_checked_perms = NIL;
}

static void
ag_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	bool		modifies = (pstmt->commandType == CMD_UPDATE ||
							pstmt->commandType == CMD_DELETE ||
							pstmt->commandType == CMD_MERGE ||
							pstmt->hasModifyingCTE ||
							(pstmt->commandType == CMD_INSERT &&
							 IsA(pstmt->planTree, ModifyTable) &&
							 ((ModifyTable *) pstmt->planTree)->onConflictAction == ONCONFLICT_UPDATE)) &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY);

	AgAction	action;

	if (modifies)
		ag_accept_invalidations();	/* a tag change made meanwhile */
	ag_untracked_estate = NULL;
	ag_checked_perms = NIL;
	action = ag_session_action();
	if (likely(ag_nesting == 0 && action == AG_ACTION_NONE))
	{
		/* a human session, outside any statement the guard tracks */
		ag_checked_perms = AG_PLAN_PERMS(pstmt);
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
		ag_checked_perms = NIL;
		ag_untracked_estate = queryDesc->estate;
		return;
	}
	ag_agent_ExecutorStart(queryDesc, eflags, modifies, action);
}

/*
 * Writes (INSERT, UPDATE, DELETE, MERGE, COPY FROM) to the guard's own
 * tables or to the system catalogs are tampering.  Privileges already stop
 * a non-superuser; this stops a superuser agent too.
 */
#define AG_WRITE_PERMS (ACL_INSERT | ACL_UPDATE | ACL_DELETE)

/*
 * The last relation found not to be protected: an agent that writes to the
 * same table statement after statement (and the permission hook, which
 * sees the same statement again) skips the catalog lookup.  Forgotten on
 * any invalidation of that relation (ALTER TABLE ... SET SCHEMA) or of a
 * schema.
 */
static Oid	ag_unprotected_relid = InvalidOid;

static void
ag_forget_relation(Datum arg, Oid relid)
{
	if (relid == ag_unprotected_relid || !OidIsValid(relid))
		ag_unprotected_relid = InvalidOid;
}

static void
ag_forget_schemas(Datum arg, int cacheid, uint32 hashvalue)
{
	ag_unprotected_relid = InvalidOid;
}

/*
 * A write to relid by an agent session: tampering when the relation is a
 * system catalog or one of the guard's tables.  queryDesc: the executor
 * being started, whose text the refusal names (NULL from the permission
 * hook: the statement registered further out, COPY's say).
 */
static void
ag_check_protected_write(Oid relid, QueryDesc *queryDesc)
{
	Oid			nsp = get_rel_namespace(relid);
	char	   *name;
	const char *reason;
	AgQueryRef	saved;

	/* the cached schema name first: ag_guard_schema() scans pg_extension */
	if (nsp != PG_CATALOG_NAMESPACE &&
		(nsp != ag_schema_named_guard() || nsp != ag_guard_schema()))
	{
		ag_unprotected_relid = relid;
		return;
	}
	name = quote_qualified_identifier(get_namespace_name(nsp), get_rel_name(relid));
	reason = nsp == PG_CATALOG_NAMESPACE ?
		"System catalogs hold the guard's tags and cannot be written by an agent session." :
		"The tables of agent_guard cannot be changed by an agent session.";
	if (queryDesc == NULL)
		ag_tamper("writing to", name, reason);
	ag_get_current_query(&saved);
	ag_set_current_query(queryDesc->sourceText,
						 queryDesc->plannedstmt->stmt_location,
						 queryDesc->plannedstmt->stmt_len);
	PG_TRY();
	{
		ag_tamper("writing to", name, reason);
	}
	PG_FINALLY();
	{
		ag_restore_current_query(&saved);
	}
	PG_END_TRY();
}

/*
 * Check the writes of a statement: "perms" is the range table (15) or the
 * list of RTEPermissionInfo (16+).  Most statements write nothing, so the
 * session is asked only when there is a write.
 */
static void
ag_check_writes(List *perms, QueryDesc *queryDesc)
{
	ListCell   *lc;

	foreach(lc, perms)
	{
#if PG_VERSION_NUM >= 160000
		RTEPermissionInfo *perm = lfirst(lc);
		Oid			relid = perm->relid;
#else
		RangeTblEntry *perm = lfirst(lc);
		Oid			relid = perm->rtekind == RTE_RELATION ? perm->relid : InvalidOid;
#endif

		if (OidIsValid(relid) && (perm->requiredPerms & AG_WRITE_PERMS) &&
			relid != ag_unprotected_relid &&
			ag_session_action() != AG_ACTION_NONE)
			ag_check_protected_write(relid, queryDesc);
	}
}

static bool
ag_ExecutorCheckPerms(AG_CHECKPERMS_ARGS)
{
	/* from inside an executor start that needs no check (see above) */
	if (AG_CHECKPERMS_PERMS != ag_checked_perms)
		ag_check_writes(AG_CHECKPERMS_PERMS, NULL);
	if (prev_ExecutorCheckPerms)
		return AG_CHECKPERMS_CALL(prev_ExecutorCheckPerms);
	return true;
}

void
ag_dml_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = ag_ExecutorStart;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = ag_ExecutorCheckPerms;
	CacheRegisterRelcacheCallback(ag_forget_relation, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, ag_forget_schemas, (Datum) 0);
}
