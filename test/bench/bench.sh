#!/usr/bin/env bash
# make bench: the cost of agent_guard against the same server without it
# (doc/design.md section 8).  Five parts:
#
#  1. Instructions per statement (the gate; deterministic).  A single-user
#     backend (postgres --single) runs under valgrind --tool=callgrind a
#     fixed script of primary-key SELECT + UPDATE pairs on pgbench_accounts,
#     once with N pairs and once with 2N, each from a fresh copy of the same
#     prepared data directory, so start-up and shutdown cancel:
#         per statement = (I(2N) - I(N)) / (N * statements per pair)
#     Configurations: off (no library), human (library preloaded, extension
#     created, an untagged role), agent (same, a tagged role doing the same
#     allowed, bounded work); each once more with CREATE TEMP TABLE / DROP
#     TABLE in every pair.  All three run as non-superusers with the same
#     grants (SET SESSION AUTHORIZATION first), so privilege checks cost the
#     same everywhere and the difference is the guard's.
#  2. Role count: the same gate in a cluster with 10,000 roles, 100 of them
#     tagged, for off, human and agent.
#  3. pgbench select-only (-S) and TPC-B-like, simple protocol, interleaved
#     off, human, agent, off, human, agent ... for BENCH_ROUNDS rounds;
#     medians of tps.  Two clusters copied from the same data directory, one
#     without and one with the library; off and agent connect as the tagged
#     role, human as the untagged one (same grants).  Wall-clock on shared machines is noisy: a sanity check.
#  4. Latency of rejecting, parking (worker round trip included) and using
#     a permit: test/bench/park_latency.sh on the cluster with the library.
#  5. Parking at scale: parks/s and latency with 1, 8 and 32 concurrent
#     agents, the same server's plain durable INSERTs/s as the yardstick,
#     and one agent's p95 while another role floods the writer:
#     test/bench/park_scale.sh on the cluster with the library.
#
# Last line: ratios to the no-library figures, e.g.
#   instr human 1.0004 agent 1.0031  tps human 0.996 agent 0.989  park_ms 4.1  permit_ms 0.6
# (tps: geometric mean of the select-only and TPC-B-like median ratios).
#
# Knobs (environment):
#   BENCH_N=2000        pairs in the short callgrind run (the long one: 2N)
#   BENCH_DDL_N=N/4     the same for the runs with DDL (4 statements a pair,
#                       3 times the instructions each)
#   BENCH_T=10          seconds per pgbench run
#   BENCH_ROUNDS=3      interleaved pgbench rounds
#   BENCH_CLIENTS=2     pgbench -c and -j
#   BENCH_LAT_N=200     tries per latency path
#   BENCH_ROLES=10000   roles in the role-count cluster ...
#   BENCH_TAGGED=100    ... of which tagged (the agent role included)
#   BENCH_PARTS="gate roles pgbench latency scale"   which parts to run
#   SCALE_T=10          seconds per pgbench run of the scale part
#   BENCH_GATE="off human agent off_ddl human_ddl agent_ddl"
#                       which configurations the gate part runs (a quicker
#                       loop while profiling one of them)
#   BENCH_PORT=54330    ports BENCH_PORT and BENCH_PORT+1 are used
#   BENCH_OUT=DIR       where results and callgrind profiles are kept
#                       (default: bench_out/ in the source tree)
#   BENCH_SMOKE=1       tiny sizes: checks the script works, in well under
#                       a minute; its figures mean nothing
# Needs valgrind (test/deps.sh installs it as root when AG_DEPS_BENCH=1).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

if [ "${1:-}" != "--staged" ]; then
  export AG_DEPS_BENCH=1
  BENCH_OUT=${BENCH_OUT:-$AG_TOP/bench_out}
  mkdir -p "$BENCH_OUT"
  BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$BENCH_OUT"
  export BENCH_OUT
  ag_rerun_staged test/bench/bench.sh
fi

if [ -n "${BENCH_SMOKE:-}" ]; then
  : "${BENCH_N:=100}" "${BENCH_T:=1}" "${BENCH_ROUNDS:=1}" "${BENCH_LAT_N:=10}"
  : "${BENCH_ROLES:=300}" "${BENCH_TAGGED:=10}"
fi
N=${BENCH_N:-2000}
DDL_N=${BENCH_DDL_N:-$(( N / 4 ))}
T=${BENCH_T:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-2}
LAT_N=${BENCH_LAT_N:-200}
ROLES=${BENCH_ROLES:-10000}
TAGGED=${BENCH_TAGGED:-100}
PARTS=" ${BENCH_PARTS:-gate roles pgbench latency scale} "
GATES=" ${BENCH_GATE:-off human agent off_ddl human_ddl agent_ddl} "
PORT=${BENCH_PORT:-54330}
OUT=${BENCH_OUT:-}
AGENT=bench_agent
HUMAN=bench_human	# untagged, same name length; both get their grants from bench_rw
DB=bench

