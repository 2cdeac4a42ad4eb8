/*-------------------------------------------------------------------------
 *
 * permit.c
 *	  What an approval is bound to besides the role, class, text and
 *	  search_path of a statement: the parts of its fingerprint that say how
 *	  the server understood it.
 *
 *	  - ag_permit_params: the values bound to its parameters ($n of the
 *		extended protocol and of EXECUTE, PL/pgSQL variables, function
 *		arguments), as "$1 = '80', $2 = NULL".  Identical text with other
 *		values is another statement.
 *	  - ag_permit_settings: the settings that change how identical text is
 *		read or what it does (a literal under standard_conforming_strings,
 *		a date under DateStyle, x = NULL under transform_null_equals, which
 *		triggers fire under session_replication_role, ...), every
 *		application setting (current_setting('app.tenant') in a policy or a
 *		condition) and the current user.
 *	  - ag_plan_reach_key: every relation a data change's plan reaches (the
 *		children and partitions it expands to, the tables behind its
 *		views, those its subqueries read), and a SHA-256 of their
 *		definitions: rules (a view's query is its _RETURN rule), triggers
 *		with their functions, row level security and its policies, and
 *		the user-defined functions the plan calls.  A child attached, a
 *		view, function or trigger function replaced, a policy dropped
 *		after the approval makes another key.  Not bound: what those
 *		functions call in turn, and the data the statement reads.
 *
 * Why not a hash of the parse tree.  At ExecutorStart, where data changes
 * are decided, the Query is gone (a cached plan keeps only the plan), and
 * the text of a statement inside PL/pgSQL cannot be parsed again without
 * its variables.  A plan tree carries estimates and differs between the
 * custom and the generic plan of one prepared statement, so its hash
 * would refuse what a human approved.  And neither tree shows what a
 * setting does at run time (a text-to-date cast evaluated while the
 * statement runs reads DateStyle then): the settings must be bound anyway.
 *
 * Hooks: none.  Called only on the way to a park/permit decision
 * (decide.c, for the action park), never for statements that are allowed.
 * State: none; everything is allocated in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "mb/stringinfo_mb.h"
#include "nodes/params.h"
#include "nodes/plannodes.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rowsecurity.h"
#include "utils/fmgroids.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/*
 * The settings that change what identical text means.  Lexing:
 * standard_conforming_strings ('a\' ends or does not end a literal).
 * Parse analysis: transform_null_equals.  Input of literals: DateStyle,
 * IntervalStyle, TimeZone, timezone_abbreviations, array_nulls, xmloption.
 * Casts to text evaluated by the statement: extra_float_digits,
 * bytea_output, xmlbinary, lc_monetary, lc_numeric, lc_time.  Defaults
 * of functions: default_text_search_config.  What runs with it:
 * session_replication_role (which triggers and rules fire), and
 * plpgsql.variable_conflict (a name in a PL/pgSQL statement is a column
 * or a variable; until PL/pgSQL is loaded in the backend it is not
 * defined, and then reads as its default).  Not here: backslash_quote and
 * escape_string_warning (they only refuse or warn, never change a
 * meaning), client_encoding (the text is kept after conversion).
 */
static const struct
{
	const char *name;
	const char *undefined;		/* its value while not defined */
}			ag_reading_settings[] =
{
	{"standard_conforming_strings"},
	{"transform_null_equals"},
	{"DateStyle"},
	{"IntervalStyle"},
	{"TimeZone"},
	{"timezone_abbreviations"},
	{"array_nulls"},
	{"xmloption"},
	{"extra_float_digits"},
	{"bytea_output"},
	{"xmlbinary"},
	{"lc_monetary"},
	{"lc_numeric"},
	{"lc_time"},
	{"default_text_search_config"},
	{"session_replication_role"},
	{"plpgsql.variable_conflict", "error"},
};

/*
 * The values of a statement's parameters, as text; NULL when it has none.
 * A list with a fetch hook (PL/pgSQL's, which holds every variable of the
 * function) is asked speculatively: it answers only for the variables
 * this statement references.  Floats are written exactly whatever
 * extra_float_digits says, so that two values never read the same.
 */
