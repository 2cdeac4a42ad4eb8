# agent_guard: PGXS build.  `make demo` and `make test` are the two entry
# points (README.md); both install what they need and never touch the
# server's own directories (they use a private copy under tmp_install/).

MODULE_big = agent_guard
OBJS = src/init.o src/shmem.o src/tags.o src/decide.o src/permit.o src/worker.o src/utility.o src/objects.o src/drops.o src/rewrite.o src/tamper.o src/temp_objects.o src/alters.o src/dml.o src/rowlimit.o src/wait.o src/grants.o src/preflight.o
EXTENSION = agent_guard
DATA = sql/agent_guard--1.0.sql sql/agent_guard--1.0--1.1.sql sql/agent_guard--1.1--1.2.sql
PGFILEDESC = "agent_guard - guard against destructive statements from AI agents"

REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check
ISOLATION_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check_iso --inputdir=$(srcdir)/test
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
NO_INSTALLCHECK = 1
# the test lists live in test/schedule.mk, shared with test/run.sh
include $(dir $(lastword $(MAKEFILE_LIST)))test/schedule.mk

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -Wno-clobbered \
	-Wdeclaration-after-statement -Wimplicit-fallthrough

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# no PostgreSQL development files yet: only the targets that install them work
all install installcheck:
	@echo "pg_config not found: run 'make test' or 'make demo' (they install the dependencies), or install postgresql-server-dev-15" >&2; exit 1
else
include $(PGXS)
# after PGXS, so that its "all" stays the default goal: every source
# includes the shared header (PGXS tracks no header dependencies)
$(OBJS): src/agent_guard.h src/compat.h
endif

.PHONY: test demo bench deps
deps:
	@bash test/deps.sh

test:
	@bash test/run.sh

demo:
	@bash test/demo.sh

bench:
	@bash test/bench/bench.sh
