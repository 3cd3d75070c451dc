#!/usr/bin/env bash
# bench/run.sh: build weft-bench in a Release tree (build/bench), run every
# benchmark five times against the peers, and print bench/report.py's table.
# Extra arguments go to weft-bench, e.g.
#   bench/run.sh --benchmark_filter='alloc_pair|mem_churn'
# The JSON results stay in build/bench/results.json (and fresh-*.json).
#
# Workloads that measure the growth of resident memory from a clean start
# (mem_empty_lists) run apart: each repetition alone in a fresh process, since
# memory an earlier benchmark left resident in the process would be reused and
# hide part of the growth (weft keeps up to 8 empty 1 MiB arenas mapped and
# resident after a trim). The main run leaves them out unless the extra
# arguments give a filter of their own; either way the fresh runs are the ones
# reported.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"
bin="$build/bench/weft-bench"
results="$build/results.json"
fresh='^mem_empty_lists/'
reps=5

generator=()
# A configured tree keeps its generator (scripts/build.sh bench may have made it).
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BENCH=ON
cmake --build "$build" -j2 --target weft-bench

"$bin" --benchmark_filter="-$fresh" \
    --benchmark_repetitions=$reps --benchmark_report_aggregates_only=true \
    --benchmark_out="$results" --benchmark_out_format=json "$@"

rm -f "$build"/fresh-*.json
fresh_results=()
names=$("$bin" --benchmark_list_tests=true "$@" 2>/dev/null | grep -E "$fresh" || true)
for name in $names; do
  for rep in $(seq 1 $reps); do
    out="$build/fresh-${name//\//_}-$rep.json"
    "$bin" --benchmark_repetitions=1 --benchmark_out="$out" --benchmark_out_format=json \
        "$@" --benchmark_filter="^${name}\$" >"$build/fresh.log"
    grep -E "^${name}" "$build/fresh.log" || true
    fresh_results+=("$out")
  done
done

echo
python3 "$root/bench/report.py" "$results" "${fresh_results[@]}"