char *
ag_permit_params(struct ParamListInfoData *params)
{
	StringInfoData buf;
	int			save_digits = extra_float_digits;

	if (params == NULL || params->numParams <= 0)
		return NULL;
	initStringInfo(&buf);
	if (extra_float_digits < 1)
		extra_float_digits = 1;
	PG_TRY();
	{
		for (int i = 0; i < params->numParams; i++)
		{
			ParamExternData workspace;
			ParamExternData *prm;

			if (params->paramFetch != NULL)
				prm = params->paramFetch(params, i + 1, true, &workspace);
			else
				prm = &params->params[i];
			if (prm == NULL || !OidIsValid(prm->ptype))
				continue;
			appendStringInfo(&buf, "%s$%d = ", buf.len > 0 ? ", " : "", i + 1);
			if (prm->isnull)
				appendStringInfoString(&buf, "NULL");
			else
			{
				Oid			typoutput;
				bool		isvarlena;

				getTypeOutputInfo(prm->ptype, &typoutput, &isvarlena);
				appendStringInfoStringQuoted(&buf,
											 OidOutputFunctionCall(typoutput, prm->value),
											 -1);
			}
		}
	}
	PG_FINALLY();
	{
		extra_float_digits = save_digits;
	}
	PG_END_TRY();
	return buf.len > 0 ? buf.data : NULL;
}

static int
ag_compare_strings(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * The settings a permit is bound to, as "name=value; ...": the list above,
 * every application setting (a name with a dot that no loaded module
 * defines, read with current_setting() by a condition or a policy), and
 * the current user (current_user in a condition, the policies that apply).
 * The settings of other modules are left out: a module loaded between the
 * park and the re-run (PL/pgSQL is loaded by the first function call of a
 * backend) would otherwise make every permit of the session miss.
 */
char *
ag_permit_settings(void)
{
	StringInfoData buf;
	List	   *custom = NIL;
	struct config_generic **gucs;
	int			n;
	ListCell   *lc;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(ag_reading_settings); i++)
	{
		const char *value = GetConfigOption(ag_reading_settings[i].name,
											true, false);

		if (value == NULL)
			value = ag_reading_settings[i].undefined;
		appendStringInfo(&buf, "%s=%s; ", ag_reading_settings[i].name,
						 value ? value : "");
	}

#if PG_VERSION_NUM >= 160000
	gucs = get_guc_variables(&n);
#else
	gucs = get_guc_variables();
	n = GetNumConfigOptions();
#endif
	for (int i = 0; i < n; i++)
	{
		if (gucs[i]->flags & GUC_CUSTOM_PLACEHOLDER)
			custom = lappend(custom, (void *) gucs[i]->name);
	}
	list_sort(custom, ag_compare_strings);
	foreach(lc, custom)
	{
		const char *value = GetConfigOption(lfirst(lc), true, false);

		appendStringInfo(&buf, "%s=%s; ", (const char *) lfirst(lc),
						 value ? value : "");
	}
	appendStringInfo(&buf, "current_user=%s",
					 GetUserNameFromId(GetUserId(), false));
	return buf.data;
}

/* ---------- the reach of a plan ---------- */

static int
ag_compare_oids(const ListCell *a, const ListCell *b)
{
	Oid			x = lfirst_oid(a);
	Oid			y = lfirst_oid(b);

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The catalog row of a function, whole: its body, language, settings. */
static void
ag_describe_function(StringInfo buf, Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));

	appendStringInfo(buf, " function %u", funcid);
	if (!HeapTupleIsValid(tup))
		return;
	appendStringInfoChar(buf, '[');
	appendBinaryStringInfo(buf, (char *) tup->t_data + tup->t_data->t_hoff,
						   tup->t_len - tup->t_data->t_hoff);
	appendStringInfoChar(buf, ']');
	ReleaseSysCache(tup);
}

/*
 * What of a relation decides what a statement on it does, beyond its rows:
 * rules (a view's definition), triggers and their functions, row level
 * security and its policies.
 */
