#!/usr/bin/env bash
# bench/run.sh: build weft-bench in a Release tree (build/bench), run every
# benchmark five times against the peers, and print bench/report.py's table.
# Extra arguments go to weft-bench, e.g.
#   bench/run.sh --benchmark_filter='alloc_pair|mem_churn'
# The JSON results stay in build/bench/results.json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"
results="$build/results.json"

generator=()
# A configured tree keeps its generator (scripts/build.sh bench may have made it).
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BENCH=ON
cmake --build "$build" -j2 --target weft-bench

"$build/bench/weft-bench" \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$results" --benchmark_out_format=json "$@"

echo
python3 "$root/bench/report.py" "$results"
