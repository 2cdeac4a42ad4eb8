/*-------------------------------------------------------------------------
 *
 * agent_guard.h
 *	  Shared declarations of agent_guard: the classes of guarded statements,
 *	  the actions a tag can carry, the decision point, and the entry points
 *	  of each source file.
 *
 * The module is split by concern:
 *	  init.c	  _PG_init: settings, hook installation, status()
 *	  tags.c	  where tags live (security labels on roles), the per-backend
 *				  "is this session an agent?" cache and its invalidation,
 *				  tag_role()/untag_role() validation
 *	  utility.c   ProcessUtility and object_access hooks: one frame per
 *				  utility statement of an agent session, and the dispatch
 *				  of what the hooks see to the files below
 *	  drops.c	  classes drop and truncate: what a DROP or TRUNCATE removes,
 *				  named, counted and decided as one statement
 *	  rewrite.c   column type changes that rewrite a committed table
 *	  tamper.c	  class guard: tampering with the guard, its settings, its
 *				  tags and the roles it watches
 *	  alters.c	  statements that lose or hide data without DROP,
 *				  TRUNCATE or a rewrite: SET UNLOGGED, REFRESH ... WITH NO
 *				  DATA, renames that swap, ALTER DATABASE
 *	  temp_objects.c  persistent objects depending on temporary ones,
 *				  which the cleanup of a temporary schema drops (class drop)
 *	  objects.c   what an object is: the guard's, exempt, its relation and
 *				  schema, its name, the rows a table holds
 *	  dml.c		  executor hooks: unbounded DELETE/UPDATE/MERGE (no WHERE, or
 *				  a plan estimate above the row limit), writes to the
 *				  guard's own tables and to system catalogs
 *	  rowlimit.c  the exact row count of agent DML over one top-level
 *				  statement, and the statement nesting level it needs
 *	  decide.c	  the one decision point: allow, log, reject, park, and the
 *				  one-shot permits of approved requests
 *	  permit.c	  what a permit is bound to besides the text: parameter
 *				  values, the settings that change how text is read, every
 *				  relation a plan reaches and their definitions
 *	  worker.c	  durable writes (audit rows, parked requests) made by a
 *				  background worker in its own transaction, so they survive
 *				  the agent's abort
 *	  shmem.c	  shared memory: the writer slots and the decision counters
 *	  grants.c	  grants (agent_guard.allow()): statements a human let an
 *				  agent role run without parking, asked on the way to a
 *				  park or reject decision
 *	  preflight.c agent_guard.check(): the guard's decision on a statement,
 *				  collected in preflight mode, nothing run or recorded
 *	  wait.c	  agent_guard.wait(): sleeping until a request is decided,
 *				  woken when the deciding transaction commits
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AGENT_GUARD_H
#define AGENT_GUARD_H

#include "postgres.h"

#include "catalog/objectaddress.h"
#include "access/xact.h"
#include "executor/execdesc.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "compat.h"

/*
 * Everything declared below is internal to the library: hidden symbols are
 * called and read directly, not through the PLT and GOT (the hot paths run
 * on every statement).  _PG_init, the SQL-callable functions and the
 * worker's entry point are declared in the .c files, outside this region.
 */
#pragma GCC visibility push(hidden)

#define AG_NAME				"agent_guard"
#define AG_VERSION			"1.2"

/*
 * SQLSTATEs, documented in README.md.  All in class 42 (syntax error or
 * access rule violation) so that generic clients treat them as "not
 * allowed", each distinct so that an agent can tell them apart.
 */
#define ERRCODE_AG_REJECTED		MAKE_SQLSTATE('4','2','A','G','1')
#define ERRCODE_AG_TAMPER		MAKE_SQLSTATE('4','2','A','G','2')
#define ERRCODE_AG_PARKED		MAKE_SQLSTATE('4','2','A','G','P')

/* What a tag tells the guard to do; ordered from mildest to strictest. */
typedef enum AgAction
{
	AG_ACTION_NONE = 0,			/* human session: never touched */
	AG_ACTION_LOG,				/* run it, WARNING + audit (dry run) */
	AG_ACTION_PARK,				/* hold for a human's approval */
	AG_ACTION_REJECT			/* refuse */
} AgAction;

/* Guarded statement classes of doc/design.md section 3. */
typedef enum AgClass
{
	AG_CLASS_DROP,
	AG_CLASS_TRUNCATE,
	AG_CLASS_DELETE,
	AG_CLASS_UPDATE,
	AG_CLASS_GUARD				/* tampering: always rejected */
} AgClass;

