#!/usr/bin/env bash
# Install what building and testing agent_guard needs, when it is missing:
# PostgreSQL 15 server and development files, and IPC::Run for the TAP tests
# (and valgrind for make bench, when AG_DEPS_BENCH is set).
# As root it uses apt; as another user it says what to install and fails.
set -euo pipefail

PGVER=${PGVER:-15}
missing=()
pg_config_bin=${PG_CONFIG:-/usr/lib/postgresql/$PGVER/bin/pg_config}
[ -x "$pg_config_bin" ] && [ -f "$("$pg_config_bin" --includedir-server 2>/dev/null)/postgres.h" ] \
  || missing+=("postgresql-server-dev-$PGVER")
[ -x "/usr/lib/postgresql/$PGVER/bin/postgres" ] || missing+=("postgresql-$PGVER")
perl -MIPC::Run -e 1 2>/dev/null || missing+=("libipc-run-perl")
# the TAP test 007_fastpath builds a small libpq client (test/fastpath.c)
[ -x "$pg_config_bin" ] && [ -f "$("$pg_config_bin" --includedir 2>/dev/null)/libpq-fe.h" ] \
  || missing+=("libpq-dev")
command -v make >/dev/null || missing+=("make")
command -v gcc >/dev/null || missing+=("gcc")
# make bench (test/bench/bench.sh) also needs valgrind; pgbench, and the contrib
# extensions the suite hot_path uses (citext, hstore, postgres_fdw), come with postgresql-15
if [ -n "${AG_DEPS_BENCH:-}" ]; then
  command -v valgrind >/dev/null || missing+=("valgrind")
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "agent_guard: missing packages: ${missing[*]}" >&2
  echo "agent_guard: install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "agent_guard: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postgresql-common would create and start a cluster on install: not wanted here
mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
