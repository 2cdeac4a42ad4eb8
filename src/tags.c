/*-------------------------------------------------------------------------
 *
 * tags.c
 *	  Which roles are agents, and is this session an agent session?
 *
 * Where tags live.  A tag is a security label of provider "agent_guard" on
 * a role: a row of pg_shseclabel, which is a *shared* catalog.  So a tag is
 * cluster-wide like the role itself, it is WAL-logged and crash-safe, it is
 * carried by pg_upgrade and pg_dumpall (SECURITY LABEL ... ON ROLE), and it
 * is visible in every database, including those where CREATE EXTENSION was
 * never run.  The label text is the action: "park", "reject" or "log".
 * The label provider hook registered here (ag_object_relabel) validates
 * every change and refuses any change from an agent session.  A file of the
 * extension's own plus shared memory was the alternative; it would need
 * its own crash safety, replication and dump story, which the catalog gives
 * for free.
 *
 * The hot path.  ag_session_action() answers "is this session an agent,
 * and with which action?".  The answer is cached per backend and keyed by
 * the three roles that define the session (login role, session role after
 * SET SESSION AUTHORIZATION, outer role after SET ROLE); the current user
 * inside SECURITY DEFINER functions is deliberately not a key, so a
 * function owned by a human does not turn an agent session into a human
 * one, and a function owned by an agent does not guard a human.  An
 * unchanged session pays two compares (the login role never changes in a
 * backend: it is compared only on a rebuild), no catalog access, no palloc.
 *
 * Row limits (ag_session_row_limit).  Every tag that applies to the session
 * (through any of its three roles and their memberships) contributes a
 * limit: its own max_rows, or the cluster setting when it has none; 0 means
 * no limit.  The strictest, i.e. the smallest non-zero one, wins; the limit
 * is off only when every applicable tag says so.  The cache keeps the
 * smallest explicit limit and whether some tag defers to the setting, so a
 * change of agent_guard.max_rows needs no rebuild.
 *
 * Invalidation.  Every tag change sends a relcache invalidation for
 * pg_shseclabel (a shared relation, so the message reaches every backend
 * of every database); it is sent at commit and processed by the other
 * backends at their next transaction start, i.e. their next statement.
 * Membership and role changes arrive as syscache invalidations of
 * pg_auth_members and pg_authid.  Each of them just clears the valid flags
 * and bumps a counter; the next check rebuilds the cache inside that
 * statement's transaction.  A rebuild's own catalog lookups (a syscache
 * miss opens a catalog) may accept invalidations in the middle of it: when
 * the counter moved, what it read may be older than the change, and it
 * builds again.
 * The cache lives in TopMemoryContext; an abort leaves it valid or
 * invalid, never half-built (it is marked valid only after a full build).
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_shseclabel.h"
#include "commands/seclabel.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

typedef struct AgTag
{
	Oid			roleid;
	AgAction	action;
	int64		max_rows;		/* -1: the cluster setting; 0: no limit */
} AgTag;

/* All tags of the cluster, as last read from pg_shseclabel. */
static AgTag *ag_tags = NULL;
static int	ag_ntags = 0;
static bool ag_tags_valid = false;

/*
 * Bumped by every invalidation callback.  A rebuild does catalog lookups
 * (pg_shseclabel, memberships) that may accept invalidations in the middle
 * of it; a rebuild during which the counter moved may have read the old
 * state, so it is not trusted: it runs again.
 */
static uint64 ag_inval_count = 0;

/* The answer for the current session roles. */
bool		ag_status_valid = false;	/* read inline by ag_session_action() */
Oid			ag_cached_roles[3];
AgAction	ag_cached_action = AG_ACTION_NONE;
static Oid	ag_cached_source = InvalidOid;	/* tagged role that decided */
static Oid	ag_cached_agent = InvalidOid;	/* session role it applies to */
int64		ag_cached_min_limit = 0;	/* smallest explicit non-zero limit */
static Oid	ag_cached_limit_role = InvalidOid;	/* tagged role that sets it */
bool		ag_cached_uses_setting = false;	/* some tag defers to max_rows */

