#!/usr/bin/env bash
# Latency of the guard's durable paths, measured from the client (psql
# \timing), on a throwaway cluster with agent_guard preloaded:
#   reject - a rejected statement (its audit row written by a worker)
#   park   - a parked statement (the request written by a worker)
#   permit - an approved statement finding and using its permit
# N distinct statements each (default 200); prints median and p95 in ms.
# Part of `make bench` (test/bench/bench.sh runs it with --on-cluster N on
# its cluster: PGHOST, PGPORT, PGDATABASE set, the extension created,
# agent_guard.max_pending large).  Alone: bash test/bench/park_latency.sh
# (port BENCH_PORT, default 54330).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

case "${1:-}" in
  --staged)
    N=${2:-200}
    work=$(mktemp -d /tmp/agent_guard_bench.XXXXXX)
    export PGDATABASE=postgres PGUSER=postgres
    trap 'pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
    ag_start_cluster "$work" "${BENCH_PORT:-54330}" <<< "agent_guard.max_pending = 1000000"
    psql -X -q -c "CREATE EXTENSION agent_guard"
    ;;
  --on-cluster)
    N=${2:-200}
    ;;
  *)
    ag_rerun_staged test/bench/park_latency.sh "${N:-200}"
    ;;
esac
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE ROLE bench_owner;
CREATE ROLE bench_reject IN ROLE bench_owner;
CREATE ROLE bench_park IN ROLE bench_owner;
CREATE TABLE lat (id int);
ALTER TABLE lat OWNER TO bench_owner;
SELECT agent_guard.tag_role('bench_reject', 'reject');
SELECT agent_guard.tag_role('bench_park', 'park');
SQL

# run N distinct unbounded deletes as a role; print "median p95"
measure() {
  local role=$1
  # the write path's latency, without the per-role rate (N tries in a row)
  { echo '\timing on'; echo "SET agent_guard.role_write_rate = 0;"; echo "SET ROLE $role;"
    for i in $(seq 1 "$N"); do echo "DELETE FROM lat /* $i */;"; done
  } | psql -X -q 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n +3 | sort -n |
    awk '{a[NR]=$1} END {printf "%s %s\n", a[int((NR+1)/2)], a[int(NR*0.95)]}'
}

read -r rej_med rej_p95 < <(measure bench_reject)
read -r park_med park_p95 < <(measure bench_park)
psql -X -q -c "SELECT count(agent_guard.approve(id)) FROM agent_guard.pending" >/dev/null
read -r permit_med permit_p95 < <(measure bench_park)

printf '%-8s %10s %10s\n' path median_ms p95_ms
printf '%-8s %10s %10s\n' reject "$rej_med" "$rej_p95" park "$park_med" "$park_p95" permit "$permit_med" "$permit_p95"
echo "park_ms $park_med  permit_ms $permit_med  reject_ms $rej_med  (N=$N each)"