#define AG_NUM_CLASSES		(AG_CLASS_GUARD + 1)

/*
 * A classified statement handed to ag_decide().  "command" is what the
 * statement does ("DROP TABLE", "DELETE"), "target" the main object it acts
 * on, "objects" every object it would destroy (char *, identity form),
 * "reason" a sentence for DETAIL saying why the statement is guarded,
 * "object_key" the exact objects ("classid:objid:subid,...", sorted) that an
 * approval is bound to.
 *
 * Row limits (1.1): "estimated_rows" is what the statement would change or
 * remove (plan estimate, rows counted so far, or table statistics; -1 when
 * unknown), stored on requests and events; "objects_label" replaces
 * "Objects" before the object list in DETAIL ("It would remove 3 objects
 * and about 1200 rows"); "stopped_after" > 0 marks a statement stopped by
 * the exact row count after that many rows, "row_limit" the limit it
 * passed; "limit_hint" is added to the hint of a parked statement.
 */
typedef struct AgStatement
{
	AgClass		cls;
	const char *command;
	const char *target;
	List	   *objects;
	const char *reason;
	const char *hint;
	const char *object_key;
	int64		estimated_rows;
	const char *objects_label;
	int64		stopped_after;
	int64		row_limit;
	const char *limit_hint;
} AgStatement;

/* Jobs run by a background worker in its own transaction (worker.c). */
typedef enum AgJobKind
{
	AG_JOB_AUDIT,
	AG_JOB_PARK
} AgJobKind;

typedef struct AgJobResult
{
	int64		id;
	int32		attempts;
	char		outcome[16];
} AgJobResult;

/*
 * Shared memory (shmem.c).  Writer slots: one persistent writer per
 * database at most, fed job segments through a small queue (worker.c has
 * the protocol).  All fields of a slot are protected by the mutex.
 */
#define AG_WRITER_SLOTS		8
#define AG_WRITER_QUEUE		64

typedef struct AgWriterSlot
{
	Oid			dbid;			/* InvalidOid: slot free (the rest is stale) */
	uint32		generation;		/* bumped each time the slot is claimed */
	pid_t		pid;			/* 0 until the writer has connected */
	Latch	   *latch;			/* the writer's latch, once connected */
	bool		leave;			/* asked to exit (DROP DATABASE ...) */
	TimestampTz claimed_at;		/* when the slot was claimed */
	int			head;			/* next job to take */
	int			count;			/* jobs queued */
	dsm_handle	queue[AG_WRITER_QUEUE];
} AgWriterSlot;

typedef enum AgCounter
{
	AG_COUNT_PARKED,
	AG_COUNT_REJECTED,
	AG_COUNT_LOGGED,
	AG_COUNT_USED,
	AG_NUM_COUNTERS
} AgCounter;

/*
 * Durable writes one agent role asked for in the current second, per
 * database (worker.c, agent_guard.role_write_rate).  A small table: the
 * entry of the longest-quiet role is reused, which only forgets a count
 * that no longer matters.
 */
#define AG_RATE_SLOTS		64

typedef struct AgRoleRate
{
	Oid			dbid;
	Oid			roleid;
	int64		second;			/* which second count is for */
	int			count;
} AgRoleRate;

typedef struct AgShared
{
	slock_t		mutex;
	AgWriterSlot writers[AG_WRITER_SLOTS];
	AgRoleRate	rates[AG_RATE_SLOTS];
	pg_atomic_uint64 counters[AG_NUM_CLASSES][AG_NUM_COUNTERS];
} AgShared;

/*
 * Where the text of the statement being decided is, and the values bound to
 * its parameters (NULL: none) (see decide.c).
 */
typedef struct AgQueryRef
{
	const char *source;
	int			location;
	int			len;
	struct ParamListInfoData *params;
} AgQueryRef;

/* settings (init.c) */
extern int	ag_default_action;
extern int	ag_max_pending;
extern int	ag_request_ttl;
extern int	ag_approval_ttl;
extern int	ag_writer_idle_timeout;
extern int	ag_role_write_rate;
extern int	ag_max_rows;
extern int	ag_approvals_required;
extern bool ag_session_agent;
extern bool ag_session_latched;
extern bool ag_preloaded;
extern void ag_install_agent_hooks(void);

/* shmem.c */
extern AgShared *ag_shared;
extern void ag_shmem_init(void);
extern void ag_count_decision(AgClass cls, AgCounter counter);
extern int64 ag_rate_take(Oid dbid, Oid roleid, int limit);