/* Set in our own background workers: their work is never guarded. */
bool		ag_in_internal_work = false;

static const char *const ag_action_names[] = {
	[AG_ACTION_NONE] = "none",
	[AG_ACTION_LOG] = "log",
	[AG_ACTION_PARK] = "park",
	[AG_ACTION_REJECT] = "reject",
};

const char *
ag_action_name(AgAction action)
{
	return ag_action_names[action];
}

/* Parse an action name; "none" is not a valid tag. */
bool
ag_parse_action(const char *name, AgAction *action)
{
	for (int i = AG_ACTION_LOG; i <= AG_ACTION_REJECT; i++)
	{
		if (strcmp(name, ag_action_names[i]) == 0)
		{
			*action = (AgAction) i;
			return true;
		}
	}
	return false;
}

/*
 * Parse a label: "<action>" or "<action> max_rows=<N>" (N >= 0).
 * *max_rows gets -1 when the label carries no limit.
 */
bool
ag_parse_label(const char *label, AgAction *action, int64 *max_rows)
{
	const char *sp = strchr(label, ' ');
	char	   *name;
	bool		ok;

	*max_rows = -1;
	name = sp ? pnstrdup(label, sp - label) : pstrdup(label);
	ok = ag_parse_action(name, action);
	pfree(name);
	if (!ok || sp == NULL)
		return ok;
	if (strncmp(sp, " max_rows=", 10) != 0)
		return false;
	sp += 10;
	if (*sp < '0' || *sp > '9' || strlen(sp) > 18)
		return false;
	for (const char *c = sp; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	*max_rows = strtoi64(sp, NULL, 10);
	return true;
}

static void
ag_invalidate_tags(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == SharedSecLabelRelationId)
	{
		ag_tags_valid = false;
		ag_status_valid = false;
		ag_inval_count++;
	}
}

static void
ag_invalidate_roles(Datum arg, int cacheid, uint32 hashvalue)
{
	/* a dropped role loses its label without a pg_shseclabel message */
	if (cacheid == AUTHOID)
		ag_tags_valid = false;
	ag_status_valid = false;
	ag_inval_count++;
}

/* Tell every backend of the cluster that the tags changed (sent at commit). */
static void
ag_tags_changed(void)
{
	CacheInvalidateRelcacheByRelid(SharedSecLabelRelationId);
}

