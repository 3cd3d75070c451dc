#!/usr/bin/env bash
# scripts/main.sh [ARGS...]: install what is missing, build weft in Release
# (build/release) and run the main job with ARGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The main job: what this script builds weft for. For now the heap demo
# (examples/heap_demo.c); the stress harness will take its place.
main_job() {
  build/release/examples/heap_demo "$@"
}

bash scripts/install-deps.sh
bash scripts/build.sh release -DCMAKE_BUILD_TYPE=Release
main_job "$@"