PGBIN="$AG_TOP/tmp_install$("$PG_CONFIG" --bindir)"
export PATH="$PGBIN:$PATH" PGUSER=postgres PGDATABASE=$DB
work=$(mktemp -d /tmp/agent_guard_bench.XXXXXX)
export PGHOST=$work
clusters=()
cleanup() {
  for c in "${clusters[@]}"; do pg_ctl -D "$c" -m immediate stop >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench: $*" >&2; exit 1; }
has_part() { [[ "$PARTS" == *" $1 "* ]]; }
has_gate() { [[ "$GATES" == *" $1 "* ]]; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) printf "%.1f\n", a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.4f}" 'BEGIN {if (b == 0 || a == "nan" || b == "nan") print "nan"; else printf f "\n", a/b}'; }

# start_cluster DATADIR PORT PRELOAD [settings...]
start_cluster() {
  local data=$1 port=$2 preload=$3; shift 3
  local opts="-c port=$port -c listen_addresses='' -c unix_socket_directories='$work'"
  opts+=" -c shared_preload_libraries='$preload' -c max_worker_processes=16"
  for s in "$@"; do opts+=" -c $s"; done
  pg_ctl -D "$data" -o "$opts" -l "$data.log" -w start >/dev/null || { cat "$data.log" >&2; die "cannot start $data"; }
  clusters+=("$data")
}
stop_cluster() { pg_ctl -D "$1" -m fast -w stop >/dev/null; }

echo "bench: preparing the data directory (pgbench scale 1, extension, tagged role $AGENT)"
initdb -D "$work/tmpl" -A trust -U postgres >/dev/null
start_cluster "$work/tmpl" "$PORT" agent_guard
export PGPORT=$PORT
createdb "$DB"
pgbench -q -i -s 1 "$DB" >/dev/null 2>&1 || die "pgbench -i failed"
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE EXTENSION agent_guard;
CREATE ROLE bench_rw;
GRANT SELECT, INSERT, UPDATE ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO bench_rw;
CREATE ROLE $AGENT LOGIN IN ROLE bench_rw;
CREATE ROLE $HUMAN LOGIN IN ROLE bench_rw;
SELECT agent_guard.tag_role('$AGENT', 'reject');
VACUUM ANALYZE;
CHECKPOINT;
SQL
stop_cluster "$work/tmpl"

if has_part roles; then
  echo "bench: preparing the role-count data directory ($ROLES roles, $TAGGED tagged)"
  cp -a "$work/tmpl" "$work/tmpl_roles"
  start_cluster "$work/tmpl_roles" "$PORT" agent_guard
  psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$BEGIN
  FOR i IN 1..$ROLES - (SELECT count(*) FROM pg_roles) LOOP
    EXECUTE format('CREATE ROLE bench_r%s', i);
  END LOOP;
END\$\$;
SELECT agent_guard.tag_role(format('bench_r%s', i)::regrole, 'reject')
  FROM generate_series(1, $TAGGED - 1) i;
CHECKPOINT;
SQL
  got=$(psql -X -A -t -c "SELECT count(*) FROM pg_roles; SELECT count(*) FROM pg_shseclabel WHERE provider = 'agent_guard'" | tr '\n' ' ')
  [ "$got" = "$ROLES $TAGGED " ] || die "role-count setup: got roles/tags '$got'"
  stop_cluster "$work/tmpl_roles"
fi

# ---------------------------------------------------------------- callgrind

# the per-pair statements; C keys spread over the table, cycled, so that the
# N and 2N runs touch the same pages (the shutdown checkpoint cancels too)
write_script() {
  local n=$1 ddl=$2 preamble=$3 i k C=$(( $4 < 500 ? $4 : 500 ))
  printf '%b' "$preamble"
  for ((i = 0; i < n; i++)); do
    k=$(( 1 + (i % C) * (100000 / C) ))
    echo "SELECT abalance FROM pgbench_accounts WHERE aid = $k;"
    echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $k;"
    if [ "$ddl" = 1 ]; then
      echo "CREATE TEMP TABLE bench_tmp (a int);"
      echo "DROP TABLE bench_tmp;"
    fi
  done
  # proves every UPDATE ran: initial balances are 0
  echo "SELECT sum(abalance) AS bench_sum FROM pgbench_accounts;"
}

