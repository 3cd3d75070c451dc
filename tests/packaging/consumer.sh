#!/usr/bin/env bash
# tests/packaging/consumer.sh: weft as an installed package, checked the way a
# user meets it. Installs the build into a fresh prefix, then:
#   - each installed header compiles on its own as strict C11 (and C++11 when
#     a C++ compiler is given);
#   - the installed libraries export only weft's names (no jemalloc symbol);
#   - the consumer project (find_package(weft)) builds against the prefix and
#     its shared and static programs run;
#   - a program built with `pkg-config --cflags --libs weft` runs.
# Run by ctest (tests/packaging/CMakeLists.txt), which passes the build's
# compiler and flags so that sanitizer builds produce sanitized consumers.
#
# usage: consumer.sh BUILD_DIR CONSUMER_SRC WORK_DIR CMAKE GENERATOR PKG_CONFIG
#                    CC "CFLAGS" "LDFLAGS" [CXX]
set -euo pipefail
build=$1 src=$2 work=$3 cmake=$4 generator=$5 pkg_config=$6 cc=$7 cflags=$8 ldflags=$9
cxx=${10:-}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
failures=0

# quietly LOG CMD...: run CMD with its output in LOG, shown only if it fails.
quietly() {
  local log=$1
  shift
  if ! "$@" >"$work/$log" 2>&1; then
    cat "$work/$log" >&2
    echo "consumer.sh: FAILED: $*" >&2
    return 1
  fi
}

quietly install.log "$cmake" --install "$build" --prefix "$prefix"
echo "installed into $prefix"

# Headers: each one alone, as strict as a user's build may be.
for h in "$prefix"/include/weft/*.h; do
  name=weft/${h##*/}
  printf '#include <%s>\ntypedef int header_is_not_all;\n' "$name" >"$work/header.c"
  # shellcheck disable=SC2086 # CFLAGS is a list of words
  quietly header.log "$cc" $cflags -std=c11 -pedantic -Wall -Wextra -Werror \
    -I"$prefix/include" -fsyntax-only "$work/header.c" || failures=$((failures + 1))
  if [[ -n $cxx ]]; then
    cp "$work/header.c" "$work/header.cc"
    quietly header.log "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror \
      -I"$prefix/include" -fsyntax-only "$work/header.cc" || failures=$((failures + 1))
  fi
done
echo "headers compile alone: $(cd "$prefix/include" && echo weft/*.h)"

# Exported names: from the shared library, weft_* and the _weft_* slow paths
# that the public inline functions call, each declared in an installed
# header; weft_* and _weft_* (the internals the white-box tests use) from the
# archive. Sanitizer runtime
# hooks and the ELF init/fini markers are not weft's to choose.
not_ours='^(_init|_fini|__odr_asan|__asan|__tsan|__ubsan|__sanitizer)'
shared=$(find "$prefix" -name 'libweft.so' -print -quit)
static=$(find "$prefix" -name 'libweft.a' -print -quit)
if [[ -z $shared || -z $static ]]; then
  echo "consumer.sh: FAILED: libweft.so or libweft.a not installed" >&2
  exit 1
fi
foreign=""
for name in $(nm -D --defined-only "$shared" | awk '{print $3}' | grep -Ev "$not_ours" || true); do
  case $name in
    weft_*) ;;
    _weft_*) grep -rqw -- "$name" "$prefix/include/weft" || foreign+=" $name" ;;
    *) foreign+=" $name" ;;
  esac
done
if [[ -n $foreign ]]; then
  echo "consumer.sh: FAILED: libweft.so exports names that are neither weft_* nor declared in a public header:$foreign" >&2
  failures=$((failures + 1))
fi
foreign=$(nm -g --defined-only "$static" | awk 'NF == 3 {print $3}' | grep -Ev "$not_ours" |
  grep -Ev '^_?weft_' || true)
if [[ -n $foreign ]]; then
  echo "consumer.sh: FAILED: libweft.a defines global names that are not weft's: ${foreign//$'\n'/ }" >&2
  failures=$((failures + 1))
fi
echo "exported symbols: only weft's"

# find_package(weft) from a project of its own.
quietly configure.log "$cmake" -S "$src" -B "$work/build" -G "$generator" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_PREFIX_PATH="$prefix"
quietly build.log "$cmake" --build "$work/build" -j 2
for program in consumer_shared consumer_static; do
  out=$("$work/build/$program") || { echo "consumer.sh: FAILED: $program" >&2; exit 1; }
  echo "$program: $out"
  [[ $out == OK* ]] || failures=$((failures + 1))
done

# pkg-config. --define-prefix takes the prefix from where weft.pc lies, since
# the installed file names the prefix the build was configured with.
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name weft.pc -print -quit)")
export PKG_CONFIG_PATH
pc_flags=$("$pkg_config" --define-prefix --cflags --libs weft)
libdir=$("$pkg_config" --define-prefix --variable=libdir weft)
echo "pkg-config --cflags --libs weft: $pc_flags"
# shellcheck disable=SC2086 # flag lists are lists of words
quietly pkgconfig.log "$cc" $cflags "$src/consumer.c" -o "$work/consumer_pkgconfig" \
  $pc_flags $ldflags -Wl,-rpath,"$libdir"
out=$("$work/consumer_pkgconfig") || { echo "consumer.sh: FAILED: consumer_pkgconfig" >&2; exit 1; }
echo "consumer_pkgconfig: $out"
[[ $out == OK* ]] || failures=$((failures + 1))

if ((failures)); then
  echo "consumer.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "consumer.sh: ok"
