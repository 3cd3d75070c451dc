#!/usr/bin/env bash
# scripts/main.sh [ARGS...]: install what is missing, build weft in Release
# (build/release) and run the main job with ARGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The main job: what this script builds weft for. A weft-stress run (the
# randomized multithreaded harness with an exact oracle, stress/) of about
# 30 seconds: 25 s of the mix with reference cycles, preceded, where weft has
# a collector, by the same workload with the collector off for the on/off
# throughput ratio; then its report. ARGS go to weft-stress after these, so
# they override them (e.g. --threads 8, --duration 600, --json).
main_job() {
  build/release/stress/weft-stress --duration 25 --cycles --gc-ratio "$@"
}

bash scripts/install-deps.sh
bash scripts/build.sh release -DCMAKE_BUILD_TYPE=Release
main_job "$@"