/* wait.c: the backends waiting for a decision (agent_guard.wait()) */
extern Size ag_wait_shmem_size(void);
extern void ag_wait_shmem_startup(void);

/* tags.c */
extern void ag_tags_init(void);
extern AgAction ag_session_action_rebuild(void);
extern bool ag_in_internal_work;
extern bool ag_status_valid;
extern Oid	ag_cached_roles[3];
extern AgAction ag_cached_action;

/*
 * Is this session an agent session, and with which action?  AG_ACTION_NONE
 * means a human session, which the guard never touches.  The hot path runs
 * on every statement of every session: inline, two compares, no call of
 * our own (tags.c, ag_session_action_rebuild, has the rest).  The third
 * role of the cache key, the authenticated (login) role, is set once at
 * login and never changes in a backend, so it is compared only when the
 * cache is rebuilt.
 */
static inline AgAction
ag_session_action(void)
{
	if (likely(ag_status_valid && !ag_in_internal_work &&
			   ag_cached_roles[0] == GetOuterUserId() &&
			   ag_cached_roles[1] == GetSessionUserId()))
		return ag_cached_action;
	return ag_session_action_rebuild();
}

extern int64 ag_cached_min_limit;
extern bool ag_cached_uses_setting;

/*
 * The row limit of this session (0: none): the smallest explicit limit of
 * its tags, or agent_guard.max_rows when some tag defers to the setting and
 * it is smaller (tags.c, "Row limits").  Where it comes from, for messages:
 * ag_row_limit_source().
 */
static inline int64
ag_session_row_limit(void)
{
	if (ag_session_action() == AG_ACTION_NONE)
		return 0;
	if (ag_cached_uses_setting && ag_max_rows > 0 &&
		(ag_cached_min_limit == 0 || ag_max_rows < ag_cached_min_limit))
		return ag_max_rows;
	return ag_cached_min_limit;
}

extern AgAction ag_role_tag(Oid roleid);
extern bool ag_role_is_agent(Oid roleid);
extern const char *ag_action_name(AgAction action);
extern bool ag_parse_action(const char *name, AgAction *action);
extern bool ag_parse_label(const char *label, AgAction *action, int64 *max_rows);
extern const char *ag_row_limit_source(void);
extern void ag_tag_new_role(Oid roleid);
extern char *ag_session_tag_sentence(void);
extern const char *ag_agent_role_name(void);
extern Oid	ag_agent_role(void);
extern void ag_session_changed(void);

/*
 * A frame: one utility statement of an agent session being run (utility.c),
 * collecting what the object access hook sees until the statement returns.
 */
typedef struct AgFrame
{
	struct AgFrame *parent;
	MemoryContext cxt;			/* the lists below live here */
	const char *command;		/* "DROP TABLE", "DO", ... */
	bool		decided;		/* decided before running: collect nothing */
	bool		runs_code;		/* DO or CALL: drops seen directly are calls */
	List	   *dropped;		/* AgDropped * */
	List	   *truncated;		/* AgDropped * */
	List	   *created;		/* ObjectAddress * */
	List	   *rewrites;		/* rewrite.c's AgRewrite *: ALTER COLUMN ... TYPE */
	List	   *internal_triggers;	/* ObjectAddress *: foreign keys' */
	List	   *changed;		/* ObjectAddress *: created or altered, for
								 * temp_objects.c */
	bool		temp_cleanup;	/* a temporary schema was cleaned: its drops
								 * are decided by temp_objects.c */
} AgFrame;

/* An object a statement of an agent session drops, truncates or rewrites. */
typedef struct AgDropped
{
	ObjectAddress addr;
	Oid			parent_rel;		/* relation it belongs to, if any */
	bool		hidden;			/* implicit (row type, toast): not listed */
	char	   *description;	/* "table public.bookings" */
	char	   *identity;		/* "public.bookings" */
	char	   *type;			/* "table" */
	bool		has_rows;		/* a table, matview or column: rows are lost */
	int64		est_rows;		/* rows lost (estimate); -1: unknown */
} AgDropped;

/* utility.c */
extern AgFrame *ag_frame;
extern void ag_utility_init(void);
extern void ag_utility_install_agent_hooks(void);
extern void ag_accept_invalidations(void);

/* objects.c */
extern void ag_objects_init(void);
extern Oid	ag_guard_schema(void);
extern Oid	ag_schema_named_guard(void);
extern Oid	ag_catalog_oid_field(Oid classId, Oid indexId, Oid objectId,
								 AttrNumber attnum);
