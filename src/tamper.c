/*-------------------------------------------------------------------------
 *
 * tamper.c
 *	  Tampering with the guard (class guard, always rejected): what an
 *	  agent session may not do to the guard, its settings, its tags or the
 *	  roles it watches.
 *
 * Tamper attempts are refused before the statement runs where the parse
 * tree says enough (ag_check_tamper: ALTER SYSTEM, LOAD, agent_guard.*
 * settings, settings stored for roles or databases, role changes and
 * memberships, SECURITY LABEL, NOTIFY on the guard's channel, ALTER/DROP
 * EXTENSION, GRANT on the guard's objects, locks, children, ALTERs,
 * comments, statistics, publications and rebuilds of its tables), and
 * otherwise by the object access hook
 * (utility.c): any creation, change or drop of an object in schema
 * agent_guard, of the schema or of the extension.  DML on the guard's
 * tables is refused in dml.c.  Created objects are checked when their
 * statement returns, after a CommandCounterIncrement, because their
 * catalog rows are not visible to lookups before that: relations through
 * the relcache, which has them all, other objects through the syscache
 * (ag_check_created).
 *
 * State: none.  Every refusal is an ERROR (ag_tamper, decide.c), so the
 * statement's abort undoes whatever it had begun.
 *
 * Copyright (c) 2026, agent_guard developers
 *
 *-------------------------------------------------------------------------
 */
#include "agent_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_publication_namespace.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "catalog/index.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/*
 * Objects an agent's statement created must not be in the guard's schema.
 * Relations first, so that the table is named rather than its row type,
 * and from the relcache, which has every relation this transaction
 * created; the row type of a relation is in the relation's schema.  The
 * catalog rows of the rest are new: each lookup is a syscache miss.
 */
void
ag_check_created(const char *command, List *created)
{
	Oid			guard = ag_schema_named_guard();
	List	   *rowtypes = NIL; /* of new relations outside the guard's schema */
	ListCell   *lc;

	/* make the new catalog rows visible to the lookups below */
	CommandCounterIncrement();
	foreach(lc, created)
	{
		ObjectAddress *addr = lfirst(lc);
		Relation	rel;
		Oid			nsp;

		if (addr->classId != RelationRelationId)
			continue;
		rel = RelationIdGetRelation(addr->objectId);
		if (rel == NULL)
			continue;			/* gone again */
		nsp = rel->rd_rel->relnamespace;
		if (nsp != guard)
			rowtypes = lappend_oid(rowtypes, rel->rd_rel->reltype);
		RelationClose(rel);
		if (nsp == guard && ag_object_is_guard(addr))
			ag_tamper(command, ag_object_description(addr),
					  "Objects cannot be created in schema agent_guard by an agent session.");
	}
	foreach(lc, created)
	{
		ObjectAddress *addr = lfirst(lc);
		bool		known;

		if (addr->classId == RelationRelationId ||
			(addr->classId == TypeRelationId &&
			 list_member_oid(rowtypes, addr->objectId)))
			continue;
		if (ag_new_object_schema(addr, &known) != guard && known)
			continue;
		if (!ag_object_exists(addr))
			continue;
		if (ag_object_is_guard(addr))
			ag_tamper(command, ag_object_description(addr),
					  "Objects cannot be created in schema agent_guard by an agent session.");
	}
}

/*
 * Internal triggers a statement created: a foreign key referencing one of
 * the guard's tables puts two on it (named by OID: name the table).
 */
void
ag_check_internal_triggers(const char *command, List *triggers)
{
	ListCell   *lc;

	CommandCounterIncrement();
	foreach(lc, triggers)
	{
		ObjectAddress *addr = lfirst(lc);
		ObjectAddress table;

		if (!ag_object_exists(addr) || !ag_object_is_guard(addr))
			continue;
		ObjectAddressSet(table, RelationRelationId, ag_object_relation(addr));
		ag_tamper(command, ag_object_description(&table),
				  "A foreign key that references a table of agent_guard puts triggers on that table, and the guard's tables cannot be changed by an agent session.");
	}
}
/*
 * The table a TOAST table (or the index of one) belongs to; relid itself
 * for any other relation.  No index on reltoastrelid: a scan, for an
 * agent's rare REINDEX/VACUUM FULL naming a relation in pg_toast.
 */
