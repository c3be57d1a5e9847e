#!/usr/bin/env bash
# CI, portability (issue 16): the project on two more platforms than .ci/run's gcc.
#   1. aarch64: cross-built with Debian's gcc-aarch64-linux-gnu (cmake/aarch64-linux-gnu.cmake)
#      into build-arm64, and its tests run under qemu-aarch64.
#   2. x86-64 with clang: the whole suite, built into build-clang.
# Both builds must give no warning (-Wall -Wextra, as errors here). It installs what it
# lacks (Debian, as root), runs from a clean clone, and can be rerun. Every ctest runs
# with --no-tests=error: a stage that finds no test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)

# ---- tools: install only what is missing ----
need=()
for p in gcc make cmake clang libcmocka-dev libxml2-utils gcc-aarch64-linux-gnu qemu-user libcmocka-dev:arm64; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing: ${need[*]}"
  # cmocka for the ARM test programs comes from Debian's arm64 archive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi

echo "== aarch64: cross build with gcc $(aarch64-linux-gnu-gcc -dumpfullversion)"
cmake -S . -B build-arm64 --no-warn-unused-cli -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DAG_BUILD_TESTS=ON -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
cmake --build build-arm64 -j2

# CTest starts each test program through qemu (the toolchain's CMAKE_CROSSCOMPILING_EMULATOR),
# but a test that is a shell script starting an ARM program itself would get "Exec format
# error". Those are found here (a host command with an ARM executable among its arguments),
# left out of ctest, and run after it with each ARM program replaced by a wrapper that
# starts it through qemu. Also left out: the consumer tests, which build programs against
# the installed ARM libraries with the host's compilers and tools.
qemu_cmd="qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib"
is_arm_exe() { [ -f "$1" ] && [ "$(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')" = b700 ]; }
declare -A cmd_of dir_of
scripted=()
test_re='^ +Test +#([0-9]+): (.+)$'
while IFS= read -r line; do
  case $line in
    *": Test command: "*) cmd_of[${line%%:*}]=${line#*: Test command: } ;;
    *": Working Directory: "*) dir_of[${line%%:*}]=${line#*: Working Directory: } ;;
  esac
  [[ $line =~ $test_re ]] || continue
  n=${BASH_REMATCH[1]}
  eval "set -- ${cmd_of[$n]}" # as ctest prints it: every argument in double quotes
  case $1 in *qemu-aarch64*) continue ;; esac
  for a in "$@"; do
    if is_arm_exe "$a"; then scripted+=("$n ${BASH_REMATCH[2]}"); break; fi
  done
done < <(ctest --test-dir build-arm64 -N -V)
skip='^(consumer_.*'
for t in "${scripted[@]}"; do skip+="|${t#* }"; done
skip+=')$'

echo "== aarch64: unit tests under qemu-aarch64 (not run by ctest here: $skip)"
ctest --test-dir build-arm64 -j2 --output-on-failure --no-tests=error -E "$skip"
# the kernel test names the kernels it checked: the NEON ones (it asserts that too)
$qemu_cmd build-arm64/tests/test_ops | grep -x '  kernels: aarch64 NEON'

echo "== aarch64: the ${#scripted[@]} tests driven by shell scripts, each ARM program through qemu"
mkdir -p build-arm64/qemu
failed=()
for t in "${scripted[@]}"; do
  n=${t%% *}; name=${t#* }
  eval "set -- ${cmd_of[$n]}"
  args=()
  for a in "$@"; do
    if is_arm_exe "$a"; then
      printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$qemu_cmd" "$a" >"build-arm64/qemu/${a##*/}"
      chmod +x "build-arm64/qemu/${a##*/}"
      a=$root/build-arm64/qemu/${a##*/}
    fi
    args+=("$a")
  done
  t0=$(date +%s)
  rc=0
  (cd "${dir_of[$n]}" && "${args[@]}") >"build-arm64/qemu/$name.log" 2>&1 || rc=$?
  case $rc in
    0) echo "$name: passed ($(( $(date +%s) - t0 )) s)" ;;
    77) echo "$name: skipped: $(tail -1 "build-arm64/qemu/$name.log")" ;;
    *) echo "$name: FAILED (exit $rc):"; tail -30 "build-arm64/qemu/$name.log"; failed+=("$name") ;;
  esac
done
[ ${#failed[@]} -eq 0 ] || { echo "aarch64: failed under qemu: ${failed[*]}" >&2; exit 1; }
echo "aarch64: passed ($(( $(date +%s) - start )) s so far)"

echo "== x86-64 with clang $(clang -dumpversion): the whole suite"
cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DAG_BUILD_TESTS=ON -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
cmake --build build-clang -j2
ctest --test-dir build-clang -j2 --output-on-failure --no-tests=error

echo "portability: aarch64 under qemu and clang passed in $(( $(date +%s) - start )) s"
