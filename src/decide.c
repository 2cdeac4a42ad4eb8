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
 *	  park	 - parking for approval plugs in here; until it exists, park
 *			   acts as reject with the same message shape.
 * Tamper attempts (class "guard") go to ag_tamper(): always rejected, with
 * SQLSTATE 42AG2, never loggable or parkable.
 *
 * The audit row is written by a background worker in its own transaction
 * (audit.c) before the ERROR is raised, so it survives the abort.
 *
 * State: the text of the statement being decided.  Hooks register it with
 * ag_set_current_query() (and restore the previous one when they return,
 * so nesting - a DROP inside a DO block - reports the inner statement).
 * It points into memory owned by the caller; nothing here survives a
 * statement.
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "lib/stringinfo.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/builtins.h"

/* The statement the innermost active hook is deciding about. */
static const char *ag_query_source = NULL;
static int	ag_query_location = -1;
static int	ag_query_len = 0;

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
 * as in PlannedStmt (location -1: whole string; length 0: to the end).
 * Returns nothing; callers save and restore with ag_save/ag_restore below.
 */
void
ag_set_current_query(const char *source, int location, int len)
{
	ag_query_source = source;
	ag_query_location = location;
	ag_query_len = len;
}

void
ag_get_current_query(AgQueryRef *ref)
{
	ref->source = ag_query_source;
	ref->location = ag_query_location;
	ref->len = ag_query_len;
}

void
ag_restore_current_query(const AgQueryRef *ref)
{
	ag_set_current_query(ref->source, ref->location, ref->len);
}

/* The text of that one statement, trimmed; NULL when unknown. */
char *
ag_current_query_text(void)
{
	const char *s = ag_query_source;
	int			len;

	if (s == NULL)
		return NULL;
	if (ag_query_location >= 0 && ag_query_location <= (int) strlen(s))
	{
		s += ag_query_location;
		len = ag_query_len > 0 ? ag_query_len : (int) strlen(s);
	}
	else
		len = strlen(s);
	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && (isspace((unsigned char) s[len - 1]) || s[len - 1] == ';'))
		len--;
	return pnstrdup(s, len);
}

static char *
ag_join(List *items, const char *sep)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, items)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, sep);
		appendStringInfoString(&buf, (const char *) lfirst(lc));
	}
	return buf.data;
}

static const char *
ag_role_name(void)
{
	return ag_agent_role_name();
}

/* One greppable server-log line per decision. */
static void
ag_log_decision(const char *decision, AgClass cls, const char *command,
				const char *target)
{
	ereport(LOG,
			(errmsg("agent_guard: %s %s by role \"%s\" in database \"%s\": %s%s%s",
					decision, ag_class_name(cls), ag_role_name(),
					get_database_name(MyDatabaseId), command,
					target ? " " : "", target ? target : ""),
			 errhidestmt(true)));
}

void
ag_decide(const AgStatement *st)
{
	AgAction	action = ag_session_action();
	char	   *objects;
	const char *target = st->target ? st->target : "";
	const char *sep = st->target ? " " : "";

	if (action == AG_ACTION_NONE)
		return;

	objects = ag_join(st->objects, ", ");

	if (action == AG_ACTION_LOG)
	{
		ag_log_decision("logged", st->cls, st->command, st->target);
		ag_audit(st->cls, "logged", st->command, st->objects,
				 ag_current_query_text());
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("agent_guard: %s%s%s by agent role \"%s\" was allowed in log mode",
						st->command, sep, target, ag_role_name()),
				 errdetail("%s%s%s%s %s", st->reason,
						   objects[0] ? " Objects: " : "", objects,
						   objects[0] ? "." : "", ag_session_tag_sentence()),
				 errhint("With action \"park\" or \"reject\" this statement would have been stopped.")));
		return;
	}

	ag_log_decision("rejected", st->cls, st->command, st->target);
	ag_audit(st->cls, "rejected", st->command, st->objects,
			 ag_current_query_text());
	ereport(ERROR,
			(errcode(ERRCODE_AG_REJECTED),
			 errmsg("agent_guard: %s%s%s is not allowed for agent role \"%s\"",
					st->command, sep, target, ag_role_name()),
			 errdetail("%s%s%s%s %s%s", st->reason,
					   objects[0] ? " Objects: " : "", objects,
					   objects[0] ? "." : "", ag_session_tag_sentence(),
					   action == AG_ACTION_PARK ?
					   " Parking for approval is not available in this version, so the statement was rejected." : ""),
			 errhint("%s", st->hint ? st->hint :
					 "Ask a database administrator to run the statement, or to change the tag with agent_guard.tag_role().")));
}

void
ag_tamper(const char *command, const char *target, const char *what)
{
	const char *sep = target ? " " : "";

	if (target == NULL)
		target = "";
	ag_log_decision("rejected", AG_CLASS_GUARD, command, target[0] ? target : NULL);
	ag_audit(AG_CLASS_GUARD, "rejected", command,
			 target[0] ? list_make1(pstrdup(target)) : NIL,
			 ag_current_query_text());
	ereport(ERROR,
			(errcode(ERRCODE_AG_TAMPER),
			 errmsg("agent_guard: %s%s%s is not allowed for agent role \"%s\"",
					command, sep, target, ag_role_name()),
			 errdetail("%s Agent sessions can never change the guard, whatever their privileges.",
					   what),
			 errhint("Ask a database administrator whose session is not an agent session to make this change.")));
}