static Oid
ag_toast_owner(Oid relid)
{
	Relation	pg_class_rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = relid;

	if (get_rel_namespace(relid) != PG_TOAST_NAMESPACE)
		return relid;
	if (get_rel_relkind(relid) == RELKIND_INDEX)
		relid = IndexGetRelation(relid, true);
	pg_class_rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_reltoastrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(pg_class_rel, InvalidOid, false, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		result = ((Form_pg_class) GETSTRUCT(tup))->oid;
	systable_endscan(scan);
	table_close(pg_class_rel, AccessShareLock);
	return result;
}

/* Refuse a statement naming a relation in the guard's schema (or its TOAST). */
static void
ag_refuse_guard_relation(const char *command, RangeVar *rv, const char *reason)
{
	Oid			nsp;
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return;
	relid = ag_toast_owner(relid);
	nsp = get_rel_namespace(relid);
	if (nsp == ag_schema_named_guard() && nsp == ag_guard_schema())
		ag_tamper(command,
				  psprintf("on %s", quote_qualified_identifier(AG_NAME, get_rel_name(relid))),
				  reason);
}

/* The same for each RangeVar of a list. */
static void
ag_refuse_guard_relations(const char *command, List *rangevars, const char *reason)
{
	ListCell   *lc;

	foreach(lc, rangevars)
		if (IsA(lfirst(lc), RangeVar))
			ag_refuse_guard_relation(command, lfirst(lc), reason);
}

static bool
ag_is_guard_setting(const char *name)
{
	return name != NULL && pg_strncasecmp(name, AG_NAME ".", strlen(AG_NAME) + 1) == 0;
}

/* SET agent_guard.session_agent = on is the one change an agent may make. */
static bool
ag_is_session_agent_on(VariableSetStmt *stmt)
{
	bool		on;

	if (stmt->kind != VAR_SET_VALUE || list_length(stmt->args) != 1 ||
		pg_strcasecmp(stmt->name, AG_NAME ".session_agent") != 0)
		return false;
	if (!IsA(linitial(stmt->args), A_Const))
		return false;
	{
		A_Const    *c = linitial_node(A_Const, stmt->args);
		char	   *s;

		if (c->isnull)
			return false;
		if (IsA(&c->val, Integer))
			return intVal(&c->val) != 0;
		if (!IsA(&c->val, String))
			return false;
		s = strVal(&c->val);
		return parse_bool(s, &on) && on;
	}
}

static bool
ag_names_guard_schema(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(strVal(lfirst(lc)), AG_NAME) == 0)
			return true;
	return false;
}

/* Does a GRANT/REVOKE name an object of the guard? */
static bool
ag_grant_touches_guard(GrantStmt *stmt)
{
	Oid			nsp = ag_guard_schema();
	ListCell   *lc;

	if (!OidIsValid(nsp))
		return false;
	if (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA)
		return ag_names_guard_schema(stmt->objects);
	if (stmt->targtype != ACL_TARGET_OBJECT)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);
		Oid			objnsp = InvalidOid;

		switch (stmt->objtype)
		{
			case OBJECT_SCHEMA:
				if (strcmp(strVal(obj), AG_NAME) == 0)
					return true;
				break;
			case OBJECT_TABLE:
			case OBJECT_SEQUENCE:
				{
					Oid			relid = RangeVarGetRelid((RangeVar *) obj, NoLock, true);

					if (OidIsValid(relid))
						objnsp = get_rel_namespace(relid);
					break;
				}
			case OBJECT_FUNCTION:
			case OBJECT_PROCEDURE:
			case OBJECT_ROUTINE:
				{
					Oid			funcid = LookupFuncWithArgs(stmt->objtype,
															(ObjectWithArgs *) obj, true);

					if (OidIsValid(funcid))
						objnsp = get_func_namespace(funcid);
					break;
				}
			default:
				break;
		}
		if (objnsp == nsp)
			return true;
	}
	return false;
}