# cg_run NAME TEMPLATE PRELOAD DDL N PAIRS: prints the callgrind total
# (PAIRS: the short run's N, which fixes the keys, the same in both runs)
cg_run() {
  local name=$1 tmpl=$2 preload=$3 ddl=$4 n=$5 preamble="" d="$work/cg/$1"
  case $name in
    off*) preamble='SELECT current_setting($$shared_preload_libraries$$) = $$$$ AS bench_nolib;\n'"SET SESSION AUTHORIZATION $AGENT;\\n" ;;
    human*) preamble="SET SESSION AUTHORIZATION $HUMAN;\\n"'SELECT active AS bench_active, agent_session AS bench_agent FROM agent_guard.status();\n' ;;
    agent*) preamble="SET SESSION AUTHORIZATION $AGENT;\\n"'SELECT active AS bench_active, agent_session AS bench_agent FROM agent_guard.status();\n' ;;
  esac
  rm -rf "$d"; mkdir -p "$work/cg"
  cp -a "$work/$tmpl" "$d"
  write_script "$n" "$ddl" "$preamble" "$6" > "$d.sql"
  valgrind --tool=callgrind --callgrind-out-file="$d.cg" \
    postgres --single -D "$d" -c shared_preload_libraries="$preload" -c fsync=off "$DB" \
    < "$d.sql" > "$d.stdout" 2> "$d.stderr" || die "$name: postgres --single failed (see $d.stderr)"
  # checks: no error, the session is what it claims, every UPDATE ran
  ! grep -q 'ERROR:' "$d.stderr" || die "$name: $(grep -m1 'ERROR:' "$d.stderr")"
  case $name in
    off*) grep -q 'bench_nolib = "t"' "$d.stdout" || die "$name: library loaded" ;;
    human*) grep -q 'bench_active = "t"' "$d.stdout" && grep -q 'bench_agent = "f"' "$d.stdout" || die "$name: not a human session with the guard active" ;;
    agent*) grep -q 'bench_active = "t"' "$d.stdout" && grep -q 'bench_agent = "t"' "$d.stdout" || die "$name: not an agent session" ;;
  esac
  grep -q "bench_sum = \"$n\"" "$d.stdout" || die "$name: expected $n updates, $(grep -o 'bench_sum = "[0-9]*"' "$d.stdout")"
  sed -n 's/^totals: *//p' "$d.cg"
  rm -rf "$d"
}

declare -A per_stmt
for g in off human agent off_ddl human_ddl agent_ddl; do per_stmt[$g]=nan; done
# gate NAME TEMPLATE PRELOAD DDL: the two runs in parallel (2 cores)
gate() {
  local name=$1 tmpl=$2 preload=$3 ddl=$4 i1 i2 spp=$(( $4 == 1 ? 4 : 2 )) n=$N
  [ "$ddl" = 1 ] && n=$DDL_N
  cg_run "${name}_1" "$tmpl" "$preload" "$ddl" "$n" "$n" > "$work/$name.i1" &
  local p1=$!
  cg_run "${name}_2" "$tmpl" "$preload" "$ddl" $((2 * n)) "$n" > "$work/$name.i2" || { wait $p1; exit 1; }
  wait $p1 || exit 1
  read -r i1 < "$work/$name.i1"; read -r i2 < "$work/$name.i2"
  per_stmt[$name]=$(awk -v a="$i1" -v b="$i2" -v n="$n" -v s="$spp" 'BEGIN {printf "%.1f", (b - a) / (n * s)}')
  printf '  %-12s I(N)=%-12s I(2N)=%-12s per statement %s\n' "$name" "$i1" "$i2" "${per_stmt[$name]}"
  if [ -n "$OUT" ]; then
    cp "$work/cg/${name}_1.cg" "$OUT/$name.N.cg"; cp "$work/cg/${name}_2.cg" "$OUT/$name.2N.cg"
  fi
  rm -f "$work/cg/${name}"_[12].*
}

if has_part gate || has_part roles; then
  echo "bench: callgrind, N=$N and 2N pairs, with DDL N=$DDL_N and 2N (instructions per statement)"
fi
if has_part gate; then
  for g in off human agent off_ddl human_ddl agent_ddl; do
    lib=agent_guard ddl=0
    [[ $g == off* ]] && lib=""
    [[ $g == *_ddl ]] && ddl=1
    if has_gate $g; then gate $g tmpl "$lib" $ddl; fi
  done
fi
if has_part roles; then
  gate off_roles tmpl_roles "" 0
  gate human_roles tmpl_roles agent_guard 0
  gate agent_roles tmpl_roles agent_guard 0
