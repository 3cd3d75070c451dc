#!/usr/bin/env bash
# scripts/build.sh NAME [cmake args...]: configure weft into build/NAME (with
# Ninja when it is installed) and build it with 2 jobs. Extra arguments go to
# the cmake configure step, e.g.
#   scripts/build.sh release -DCMAKE_BUILD_TYPE=Release
#   scripts/build.sh asan -DWEFT_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   scripts/build.sh tsan -DWEFT_SANITIZE=thread
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 || $1 == -* ]]; then
  echo "usage: scripts/build.sh NAME [cmake args...]" >&2
  exit 2
fi
dir=build/$1
shift

generator=()
# A configured tree keeps its generator; only a new one gets to choose.
if [[ ! -f $dir/CMakeCache.txt ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
cmake -S . -B "$dir" "${generator[@]}" "$@"
cmake --build "$dir" -j "${WEFT_JOBS:-2}"