static bool
ag_role_options_add_memberships(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "rolemembers") == 0 ||
			strcmp(def->defname, "adminmembers") == 0 ||
			strcmp(def->defname, "addroleto") == 0)
			return true;
	}
	return false;
}

/*
 * CREATE PUBLICATION adds its tables and schemas without the object access
 * hook (ALTER PUBLICATION ... ADD calls it).
 */
static void
ag_check_publication(CreatePublicationStmt *stmt, const char *command)
{
	ListCell   *lc;

	if (stmt->for_all_tables && OidIsValid(ag_guard_schema()))
		ag_tamper(command, "schema " AG_NAME,
				  "A publication FOR ALL TABLES includes the tables of agent_guard, which cannot be published by an agent session.");
	foreach(lc, stmt->pubobjects)
	{
		PublicationObjSpec *obj = lfirst(lc);
		Oid			nsp = InvalidOid;

		if (obj->pubobjtype == PUBLICATIONOBJ_TABLE && obj->pubtable != NULL)
			ag_refuse_guard_relation(command, obj->pubtable->relation,
									 "The tables of agent_guard cannot be published by an agent session.");
		else if (obj->pubobjtype == PUBLICATIONOBJ_TABLES_IN_SCHEMA && obj->name != NULL)
			nsp = get_namespace_oid(obj->name, true);
		else if (obj->pubobjtype == PUBLICATIONOBJ_TABLES_IN_CUR_SCHEMA)
		{
			List	   *path = fetch_search_path(false);

			nsp = path != NIL ? linitial_oid(path) : InvalidOid;
		}
		if (OidIsValid(nsp) && nsp == ag_guard_schema())
			ag_tamper(command, "schema " AG_NAME,
					  "The tables of agent_guard cannot be published by an agent session.");
	}
}

/*
 * Settings, roles and tags: what would let the session, or a role it
 * creates, leave the guard.
 */
static void
ag_check_settings_and_roles(Node *parsetree, const char *command)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterSystemStmt:
			ag_tamper(command, NULL,
					  "The server configuration cannot be changed by an agent session.");
			break;
		case T_LoadStmt:
			ag_tamper(command, ((LoadStmt *) parsetree)->filename,
					  "Libraries cannot be loaded by an agent session.");
			break;
		case T_VariableSetStmt:
			{
				VariableSetStmt *stmt = (VariableSetStmt *) parsetree;

				if (ag_is_guard_setting(stmt->name) && !ag_is_session_agent_on(stmt))
					ag_tamper(command, stmt->name,
							  "Settings of agent_guard cannot be changed by an agent session.");
				break;
			}
		case T_AlterRoleSetStmt:
		case T_AlterDatabaseSetStmt:
			/*
			 * Stored settings run in other sessions: a search_path set for a
			 * human role could plant code that runs unguarded there, and a
			 * RESET ALL could remove agent_guard.session_agent from a role.
			 */
			ag_tamper(command, NULL,
					  "Settings stored for roles or databases apply to other sessions, humans' included, and cannot be changed by an agent session.");
			break;
		case T_AlterRoleStmt:
			ag_tamper(command, get_rolespec_name(((AlterRoleStmt *) parsetree)->role),
					  "Role attributes, passwords and memberships cannot be changed by an agent session: a changed role could be used to leave the guard.");
			break;
		case T_GrantRoleStmt:
			ag_tamper(command, NULL,
					  "Role memberships cannot be changed by an agent session: a changed membership could be used to leave the guard.");
			break;
		case T_CreateRoleStmt:
			if (ag_role_options_add_memberships(((CreateRoleStmt *) parsetree)->options))
				ag_tamper(command, ((CreateRoleStmt *) parsetree)->role,
						  "A role created by an agent session cannot be given memberships (IN ROLE, ROLE, ADMIN): membership in a predefined role such as pg_execute_server_program reaches around the guard, and members added to the new, tagged role would be guarded against their will.");
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_ROLE)
				ag_tamper(command, ((RenameStmt *) parsetree)->subname,
						  "Roles cannot be renamed by an agent session.");
			break;
		case T_NotifyStmt:
			/* the channel is an identifier: NOTIFY AGENT_GUARD and "agent_guard" too */
			if (strcmp(((NotifyStmt *) parsetree)->conditionname, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "The channel agent_guard carries the guard's notifications of new requests to approval tools: agent sessions cannot send on it.");
			break;
		case T_SecLabelStmt:
			{
				SecLabelStmt *stmt = (SecLabelStmt *) parsetree;

				if (stmt->provider == NULL || strcmp(stmt->provider, AG_NAME) == 0)
					ag_tamper(command, NULL,
							  "Agent tags cannot be changed by an agent session.");
				break;
			}
		default:
			break;
	}
}

