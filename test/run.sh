#!/usr/bin/env bash
# make test: every suite (pg_regress, isolation, TAP) against a temporary
# server with agent_guard preloaded, and the check that the repository
# stands alone (test/standalone.pl).  The last line sums them all as
# "N passed, M failed"; the exit status is non-zero when anything failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AG_TOP"

# no tracked file refers to a path outside the repository; its self-test
# plants such references in a scratch tree (test/standalone.pl)
standalone_check() {
  perl test/standalone.pl --self-test
  perl test/standalone.pl
}

if [ "${1:-}" != "--suites" ]; then
  ag_temp_install || { echo "0 passed, 1 failed"; exit 1; }
  # needs the list of tracked files, which the staged copy (no .git) lacks:
  # run here, counted with the others below
  standalone_check > tmp_standalone.log 2>&1
  dir=$(ag_stage)
  ag_run bash "$dir/test/run.sh" --suites
  status=$?
  if [ "$dir" != "$AG_TOP" ]; then
    # keep the evidence next to the sources
    for f in regression.diffs output_iso/regression.diffs tmp_regress.log tmp_isolation.log tmp_tap.log; do
      [ -f "$dir/$f" ] && mkdir -p "$(dirname "$f")" && cp "$dir/$f" "$f"
    done
    rm -rf tmp_check_tap results output_iso log
    for d in tmp_check_tap results output_iso log; do
      [ -d "$dir/$d" ] && cp -a "$dir/$d" .
    done
    rm -rf "$dir"
  fi
  exit $status
fi
PGBIN="$AG_TOP/tmp_install$("$PG_CONFIG" --bindir)"
export PATH="$PGBIN:$PATH"

pgxs=$(dirname "$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")")
regress_list=$(make -s --no-print-directory -f - <<<'include test/schedule.mk
all: ; @echo $(REGRESS)')
isolation_list=$(make -s --no-print-directory -f - <<<'include test/schedule.mk
all: ; @echo $(ISOLATION)')

passed=0
failed=0
results=$(mktemp)

# pg_regress and pg_isolation_regress print one "ok"/"FAILED" line a test
count_regress() {
  local log=$1 p f
  p=$(grep -cE '^(test| ) .* \.\.\. ok' "$log" || true)
  f=$(grep -cE '\.\.\. FAILED' "$log" || true)
  passed=$((passed + p)); failed=$((failed + f))
  echo "$2: $p passed, $f failed" >> "$results"
}

echo "== standalone"
if [ -e .git ] || [ ! -f tmp_standalone.log ]; then
  standalone_check > tmp_standalone.log 2>&1
fi
cat tmp_standalone.log
count_regress tmp_standalone.log standalone

if [ -n "$regress_list" ]; then
  echo "== pg_regress"
  rm -rf tmp_check
  "$pgxs/src/test/regress/pg_regress" --bindir="$PGBIN" --inputdir=. \
    --temp-instance=tmp_check --temp-config=test/regress.conf \
    $regress_list 2>&1 | tee tmp_regress.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || grep -q FAILED tmp_regress.log || failed=$((failed + 1))
  count_regress tmp_regress.log pg_regress
fi

if [ -n "$isolation_list" ]; then
  echo "== isolation"
  rm -rf tmp_check_iso output_iso
  "$pgxs/src/test/isolation/pg_isolation_regress" --bindir="$PGBIN" \
    --inputdir=test --outputdir=output_iso \
    --temp-instance=tmp_check_iso --temp-config=test/regress.conf \
    $isolation_list 2>&1 | tee tmp_isolation.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || grep -q FAILED tmp_isolation.log || failed=$((failed + 1))
  count_regress tmp_isolation.log isolation
fi

if ls test/t/*.pl >/dev/null 2>&1; then
  echo "== TAP"
  rm -rf tmp_check_tap
  mkdir -p tmp_check_tap
  TESTDIR="$AG_TOP/tmp_check_tap" PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
    PG_CONFIG="$PG_CONFIG" AG_REGRESS_CONF="$AG_TOP/test/regress.conf" \
    prove -I "$pgxs/src/test/perl" -I test/t test/t/*.pl 2>&1 | tee tmp_tap.log
  tap_status=${PIPESTATUS[0]}
  total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' tmp_tap.log | tail -1)
  bad=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' tmp_tap.log | awk '{s+=$1} END {print s+0}')
  total=${total:-0}
  # a script that died before planning counts as one failure
  [ "$tap_status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  passed=$((passed + total - (bad > total ? total : bad))); failed=$((failed + bad))
  echo "TAP: $((total - (bad > total ? total : bad))) passed, $bad failed" >> "$results"
fi

echo
echo "== summary"
cat "$results"
for f in regression.diffs output_iso/regression.diffs; do
  [ -s "$f" ] && echo "(differences in $f)"
done
rm -f "$results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