fi

# ---------------------------------------------------------------- pgbench

declare -A tps
if has_part pgbench || has_part latency || has_part scale; then
  cp -a "$work/tmpl" "$work/off"
  cp -a "$work/tmpl" "$work/on"
  start_cluster "$work/on" $((PORT + 1)) agent_guard agent_guard.max_pending=1000000
fi
if has_part pgbench; then
  start_cluster "$work/off" "$PORT" ""
  echo "bench: pgbench -M simple -T $T -c $CLIENTS -j $CLIENTS, $ROUNDS interleaved rounds"
  for ((r = 1; r <= ROUNDS; r++)); do
    for mode in select tpcb; do
      for cfg in off human agent; do
        port=$PORT user=$AGENT flag=""
        [ "$cfg" != off ] && port=$((PORT + 1))
        [ "$cfg" = agent ] && user=$AGENT
        [ "$cfg" = human ] && user=$HUMAN
        [ "$mode" = select ] && flag=-S
        # what pgbench does before a run, done by a human for every configuration
        psql -X -q -p "$port" -c "VACUUM pgbench_branches" -c "VACUUM pgbench_tellers" -c "TRUNCATE pgbench_history" >/dev/null
        t=$(pgbench -n -M simple $flag -T "$T" -c "$CLIENTS" -j "$CLIENTS" -p "$port" -U "$user" "$DB" 2>"$work/pgbench.err" |
          sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
        [ -n "$t" ] || { cat "$work/pgbench.err" >&2; die "pgbench $mode $cfg failed"; }
        ! grep -q 'ERROR\|aborted' "$work/pgbench.err" || { cat "$work/pgbench.err" >&2; die "pgbench $mode $cfg: errors"; }
        t=$(printf '%.1f' "$t")
        tps[$mode.$cfg]+="$t "
        printf '  round %d %-6s %-5s tps %s\n' "$r" "$mode" "$cfg" "$t"
      done
    done
  done
  stop_cluster "$work/off"
  # the agent really was guarded: its session saw itself as an agent
  [ "$(psql -X -A -t -p $((PORT + 1)) -U $AGENT -c 'SELECT agent_session FROM agent_guard.status()')" = t ] ||
    die "pgbench: $AGENT is not an agent session"
fi

# ---------------------------------------------------------------- latency

lat_line=""
if has_part latency; then
  echo "bench: latency, $LAT_N tries per path"
  lat_out=$(PGPORT=$((PORT + 1)) bash "$AG_TOP/test/bench/park_latency.sh" --on-cluster "$LAT_N") || die "latency failed"
  echo "$lat_out" | sed 's/^/  /'
  lat_line=$(echo "$lat_out" | tail -1)
fi

# ---------------------------------------------------------------- scale

scale_line=""
if has_part scale; then
  echo "bench: parking at scale, ${SCALE_T:-10} s per run"
  scale_out=$(PGPORT=$((PORT + 1)) bash "$AG_TOP/test/bench/park_scale.sh" --on-cluster) || die "scale failed"
  echo "$scale_out" | sed 's/^/  /'
  scale_line=$(echo "$scale_out" | tail -1)
fi

# ---------------------------------------------------------------- report

echo
echo "== agent_guard benchmark ($(nproc) cores; N=$N, with DDL $DDL_N; pgbench T=${T}s x $ROUNDS rounds, -c $CLIENTS)"
printf '%-34s %14s %14s %14s\n' "instructions per statement" off human agent
row() { # label off human agent
  printf '%-34s %14s %14s %14s\n' "$1" "$2" "$3" "$4"
}
if has_part gate; then
  row "  SELECT+UPDATE" "${per_stmt[off]}" "${per_stmt[human]}" "${per_stmt[agent]}"
  row "    ratio to off" "1.0000" "$(ratio "${per_stmt[human]}" "${per_stmt[off]}")" "$(ratio "${per_stmt[agent]}" "${per_stmt[off]}")"
  row "  with CREATE/DROP TEMP TABLE" "${per_stmt[off_ddl]}" "${per_stmt[human_ddl]}" "${per_stmt[agent_ddl]}"
  row "    ratio to off" "1.0000" "$(ratio "${per_stmt[human_ddl]}" "${per_stmt[off_ddl]}")" "$(ratio "${per_stmt[agent_ddl]}" "${per_stmt[off_ddl]}")"
fi
if has_part roles; then
  row "  $ROLES roles, $TAGGED tagged" "${per_stmt[off_roles]}" "${per_stmt[human_roles]}" "${per_stmt[agent_roles]}"
  row "    ratio to off" "1.0000" "$(ratio "${per_stmt[human_roles]}" "${per_stmt[off_roles]}")" "$(ratio "${per_stmt[agent_roles]}" "${per_stmt[off_roles]}")"
fi
tps_h=nan tps_a=nan
if has_part pgbench; then
  printf '%-34s %14s %14s %14s\n' "pgbench tps (median of $ROUNDS)" off human agent
  for mode in select tpcb; do
    for cfg in off human agent; do
      eval "m_$cfg=\$(echo \${tps[$mode.$cfg]} | tr ' ' '\n' | median)"
    done
    label="  select-only (-S)"; [ "$mode" = tpcb ] && label="  TPC-B-like"
    row "$label" "$m_off" "$m_human" "$m_agent"
    row "    ratio to off" "1.000" "$(ratio "$m_human" "$m_off" %.3f)" "$(ratio "$m_agent" "$m_off" %.3f)"
    eval "r_${mode}_h=\$(ratio $m_human $m_off %.6f) r_${mode}_a=\$(ratio $m_agent $m_off %.6f)"
  done
  # shellcheck disable=SC2154
  tps_h=$(awk -v a="$r_select_h" -v b="$r_tpcb_h" 'BEGIN {printf "%.3f", sqrt(a*b)}')
  # shellcheck disable=SC2154
  tps_a=$(awk -v a="$r_select_a" -v b="$r_tpcb_a" 'BEGIN {printf "%.3f", sqrt(a*b)}')
fi
park=nan permit=nan
if [ -n "$lat_line" ]; then
  echo "latency (ms, $LAT_N tries)               median            p95"
  echo "$lat_out" | awk '$1 == "reject" || $1 == "park" || $1 == "permit" {printf "  %-32s %14s %14s\n", $1, $2, $3}'
  park=$(echo "$lat_line" | sed -n 's/.*park_ms \([0-9.]*\).*/\1/p')
  permit=$(echo "$lat_line" | sed -n 's/.*permit_ms \([0-9.]*\).*/\1/p')
fi
# budget VALUE MAX: "met" when VALUE <= MAX; at_least VALUE MIN likewise
budget() { awk -v r="$1" -v m="$2" 'BEGIN {print (r <= m) ? "met" : "NOT MET"}'; }
at_least() { awk -v r="$1" -v m="$2" 'BEGIN {print (r >= m) ? "met" : "NOT MET"}'; }
ih=nan ia=nan
if has_part gate; then
  ih=$(ratio "${per_stmt[human]}" "${per_stmt[off]}")
  ia=$(ratio "${per_stmt[agent]}" "${per_stmt[off]}")
  echo "budget (doc/design.md section 8): instr human <= 1.001 $(budget "$ih" 1.001), agent <= 1.005 $(budget "$ia" 1.005)$( [ "$park" != nan ] && echo ", park median <= 20 ms $(budget "$park" 20)")"
fi
final="instr human $ih agent $ia  tps human $tps_h agent $tps_a  park_ms $park  permit_ms $permit"
if [ -n "$scale_line" ]; then
  echo "parking at scale                   per_s   p50_ms   p95_ms"
  echo "$scale_out" | sed -n 's/^\(plain INSERT\|park\|flood\)/  &/p'
  share=$(echo "$scale_line" | sed -n 's/.* share_8 \([0-9.]*\).*/\1/p')
  p95_32=$(echo "$scale_line" | sed -n 's/.* p95_32_ms \([0-9.]*\).*/\1/p')
  p50_1=$(echo "$scale_line" | sed -n 's/.* p50_1_ms \([0-9.]*\).*/\1/p')
  fairness=$(echo "$scale_line" | sed -n 's/.* fairness \([0-9.na-]*\).*/\1/p')
  echo "goals: parks/s at 8 agents >= 25% of INSERTs/s $(at_least "$share" 0.25), p95 at 32 agents <= 20 ms $(budget "$p95_32" 20), one agent median <= 1 ms $(budget "$p50_1" 1), p95 during a flood <= 2x $(budget "$fairness" 2)"
  final="$final  park8_share $share  p95_32_ms $p95_32  fairness $fairness"
fi
if [ -n "$OUT" ]; then
  { for k in "${!per_stmt[@]}"; do echo "per_stmt $k ${per_stmt[$k]}"; done
    for k in "${!tps[@]}"; do echo "tps $k ${tps[$k]}"; done
    [ -n "$lat_line" ] && echo "$lat_out"
    echo "$final"; } > "$OUT/results.txt"
fi
echo "$final"