extern Oid	ag_object_relation(const ObjectAddress *addr);
extern Oid	ag_object_schema(const ObjectAddress *addr);
extern bool ag_object_is_guard(const ObjectAddress *addr);
extern bool ag_relation_is_exempt(Oid relid);
extern bool ag_open_relation_is_exempt(struct RelationData *rel);
extern bool ag_object_is_exempt(const ObjectAddress *addr);
extern char *ag_object_description(const ObjectAddress *addr);
extern int64 ag_relation_row_estimate(Oid relid);
extern bool ag_object_exists(const ObjectAddress *addr);
extern Oid	ag_new_object_schema(const ObjectAddress *addr, bool *known);

/* drops.c */
extern AgDropped *ag_dropped_new(const ObjectAddress *addr);
extern char *ag_objects_label(const char *verb, const char *noun, List *dropped,
							  int nlisted, int64 *est_rows);
extern char *ag_object_key(List *dropped);
extern const char *ag_target_text(const char *first, int n, const char *noun);
extern void ag_decide_drop(const char *command, List *dropped);
extern void ag_decide_drop_with(const char *command, List *dropped,
								const char *reason, const char *hint);
extern void ag_decide_truncate(const char *command, List *truncated);
extern void ag_on_drop(const ObjectAddress *addr);
extern void ag_on_truncate(Oid relid);
extern bool ag_predecide_drop(Node *parsetree, const char *command);

/* rewrite.c */
extern void ag_watch_rewrites(AgFrame *frame, struct AlterTableStmt *stmt);
extern void ag_check_rewrites(const char *command, List *rewrites);

/* alters.c */
extern void ag_check_alter(Node *parsetree, const char *command);

/* temp_objects.c */
extern void ag_note_changed(const ObjectAddress *addr);
extern void ag_check_temp_dependencies(const char *command, List *changed);
extern void ag_on_temp_cleanup_drop(const ObjectAddress *addr);
extern void ag_decide_temp_cleanup(const char *command, List *dropped);

/* tamper.c */
extern void ag_check_tamper(Node *parsetree, const char *command);
extern void ag_check_created(const char *command, List *created);
extern void ag_check_internal_triggers(const char *command, List *triggers);
extern void ag_on_fastpath_notify(void);
extern void ag_on_alter(const ObjectAddress *addr, const char *command);

/* dml.c */
extern void ag_dml_init(void);
extern List *ag_checked_perms;
extern void ag_dml_preflight(QueryDesc *queryDesc);

/* rowlimit.c */
extern void ag_rowlimit_init(void);
extern void ag_rowlimit_start(QueryDesc *queryDesc, int eflags,
							  void (*start) (QueryDesc *, int), int64 limit,
							  bool approved, bool logged);
extern void ag_rowlimit_xact_end(bool abort);
extern int	ag_nesting;
extern struct EState *ag_untracked_estate;
extern char *ag_row_limit_hint(void);

/* decide.c */
extern const char *ag_class_name(AgClass cls);
extern bool ag_decide(const AgStatement *st);
extern void ag_tamper(const char *command, const char *target,
					  const char *reason);
extern char *ag_current_query_text(void);
extern void ag_set_current_query(const char *source, int location, int len);
extern void ag_set_current_params(struct ParamListInfoData *params);
extern void ag_get_current_query(AgQueryRef *ref);
extern void ag_restore_current_query(const AgQueryRef *ref);
extern int64 ag_internal_query(const char *sql, int nargs, Oid *argtypes,
							   Datum *values);

/* preflight.c: agent_guard.check() */
extern bool ag_preflight;
extern void ag_preflight_decided(AgClass cls, const char *decision,
								 List *objects, int64 estimated_rows,
								 const char *reason);

/* grants.c */
extern int64 ag_grant_row_limit;
extern bool ag_use_grant(const AgStatement *st, const char *what,
						 const char *query);

/* permit.c */
extern char *ag_permit_params(struct ParamListInfoData *params);
extern char *ag_permit_settings(void);
extern char *ag_plan_reach_key(struct PlannedStmt *pstmt);

/* worker.c */
extern bool ag_run_job(AgJobKind kind, const char **args, int nargs,
					   AgJobResult *result, char **failure, bool nowait);
extern void ag_audit(AgClass cls, const char *decision, const char *command,
					 List *objects, const char *query, int64 request_id,
					 int64 estimated_rows);
extern char *ag_client_addr(void);
extern char *ag_join_objects(List *objects);
extern void ag_writer_leave(Oid dbid);

#pragma GCC visibility pop

#endif							/* AGENT_GUARD_H */
