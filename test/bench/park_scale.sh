#!/usr/bin/env bash
# Parking at scale, on a throwaway cluster with agent_guard preloaded
# (fsync on, the server's defaults otherwise):
#   anchor - plain durable single-row INSERTs/s of the same server, the
#            yardstick: what it commits when nothing is parked
#   park   - parks/s and per-park latency (p50, p95) with 1, 8 and 32
#            concurrent agent sessions, each parking a distinct statement
#            every time (a new request, an audit row, a NOTIFY)
#   flood  - fairness: one agent parks alone (p95), then again while a
#            runaway role floods the writer from 8 sessions, each parking
#            a distinct statement in a loop; the ratio of the two p95s
# Each run is pgbench -T SCALE_T seconds; a parked statement is caught in
# its DO block, so every transaction pgbench counts is one park.
# Part of `make bench` (bench.sh runs it with --on-cluster); alone:
# bash test/bench/park_scale.sh (port BENCH_PORT, default 54330).
# Last line: "scale park_1 P1 park_8 P8 park_32 P32 insert_8 I8 share_8 S
# p95_32_ms L p50_1_ms M fairness F".
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

T=${SCALE_T:-10}
case "${1:-}" in
  --staged)
    work=$(mktemp -d /tmp/agent_guard_scale.XXXXXX)
    export PGDATABASE=postgres PGUSER=postgres
    trap 'pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
    ag_start_cluster "$work" "${BENCH_PORT:-54330}" <<EOF
agent_guard.max_pending = 1000000
max_connections = 100
EOF
    psql -X -q -c "CREATE EXTENSION agent_guard"
    ;;
  --on-cluster)
    work=$(mktemp -d /tmp/agent_guard_scale.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    ;;
  *)
    ag_rerun_staged test/bench/park_scale.sh
    ;;
esac

psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE ROLE scale_owner;
CREATE ROLE scale_park LOGIN IN ROLE scale_owner;
CREATE ROLE scale_flood LOGIN IN ROLE scale_owner;
CREATE TABLE scale_t (id int);
CREATE TABLE scale_anchor (c int, v bigint);
ALTER TABLE scale_t OWNER TO scale_owner;
ALTER TABLE scale_anchor OWNER TO scale_owner;
SELECT agent_guard.tag_role('scale_park', 'park');
SELECT agent_guard.tag_role('scale_flood', 'park');
-- the writer's capacity is measured without the per-role rate; the flood
-- role keeps the default rate, which is what makes the flood fair
ALTER ROLE scale_park SET agent_guard.role_write_rate = 0;
SQL

cat > "$work/park.sql" <<'EOF'
\set r random(1, 2000000000)
DO $$BEGIN EXECUTE 'DELETE FROM scale_t WHERE ' || :r || ' = ' || :r; EXCEPTION WHEN sqlstate '42AGP' OR sqlstate '42AG1' THEN NULL; END$$;
EOF
cat > "$work/insert.sql" <<'EOF'
\set r random(1, 2000000000)
INSERT INTO scale_anchor VALUES (:client_id, :r);
EOF

# run ROLE CLIENTS SCRIPT TAG: pgbench for T seconds; prints "tps p50_ms p95_ms"
run() {
  local role=$1 clients=$2 script=$3 tag=$4
  rm -f "$work/$tag".[0-9]*
  pgbench -n -M simple -T "$T" -c "$clients" -j "$(( clients < 4 ? clients : 4 ))" \
    -U "$role" -f "$script" -l --log-prefix="$work/$tag" "${PGDATABASE:-postgres}" \
    > "$work/$tag.out" 2> "$work/$tag.err" || { cat "$work/$tag.err" >&2; return 1; }
  ! grep -q 'aborted\|ERROR' "$work/$tag.err" || { cat "$work/$tag.err" >&2; return 1; }
  local tps
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$work/$tag.out")
  cat "$work/$tag".[0-9]* | awk '{print $3 / 1000}' | sort -n |
    awk -v tps="$tps" '{a[NR]=$1} END {printf "%.0f %.2f %.2f\n", tps, a[int((NR+1)/2)], a[int(NR*0.95)]}'
}

printf '%-28s %10s %10s %10s\n' run per_s p50_ms p95_ms
read -r ins8 ins8_50 ins8_95 < <(run scale_park 8 "$work/insert.sql" insert8)
printf '%-28s %10s %10s %10s\n' "plain INSERT, 8 clients" "$ins8" "$ins8_50" "$ins8_95"
declare -A tps p50 p95
# one-shot workers share the writer's backend type: sample how many run at once
sample_writers() {
  while sleep 0.05; do
    psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'agent_guard writer'" || break
  done > "$work/writers" 2>/dev/null
}
# a human deciding as the agents park, as in a real deployment: rejects
# what is pending every 100 ms (and keeps the pending list short)
approver() {
  while sleep 0.1; do
    psql -X -q -A -t -c "SELECT count(agent_guard.reject(id, 'bench')) FROM agent_guard.pending WHERE role_name = 'scale_park'" || break
  done > "$work/approver" 2>&1
}
# (it stops by itself once the server is gone, should this script fail)
approver & approver_pid=$!
for c in 1 8 32; do
  [ "$c" = 32 ] && { sample_writers & sampler=$!; }
  read -r "tps[$c]" "p50[$c]" "p95[$c]" < <(run scale_park "$c" "$work/park.sql" "park$c")
  [ "$c" = 32 ] && kill "$sampler" 2>/dev/null
  printf '%-28s %10s %10s %10s\n' "park, $c agent(s)" "${tps[$c]}" "${p50[$c]}" "${p95[$c]}"
done
# fairness: the same single agent while 8 sessions of another role flood
pgbench -n -M simple -T $(( T + 2 )) -c 8 -j 4 -U scale_flood -f "$work/park.sql" \
  "${PGDATABASE:-postgres}" > "$work/flood.out" 2> "$work/flood.err" &
flood=$!
sleep 1
read -r ftps f50 f95 < <(run scale_park 1 "$work/park.sql" fair)
wait "$flood" || { cat "$work/flood.err" >&2; exit 1; }
kill "$approver_pid" 2>/dev/null || true
flood_tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$work/flood.out")
printf '%-28s %10s %10s %10s\n' "park, 1 agent, during flood" "$ftps" "$f50" "$f95"
printf '%-28s %10.0f\n' "flood (8 sessions), per_s" "$flood_tps"
share=$(awk -v p="${tps[8]}" -v i="$ins8" 'BEGIN {printf "%.2f", p / i}')
fair=$(awk -v a="$f95" -v b="${p95[1]}" 'BEGIN {printf "%.2f", a / b}')
echo "writer processes seen at once during the 32-agent run: at most $(sort -n "$work/writers" | tail -1) (more than 1: one-shot workers)"
echo "scale park_1 ${tps[1]} park_8 ${tps[8]} park_32 ${tps[32]} insert_8 $ins8 share_8 $share p95_32_ms ${p95[32]} p50_1_ms ${p50[1]} fairness $fair"