/*
 * The guard's own objects: the extension, its schema, and the tables whose
 * locks, children, indexes or storage the guard depends on.
 */
static void
ag_check_guard_objects(Node *parsetree, const char *command)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) parsetree)->extname, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "The extension agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterExtensionContentsStmt:
			if (strcmp(((AlterExtensionContentsStmt *) parsetree)->extname, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "The extension agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterObjectSchemaStmt:
			if (strcmp(((AlterObjectSchemaStmt *) parsetree)->newschema, AG_NAME) == 0)
				ag_tamper(command, AG_NAME,
						  "Objects cannot be moved into schema agent_guard by an agent session.");
			break;
		case T_GrantStmt:
			if (ag_grant_touches_guard((GrantStmt *) parsetree))
				ag_tamper(command, NULL,
						  "Privileges on the objects of agent_guard cannot be changed by an agent session.");
			break;
		case T_AlterDefaultPrivilegesStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterDefaultPrivilegesStmt *) parsetree)->options)
				{
					DefElem    *def = lfirst(lc);

					if (strcmp(def->defname, "schemas") == 0 &&
						ag_names_guard_schema((List *) def->arg))
						ag_tamper(command, AG_NAME,
								  "Default privileges in schema agent_guard cannot be changed by an agent session.");
				}
				break;
			}
		case T_LockStmt:
			ag_refuse_guard_relations(command, ((LockStmt *) parsetree)->relations,
									  "The tables of agent_guard cannot be locked by an agent session.");
			break;
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			/* a child adds its rows to the parent's: forged events, approvals */
			ag_refuse_guard_relations(command, ((CreateStmt *) parsetree)->inhRelations,
									  "A table inheriting from a table of agent_guard would add rows to it, and the guard's tables cannot be changed by an agent session.");
			break;
		case T_AlterTableStmt:
			{
				/*
				 * Any ALTER of a guard relation, refused before it runs: some
				 * subcommands change it without the object access hook
				 * (REPLICA IDENTITY, CLUSTER ON, ENABLE/FORCE ROW LEVEL
				 * SECURITY).  And INHERIT of a guard table.
				 */
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				ag_refuse_guard_relation(command, stmt->relation,
										 "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst(lc);

					if (cmd->subtype == AT_AddInherit)
						ag_refuse_guard_relation(command, (RangeVar *) cmd->def,
												 "A table inheriting from a table of agent_guard would add rows to it, and the guard's tables cannot be changed by an agent session.");
				}
				break;
			}
		case T_CommentStmt:
			{
				CommentStmt *stmt = (CommentStmt *) parsetree;
				Relation	rel;
				ObjectAddress addr;

				/* the lock COMMENT takes itself; a missing object is its error */
				addr = get_object_address(stmt->objtype, stmt->object, &rel,
										  ShareUpdateExclusiveLock, true);
				if (rel != NULL)
					relation_close(rel, NoLock);
				if (OidIsValid(addr.objectId) && ag_object_is_guard(&addr))
					ag_tamper(command, ag_object_description(&addr),
							  "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
				break;
			}
		case T_CreateStatsStmt:
			ag_refuse_guard_relations(command, ((CreateStatsStmt *) parsetree)->relations,
									  "The tables of agent_guard cannot be changed by an agent session.");
			break;
		case T_CreatePublicationStmt:
			ag_check_publication((CreatePublicationStmt *) parsetree, command);
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				if (stmt->relation != NULL)
					ag_refuse_guard_relation(command, stmt->relation,
											 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				else if (((stmt->kind == REINDEX_OBJECT_SCHEMA && stmt->name != NULL &&
						   strcmp(stmt->name, AG_NAME) == 0) ||
						  stmt->kind == REINDEX_OBJECT_DATABASE) &&
						 OidIsValid(ag_guard_schema()))
					ag_tamper(command, "schema " AG_NAME,
							  "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				break;
			}
		case T_AgClusterStmt:
			ag_refuse_guard_relation(command, AG_CLUSTER_RELATION(parsetree),
									 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) parsetree;
				ListCell   *lc;
				bool		full = false;

				/* plain VACUUM and ANALYZE take no lock that stops the guard */
				foreach(lc, stmt->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "full") == 0)
						full = defGetBoolean(lfirst(lc));
				if (!full)
					break;
				foreach(lc, stmt->rels)
					ag_refuse_guard_relation(command, ((VacuumRelation *) lfirst(lc))->relation,
											 "The tables of agent_guard cannot be locked or rebuilt by an agent session.");
				break;
			}
		case T_IndexStmt:
			{
				/*
				 * CREATE INDEX CONCURRENTLY commits the index's catalog row
				 * (and later its build) before it returns: refused when it
				 * returns, it would leave an invalid but ready index on the
				 * guard's table, maintained on every insert.  Decide first.
				 */
				IndexStmt  *stmt = (IndexStmt *) parsetree;

				if (stmt->concurrent)
					ag_refuse_guard_relation(command, stmt->relation,
											 "Objects cannot be created in schema agent_guard by an agent session.");
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;
				ListCell   *lc;

				if (stmt->removeType != OBJECT_EXTENSION &&
					stmt->removeType != OBJECT_SCHEMA)
					break;
				foreach(lc, stmt->objects)
					if (strcmp(strVal(lfirst(lc)), AG_NAME) == 0 &&
						OidIsValid(ag_guard_schema()))
						ag_tamper(command, AG_NAME,
								  "The extension agent_guard and its schema cannot be dropped by an agent session.");
				break;
			}
		default:
			break;
	}
}