static void
ag_describe_relation(StringInfo buf, Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);

	appendStringInfo(buf, "\nrelation %u", relid);
	if (rel == NULL)
		return;
	appendStringInfo(buf, " kind %c", rel->rd_rel->relkind);
	if (rel->rd_rules != NULL)
	{
		for (int i = 0; i < rel->rd_rules->numLocks; i++)
		{
			RewriteRule *rule = rel->rd_rules->rules[i];
			ListCell   *lc;

			appendStringInfo(buf, "\nrule %u %d %c %d %s", rule->ruleId,
							 (int) rule->event, rule->enabled, rule->isInstead,
							 nodeToString(rule->qual));
			foreach(lc, rule->actions)
			{
				Query	   *action = copyObject(lfirst_node(Query, lc));

				/* where the CREATE statement was in its string: not the rule */
				action->stmt_location = -1;
				action->stmt_len = 0;
				appendStringInfo(buf, " %s", nodeToString(action));
			}
		}
	}
	if (rel->trigdesc != NULL)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *trig = &rel->trigdesc->triggers[i];

			appendStringInfo(buf, "\ntrigger %u %d %c %s", trig->tgoid,
							 (int) trig->tgtype, trig->tgenabled,
							 trig->tgqual ? trig->tgqual : "");
			for (int j = 0; j < trig->tgnargs; j++)
				appendStringInfo(buf, " %s", trig->tgargs[j]);
			ag_describe_function(buf, trig->tgfoid);
		}
	}
	appendStringInfo(buf, "\nrow security %d %d", rel->rd_rel->relrowsecurity,
					 rel->rd_rel->relforcerowsecurity);
	if (rel->rd_rsdesc != NULL)
	{
		ListCell   *lc;

		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *pol = lfirst(lc);

			appendStringInfo(buf, "\npolicy %s %c %d %s %s roles ", pol->policy_name,
							 pol->polcmd, pol->permissive, nodeToString(pol->qual),
							 nodeToString(pol->with_check_qual));
			if (pol->roles != NULL)
				appendBinaryStringInfo(buf, (char *) pol->roles, VARSIZE(pol->roles));
		}
	}
	RelationClose(rel);
}

/*
 * The functions the plan calls itself (and through its views, and those the
 * planner inlined), by their catalog rows: a function replaced after the
 * approval makes another statement.  The plan lists them, when they are
 * not built in, as invalidation items: the hash of each one's OID.  The
 * user-defined functions are read in OID order and those whose hash is
 * listed are described (another function with the same 32-bit hash only
 * makes the key stricter).
 */
static void
ag_describe_plan_functions(StringInfo buf, struct PlannedStmt *pstmt)
{
	List	   *hashes = NIL;
	ListCell   *lc;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	foreach(lc, pstmt->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId == PROCOID)
			hashes = list_append_unique_int(hashes, (int) item->hashValue);
	}
	if (hashes == NIL)
		return;
	rel = table_open(ProcedureRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_proc_oid, BTGreaterEqualStrategyNumber, F_OIDGE,
				ObjectIdGetDatum(FirstUnpinnedObjectId));
	scan = systable_beginscan(rel, ProcedureOidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Oid			funcid = ((Form_pg_proc) GETSTRUCT(tup))->oid;

		if (!list_member_int(hashes,
							 (int) GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid))))
			continue;
		appendStringInfo(buf, "\ncalls %u[", funcid);
		appendBinaryStringInfo(buf, (char *) tup->t_data + tup->t_data->t_hoff,
							   tup->t_len - tup->t_data->t_hoff);
		appendStringInfoChar(buf, ']');
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * The object key of a data change: "classid:relid:0" for every relation
 * the plan reaches (sorted), then "#" and the SHA-256 of their
 * definitions and of the functions the plan calls.  The plan's range table lists every relation the statement
 * reads or changes after the rewriter and the planner: the partitions and
 * inheritance children it expanded to (not those pruned while planning,
 * which it cannot reach), views and the relations behind them, those of
 * subqueries and CTEs.  The planner or the executor has locked them all.
 */
char *
ag_plan_reach_key(struct PlannedStmt *pstmt)
{
	List	   *relids = NIL;
	StringInfoData key;
	StringInfoData defs;
	ListCell   *lc;
	pg_cryptohash_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		/* from 16 on, a view's entry becomes a subquery that keeps its OID */
		if (rte->rtekind == RTE_RELATION ||
			(rte->rtekind == RTE_SUBQUERY && OidIsValid(rte->relid)))
			relids = list_append_unique_oid(relids, rte->relid);
	}
	list_sort(relids, ag_compare_oids);

	initStringInfo(&key);
	initStringInfo(&defs);
	foreach(lc, relids)
	{
		appendStringInfo(&key, "%s%u:%u:0", key.len > 0 ? "," : "",
						 RelationRelationId, lfirst_oid(lc));
		ag_describe_relation(&defs, lfirst_oid(lc));
	}
	ag_describe_plan_functions(&defs, pstmt);

	ctx = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) defs.data, defs.len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "agent_guard: could not hash the definitions of a statement's relations: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	appendStringInfoChar(&key, '#');
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		appendStringInfo(&key, "%02x", digest[i]);
	pfree(defs.data);
	return key.data;
}
