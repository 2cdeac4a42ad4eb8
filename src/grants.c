/*-------------------------------------------------------------------------
 *
 * grants.c
 *	  Grants (agent_guard.allow()): a human lets one agent role run
 *	  statements of one class - on one table and its partitions, within a
 *	  number of rows - without parking, for a time, a number of times.
 *
 * ag_use_grant() is asked by ag_decide() only on the way to parking or
 * rejecting a statement (after a permit, which is for exactly one
 * statement, was not found): the statements an agent may run anyway never
 * pay for it.  It calls agent_guard._use_grant() in the agent's own
 * transaction, as the bootstrap superuser, like a permit: the use is
 * counted, and audited with the grant's id, in that transaction, so a
 * rollback gives the use back; the grant's row lock makes two concurrent
 * uses of the last one meet, and the second finds none left.
 *
 * A grant with max_rows does not lift the row limit: the statement goes on
 * being counted, with the grant's max_rows as its limit
 * (ag_grant_row_limit, read by rowlimit.c and dml.c); passing it is decided
 * again, and the grant no longer covers it.
 *
 * State: ag_grant_row_limit, the max_rows of the grant the last decision
 * used (0: none, or no grant); set by every decision that uses a grant,
 * read right after it by the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

int64		ag_grant_row_limit = 0;

/*
 * Does a grant cover this statement?  Then one of its uses is taken, and
 * the statement runs: returns true.
 */
bool
ag_use_grant(const AgStatement *st, const char *what, const char *query)
{
	Oid			argtypes[7] = {OIDOID, TEXTOID, TEXTOID, TEXTARRAYOID, INT8OID,
	TEXTOID, TEXTOID};
	Datum		values[7];
	Datum	   *objects;
	int			n = 0;
	ListCell   *lc;
	int64		grant_id;

	ag_grant_row_limit = 0;
	if (st->cls == AG_CLASS_GUARD || RecoveryInProgress() ||
		!OidIsValid(ag_guard_schema()) ||
		!OidIsValid(get_relname_relid("_grants", ag_guard_schema())))
		return false;

	objects = palloc(sizeof(Datum) * (list_length(st->objects) + 1));
	foreach(lc, st->objects)
		objects[n++] = CStringGetTextDatum((const char *) lfirst(lc));
	values[0] = ObjectIdGetDatum(ag_agent_role());
	values[1] = CStringGetTextDatum(ag_class_name(st->cls));
	values[2] = CStringGetTextDatum(st->object_key ? st->object_key : "");
	values[3] = PointerGetDatum(construct_array(objects, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[4] = Int64GetDatum(st->estimated_rows);
	values[5] = CStringGetTextDatum(st->command);
	values[6] = CStringGetTextDatum(query ? query : what);
	grant_id = ag_internal_query("SELECT agent_guard._use_grant($1, $2, $3, $4, $5, $6, $7)",
								 7, argtypes, values);
	if (grant_id <= 0)
		return false;

	values[0] = Int64GetDatum(grant_id);
	argtypes[0] = INT8OID;
	ag_grant_row_limit = ag_internal_query("SELECT max_rows FROM agent_guard._grants WHERE id = $1",
										   1, argtypes, values);
	ag_count_decision(st->cls, AG_COUNT_USED);
	ereport(LOG,
			(errmsg("agent_guard: allowed %s by role \"%s\" in database \"%s\" under grant " INT64_FORMAT ": %s",
					ag_class_name(st->cls), ag_agent_role_name(),
					get_database_name(MyDatabaseId), grant_id, what),
			 errhidestmt(true)));
	ereport(NOTICE,
			(errmsg("agent_guard: %s runs under grant " INT64_FORMAT, what, grant_id),
			 ag_grant_row_limit > 0 ?
			 errdetail("A human granted role \"%s\" statements of class %s without approval; this one counts one use of the grant, and may change at most " INT64_FORMAT " rows.",
					   ag_agent_role_name(), ag_class_name(st->cls), ag_grant_row_limit) :
			 errdetail("A human granted role \"%s\" statements of class %s without approval; this one counts one use of the grant.",
					   ag_agent_role_name(), ag_class_name(st->cls))));
	return true;
}
