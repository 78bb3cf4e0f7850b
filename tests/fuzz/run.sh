#!/usr/bin/env bash
# Builds the libFuzzer targets (every tests/fuzz/fuzz_*.cpp; clang-14, ASan+UBSan) and runs them.
#   run.sh smoke [BUILD]  each target once over its seeds in tests/fuzz/corpus/<target>/ (make test)
#   run.sh fuzz  [BUILD]  each target for FUZZ_SECONDS (default 60), then a table of executions
# `fuzz` keeps what it learns in BUILD/corpus/<target>/ (the seeds stay untouched) and writes
# crashing inputs to BUILD/artifacts/; reproduce one with: BUILD/<target> BUILD/artifacts/<file>
set -euo pipefail
mode=${1:-smoke}
build=${2:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DSLUICE_FUZZ=ON -DSLUICE_TESTS=ON >/dev/null  # ON: `make asan` builds the unit tests here
cmake --build "$build" -j"${JOBS:-$(nproc)}" --target sluice_fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
mkdir -p "$build/logs" "$build/artifacts"

failed=()
report="$build/fuzz-report.md"
if [ "$mode" = fuzz ]; then
  {
    echo "$(date -u +%F) · $(nproc) cores · FUZZ_SECONDS=$seconds make fuzz"
    echo
    echo "| target | executions | exec/s | corpus (seeds + found) | result |"
    echo "|---|---:|---:|---:|---|"
  } >"$report"
fi
for src in tests/fuzz/fuzz_*.cpp; do
  t=$(basename "$src" .cpp)
  seeds="tests/fuzz/corpus/$t"
  mkdir -p "$seeds"  # a target without seeds starts from the empty input
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$build/logs/$t-$mode.log"
  common=(-timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}")
  if [ "$mode" = smoke ]; then
    if "$build/$t" "${common[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
      echo "fuzz-smoke: $t: $(find "$seeds" -type f | wc -l) seeds, ok"
    else
      echo "fuzz-smoke: $t: FAILED (log: $log)"
      tail -n 40 "$log"
      failed+=("$t")
    fi
    continue
  fi
  mkdir -p "$build/corpus/$t"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  result=ok
  "$build/$t" "${common[@]}" -max_total_time="$seconds" "$build/corpus/$t" "$seeds" >"$log" 2>&1 ||
    result="CRASH (see $log)"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "$build/corpus/$t" "$seeds" -type f | wc -l)
  echo "| $t | ${runs:-?} | ${rate:-?} | $units | $result |" >>"$report"
  [ "$result" = ok ] || { tail -n 60 "$log"; failed+=("$t"); }
done
[ "$mode" = fuzz ] && cat "$report"
if ((${#failed[@]})); then
  echo "fuzz $mode: failed: ${failed[*]}" >&2
  exit 1
fi