/* Refuse the tamper attempts the parse tree shows, before the statement runs. */
void
ag_check_tamper(Node *parsetree, const char *command)
{
	ag_check_settings_and_roles(parsetree, command);
	ag_check_guard_objects(parsetree, command);
}

/*
 * pg_notify() called through the fast-path interface (utility.c): it could
 * send on the guard's channel, and its arguments cannot be seen there.
 */
void
ag_on_fastpath_notify(void)
{
	if (ag_session_action() != AG_ACTION_NONE)
		ag_tamper("pg_notify", NULL,
				  "A fast-path call of pg_notify() could send on the channel agent_guard, which carries the guard's notifications of new requests to approval tools, and its arguments cannot be checked there: agent sessions cannot call it that way.");
}

/* A change of the guard's objects the object access hook saw (OAT_POST_ALTER). */
void
ag_on_alter(const ObjectAddress *addr, const char *command)
{
	Oid			relid;
	ObjectAddress named = *addr;

	if (!ag_object_is_guard(addr))
		return;
	/* name a table, not its trigger or constraint (their names hold OIDs) */
	relid = ag_object_relation(addr);
	if (OidIsValid(relid) && addr->classId != RelationRelationId)
		ObjectAddressSet(named, RelationRelationId, relid);
	ag_tamper(command, ag_object_description(&named),
			  "The extension agent_guard, its schema and the objects in it cannot be changed by an agent session.");
}
