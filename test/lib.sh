# Shared by test/run.sh, test/demo.sh and test/bench/bench.sh (sourced).
#
# ag_temp_install: builds agent_guard and installs it into a private copy
# of the PostgreSQL server under tmp_install/, so tests and the demo never
# write into the server's own directories and work for any user.  The
# PostgreSQL binaries find their share and lib directories relative to
# their own location, so the copy behaves like a full installation.
# Sets PGBIN (its bin directory) and puts it first in PATH.

AG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGVER=${PGVER:-15}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PGVER/bin/pg_config}

ag_temp_install() {
  local dest="$AG_TOP/tmp_install"
  local bindir pkglibdir sharedir
  bash "$AG_TOP/test/deps.sh"
  bindir=$("$PG_CONFIG" --bindir)
  pkglibdir=$("$PG_CONFIG" --pkglibdir)
  sharedir=$("$PG_CONFIG" --sharedir)
  make -s -C "$AG_TOP" PG_CONFIG="$PG_CONFIG" >/dev/null
  rm -rf "$dest"
  mkdir -p "$dest$bindir" "$dest$pkglibdir" "$dest$sharedir"
  cp -a "$bindir/." "$dest$bindir/"
  cp -a "$pkglibdir/." "$dest$pkglibdir/"
  cp -a "$sharedir/." "$dest$sharedir/"
  make -s -C "$AG_TOP" PG_CONFIG="$PG_CONFIG" install DESTDIR="$dest" >/dev/null
  PGBIN="$dest$bindir"
  export PATH="$PGBIN:$PATH"
}

# PostgreSQL refuses to run as root.  As root, ag_stage copies the tree
# (without .git) to a fresh directory under /tmp owned by the "postgres"
# user (Debian's postgresql-common creates it) and prints that directory;
# otherwise it prints the tree itself.  ag_run runs a command as that user
# when we are root, with PATH kept.
ag_stage() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$AG_TOP"
    return
  fi
  local dir
  dir=$(mktemp -d /tmp/agent_guard.XXXXXX)
  (cd "$AG_TOP" && tar --exclude=./.git -cf - .) | tar -xf - -C "$dir"
  chown -R postgres: "$dir"
  chmod 755 "$dir"
  echo "$dir"
}

ag_run() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- env PATH="$PATH" "$@"
  else
    "$@"
  fi
}

# For demo and bench: build and install, then run the calling script again
# from the staged tree (as the postgres user when root) with --staged and
# the given arguments; clean up and exit with its status.
ag_rerun_staged() {
  local script=$1; shift
  local dir status=0
  ag_temp_install
  dir=$(ag_stage)
  ag_run bash "$dir/$script" --staged "$@" || status=$?
  [ "$dir" != "$AG_TOP" ] && rm -rf "$dir"
  exit $status
}

# A throwaway cluster in directory $1, port $2, agent_guard preloaded,
# reachable only through a Unix socket in $1; extra settings on stdin.
# Puts the staged binaries first in PATH and sets PGHOST/PGPORT.
ag_start_cluster() {
  local work=$1 port=$2
  PGBIN="$AG_TOP/tmp_install$("$PG_CONFIG" --bindir)"
  export PATH="$PGBIN:$PATH" PGHOST="$work" PGPORT="$port"
  initdb -D "$work/data" -A trust -U postgres >/dev/null
  {
    echo "shared_preload_libraries = 'agent_guard'"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$work'"
    echo "port = $port"
    cat
  } >> "$work/data/postgresql.conf"
  pg_ctl -D "$work/data" -l "$work/server.log" -w start >/dev/null
}
