/*
 * fastpath: call functions through the fast-path interface (the protocol's
 * FunctionCall message, libpq's PQfn), nothing else, so that the first
 * message the backend gets after the connection is a function call.
 *
 *	  fastpath CONNINFO CALL...
 *
 * CALL is "<r><oid>[,<arg>...]": <r> is "i" for a function returning int4,
 * "v" for any other result (printed as text, empty for void); each <arg>
 * is "i:<int4>" or "t:<text>".  Each call prints one line: "ok <result>"
 * or "error <sqlstate> <message>".  The calls run in order on one
 * connection; the exit status is 0 unless the connection failed.
 *
 * Built and run by the TAP tests (test/t); not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

#define MAX_ARGS 8

int
main(int argc, char **argv)
{
	PGconn	   *conn;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s CONNINFO CALL...\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 1;
	}
	for (int c = 2; c < argc; c++)
	{
		char	   *spec = strdup(argv[c]);
		char	   *tok = strtok(spec, ",");
		int			is_int = (tok[0] == 'i');
		int			fnid = atoi(tok + 1);
		PQArgBlock	args[MAX_ARGS];
		int			nargs = 0;
		int			ival[MAX_ARGS];
		int			result_int = 0;
		char		result_buf[1024];
		int			result_len = 0;
		PGresult   *res;

		while ((tok = strtok(NULL, ",")) != NULL && nargs < MAX_ARGS)
		{
			if (tok[0] == 'i')
			{
				ival[nargs] = atoi(tok + 2);
				args[nargs].isint = 1;
				args[nargs].len = 4;
				args[nargs].u.integer = ival[nargs];
			}
			else
			{
				args[nargs].isint = 0;
				args[nargs].len = (int) strlen(tok + 2);
				args[nargs].u.ptr = (int *) (tok + 2);
			}
			nargs++;
		}
		memset(result_buf, 0, sizeof(result_buf));
		res = PQfn(conn, fnid, is_int ? &result_int : (int *) result_buf,
				   &result_len, is_int, args, nargs);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			if (is_int)
				printf("ok %d\n", result_int);
			else
				printf("ok %.*s\n", result_len > 0 ? result_len : 0, result_buf);
		}
		else
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			printf("error %s %s\n", state ? state : "-",
				   msg ? msg : PQerrorMessage(conn));
		}
		PQclear(res);
		free(spec);
		fflush(stdout);
	}
	PQfinish(conn);
	return 0;
}
