#!/usr/bin/env bash
# scripts/install-deps.sh: install the Debian 12 packages that weft's build,
# tests and benchmarks need (DESIGN.md §2). Installs only what is missing and
# prints nothing when nothing is; otherwise one line naming what it installed.
set -euo pipefail

packages=(
  build-essential binutils cmake ninja-build pkg-config python3 # toolchain (ld -r, objcopy)
  liburcu-dev libjemalloc-dev libdw-dev libunwind-dev           # libweft
  libbenchmark-dev libmimalloc-dev libpython3.11-dev libgc-dev  # bench/ and its peers
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then
  as_root=(sudo)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -q &&
       "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: failed to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${missing[*]}"