static void
ag_load_tags(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			cap = 16;
	AgTag	   *tags;
	uint64		start = ag_inval_count;

	tags = MemoryContextAlloc(TopMemoryContext, cap * sizeof(AgTag));
	rel = table_open(SharedSecLabelRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_shseclabel form = (Form_pg_shseclabel) GETSTRUCT(tup);
		bool		isnull;
		Datum		d;
		AgAction	action;
		int64		max_rows;
		char	   *label;

		if (form->classoid != AuthIdRelationId)
			continue;
		d = heap_getattr(tup, Anum_pg_shseclabel_provider,
						 RelationGetDescr(rel), &isnull);
		if (isnull || strcmp(TextDatumGetCString(d), AG_NAME) != 0)
			continue;
		d = heap_getattr(tup, Anum_pg_shseclabel_label,
						 RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		label = TextDatumGetCString(d);
		/* a label that no longer parses is treated as the strictest tag */
		if (!ag_parse_label(label, &action, &max_rows))
		{
			action = AG_ACTION_REJECT;
			max_rows = -1;
		}
		if (n == cap)
		{
			cap *= 2;
			tags = repalloc(tags, cap * sizeof(AgTag));
		}
		tags[n].roleid = form->objoid;
		tags[n].action = action;
		tags[n].max_rows = max_rows;
		n++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (ag_tags)
		pfree(ag_tags);
	ag_tags = tags;
	ag_ntags = n;
	/* an invalidation accepted meanwhile (opening the catalog) reads again */
	ag_tags_valid = (ag_inval_count == start);
}

static void
ag_ensure_tags(void)
{
	while (!ag_tags_valid)
		ag_load_tags();
}

/* The action of the role's own tag, AG_ACTION_NONE when untagged. */
AgAction
ag_role_tag(Oid roleid)
{
	ag_ensure_tags();
	for (int i = 0; i < ag_ntags; i++)
		if (ag_tags[i].roleid == roleid)
			return ag_tags[i].action;
	return AG_ACTION_NONE;
}

/*
 * Strictest action of any tag that applies to the role: its own, or that of
 * any role it is a member of, directly or through nested membership (with
 * or without INHERIT: membership is what counts).  *source gets the tagged
 * role that decided.
 */
static AgAction
ag_role_action(Oid roleid, Oid *source)
{
	AgAction	best = AG_ACTION_NONE;

	ag_ensure_tags();
	for (int i = 0; i < ag_ntags; i++)
	{
		if (ag_tags[i].action > best &&
			is_member_of_role_nosuper(roleid, ag_tags[i].roleid))
		{
			best = ag_tags[i].action;
			*source = ag_tags[i].roleid;
		}
	}
	return best;
}

bool
ag_role_is_agent(Oid roleid)
{
	Oid			source;

	return ag_role_action(roleid, &source) != AG_ACTION_NONE;
}

/*
 * The slow path of ag_session_action() (agent_guard.h): the cache is
 * invalid or the session roles changed.  The cache is only ever marked
 * valid in a normal backend of a database, outside internal work, so the
 * inline fast path need not test those again.
 */
AgAction
ag_session_action_rebuild(void)
{
	Oid			roles[3];
	AgAction	best;
	Oid			source;
	Oid			agent;
	uint64		start;

	if (ag_in_internal_work || IsBinaryUpgrade || !IsNormalProcessingMode() ||
		!OidIsValid(MyDatabaseId))
		return AG_ACTION_NONE;

	/* outer role first: it names the agent when several roles qualify */
	roles[0] = GetOuterUserId();
	roles[1] = GetSessionUserId();
	roles[2] = GetAuthenticatedUserId();


	if (ag_status_valid &&
		roles[0] == ag_cached_roles[0] &&
		roles[1] == ag_cached_roles[1] &&
		roles[2] == ag_cached_roles[2])
		return ag_cached_action;

	/* rebuilding needs catalog access; without a transaction keep the last answer */
	if (!IsTransactionState())
		return ag_status_valid ? ag_cached_action : AG_ACTION_NONE;

	/*
	 * The membership lookups below may accept invalidations (a syscache miss
	 * opens a catalog): a tag or membership change committed meanwhile may
	 * not be in what was read, so build again until none arrived.
	 */
	do
	{
		start = ag_inval_count;
		best = AG_ACTION_NONE;
		source = InvalidOid;
		agent = InvalidOid;
		for (int i = 0; i < 3; i++)
		{
			Oid			s = InvalidOid;
			AgAction	a;

			if (i > 0 && roles[i] == roles[i - 1])
				continue;
			a = ag_role_action(roles[i], &s);
			if (a > best)
			{
				best = a;
				source = s;
				agent = roles[i];
			}
		}
		/* the one-way session tag adds the default action; the stricter wins */
		if (ag_session_latched && (AgAction) ag_default_action > best)
		{
			best = (AgAction) ag_default_action;
			source = InvalidOid;
			agent = roles[0];
		}

		/* row limits: every applicable tag counts, the strictest wins */
		ag_cached_min_limit = 0;
		ag_cached_limit_role = InvalidOid;
		ag_cached_uses_setting = ag_session_latched;
		if (best != AG_ACTION_NONE)
		{
			ag_ensure_tags();
			for (int t = 0; t < ag_ntags; t++)
			{
				bool		applies = false;

				for (int i = 0; i < 3 && !applies; i++)
					applies = is_member_of_role_nosuper(roles[i], ag_tags[t].roleid);
				if (!applies)
					continue;
				if (ag_tags[t].max_rows < 0)
					ag_cached_uses_setting = true;
				else if (ag_tags[t].max_rows > 0 &&
						 (ag_cached_min_limit == 0 ||
						  ag_tags[t].max_rows < ag_cached_min_limit))
				{
					ag_cached_min_limit = ag_tags[t].max_rows;
					ag_cached_limit_role = ag_tags[t].roleid;
				}
			}
		}
	} while (ag_inval_count != start);

	memcpy(ag_cached_roles, roles, sizeof(roles));
	ag_cached_action = best;
	ag_cached_source = source;
	ag_cached_agent = agent;
	ag_status_valid = true;
	if (best != AG_ACTION_NONE)
		ag_install_agent_hooks();
	return best;
}

/*
 * Where the session's row limit (ag_session_row_limit) comes from: a
 * sentence fragment for messages, "for agent sessions
 * (agent_guard.max_rows)" or "of role \"r\" (its agent_guard tag)"; NULL
 * when there is none.
 */
const char *
ag_row_limit_source(void)
{
	int64		limit = ag_session_row_limit();

	if (limit <= 0)
		return NULL;
	if (limit != ag_cached_min_limit)
		return "for agent sessions (agent_guard.max_rows)";
	return psprintf("of role \"%s\" (its agent_guard tag)",
					GetUserNameFromId(ag_cached_limit_role, false));
}

/* Forget the cached answer: a setting that feeds it changed. */
void
ag_session_changed(void)
{
	ag_status_valid = false;
}

/* The OID of the role named by ag_agent_role_name(). */
Oid
ag_agent_role(void)
{
	if (ag_session_action() == AG_ACTION_NONE || !OidIsValid(ag_cached_agent))
		return GetOuterUserId();
	return ag_cached_agent;
}

/*
 * The session role that makes this an agent session (the outer role after
 * SET ROLE when it qualifies, else the session or login role).
 */
const char *
ag_agent_role_name(void)
{
	if (ag_session_action() == AG_ACTION_NONE || !OidIsValid(ag_cached_agent))
		return GetUserNameFromId(GetOuterUserId(), false);
	return GetUserNameFromId(ag_cached_agent, false);
}

/*
 * A sentence for error DETAIL saying why this session is guarded.
 */
char *
ag_session_tag_sentence(void)
{
	AgAction	action = ag_session_action();

	if (action == AG_ACTION_NONE)
		return pstrdup("This session is not an agent session.");
	if (!OidIsValid(ag_cached_source))
		return psprintf("This session set agent_guard.session_agent, which applies action \"%s\".",
						ag_action_name(action));
	if (ag_cached_source == ag_cached_agent)
		return psprintf("Role \"%s\" is tagged as an agent with action \"%s\".",
						GetUserNameFromId(ag_cached_source, false),
						ag_action_name(action));
	return psprintf("Role \"%s\" is a member of role \"%s\", which is tagged as an agent with action \"%s\".",
					GetUserNameFromId(ag_cached_agent, false),
					GetUserNameFromId(ag_cached_source, false),
					ag_action_name(action));
}

/*
 * The tag a role created by this agent session gets: everything that
 * limits the session, in the label format ag_parse_label() reads.  The
 * action is the session's; the row limit is the session's explicit one
 * (capped by agent_guard.max_rows when some tag of the session defers to
 * it and it is smaller now), "max_rows=0" when every tag of the session
 * says "no limit", and none when the session follows agent_guard.max_rows
 * alone (so the new role follows it too).  A field added to the label
 * must be added here.
 */
static char *
ag_session_label(AgAction action)
{
	int64		limit = ag_cached_min_limit;

	if (limit > 0)
	{
		if (ag_cached_uses_setting && ag_max_rows > 0 && ag_max_rows < limit)
			limit = ag_max_rows;
		return psprintf("%s max_rows=" INT64_FORMAT, ag_action_name(action), limit);
	}
	if (!ag_cached_uses_setting)
		return psprintf("%s max_rows=0", ag_action_name(action));
	return pstrdup(ag_action_name(action));
}

/*
 * Roles created by an agent session are agents too, limited as the
 * creating session is (ag_session_label).  Called from the object access
 * hook just after the pg_authid row is inserted.
 */
void
ag_tag_new_role(Oid roleid)
{
	ObjectAddress addr;
	AgAction	action = ag_session_action();
	char	   *label;

	if (action == AG_ACTION_NONE)
		return;
	label = ag_session_label(action);
	ObjectAddressSet(addr, AuthIdRelationId, roleid);
	SetSecurityLabel(&addr, AG_NAME, label);
	ag_tags_changed();
	ereport(LOG,
			(errmsg("agent_guard: role %u created by agent role \"%s\" was tagged \"%s\"",
					roleid, GetUserNameFromId(GetOuterUserId(), false), label),
			 errhidestmt(true)));
}

/*
 * Label provider hook: every SECURITY LABEL FOR agent_guard comes here
 * before the catalog is changed.  An error leaves the catalog unchanged.
 */
static void
ag_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	AgAction	action;
	int64		max_rows;

	if (ag_session_action() != AG_ACTION_NONE)
		ag_tamper("SECURITY LABEL FOR agent_guard", NULL,
				  "Tags can only be changed by a session that is not an agent session.");

	if (object->classId != AuthIdRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("agent_guard labels can only be set on roles"),
				 errdetail("An agent_guard label is a tag that marks a role as an agent."),
				 errhint("Use agent_guard.tag_role() to tag a role.")));

	if (seclabel != NULL)
	{
		if (!ag_parse_label(seclabel, &action, &max_rows))
		{
			const char *sp = strchr(seclabel, ' ');
			char	   *name = sp ? pnstrdup(seclabel, sp - seclabel) : pstrdup(seclabel);

			if (!ag_parse_action(name, &action))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid agent_guard action \"%s\"", seclabel),
						 errdetail("An agent tag carries one action: \"park\", \"reject\" or \"log\"."),
						 errhint("Use agent_guard.tag_role(role, 'park'), 'reject' or 'log'.")));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid agent_guard tag \"%s\"", seclabel),
					 errdetail("An agent tag is an action, optionally followed by a row limit of zero or more rows: \"park\" or \"park max_rows=100\"."),
					 errhint("Use agent_guard.tag_role(role, action, max_rows => N).")));
		}
		if (superuser_arg(object->objectId))
			ereport(WARNING,
					(errmsg("role \"%s\" is a superuser: agent_guard cannot fully contain it",
							GetUserNameFromId(object->objectId, false)),
					 errdetail("Every guarded statement and tamper path is still blocked, but a superuser can reach around any in-server guard by writing files, loading C functions or editing catalogs."),
					 errhint("Give the agent a role that is not a superuser.")));
	}

	ag_tags_changed();
	ereport(LOG,
			(errmsg("agent_guard: role \"%s\" %s by \"%s\"",
					GetUserNameFromId(object->objectId, false),
					seclabel ? psprintf("tagged with action \"%s\"", seclabel) : "untagged",
					GetUserNameFromId(GetUserId(), false)),
			 errhidestmt(true)));
}

void
ag_tags_init(void)
{
	register_label_provider(AG_NAME, ag_object_relabel);
	CacheRegisterRelcacheCallback(ag_invalidate_tags, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, ag_invalidate_roles, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, ag_invalidate_roles, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, ag_invalidate_roles, (Datum) 0);
}
