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
host=$(dpkg --print-architecture)
for p in gcc make cmake clang libcmocka-dev:$host libxml2-utils gcc-aarch64-linux-gnu qemu-user libcmocka-dev:arm64; do
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
# starts it through qemu. Not run on ARM at all (the x86-64 stages run them), the first
# two kinds because they cannot, the others to keep this script within a few minutes:
#   consumer_*       they build programs against the installed ARM libraries with the
#                    host's compilers and tools
#   tests given the (cross) compiler: they build a program and start it themselves
#   test_ckpt_kill   it times kills against saves: up to 90 s under qemu, and emulation
#                    upsets its timing
#   test_resume      kills and resumes training runs: 2 minutes under qemu
#   test_char_lm     trains the text model: 80 s under qemu
#   test_dot_render  Graphviz renders the program's graphs: 2 minutes here (test_dot
#                    checks what the ARM program writes)
not_on_arm='consumer_.*|test_ckpt_kill|test_resume|test_char_lm|test_dot_render'
qemu_cmd="$(command -v qemu-aarch64) -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib"
is_arm_exe() { [ -f "$1" ] && [ "$(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')" = b700 ]; }
declare -A cmd_of dir_of
scripted=() cross_built=()
test_re='^ +Test +#([0-9]+): (.+)$'
while IFS= read -r line; do
  case $line in
    *": Test command: "*) cmd_of[${line%%:*}]=${line#*: Test command: } ;;
    *": Working Directory: "*) dir_of[${line%%:*}]=${line#*: Working Directory: } ;;
  esac
  [[ $line =~ $test_re ]] || continue
  n=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
  [[ $name =~ ^($not_on_arm)$ ]] && continue
  eval "set -- ${cmd_of[$n]}" # as ctest prints it: every argument in double quotes
  case $1 in *qemu-aarch64*) continue ;; esac
  for a in "$@"; do
    if is_arm_exe "$a"; then scripted+=("$n $name"); break; fi
    case $a in *aarch64-linux-gnu-gcc) cross_built+=("$name"); break ;; esac
  done
done < <(ctest --test-dir build-arm64 -N -V)
skip="^($not_on_arm"
for t in "${scripted[@]}"; do skip+="|${t#* }"; done
for t in "${cross_built[@]}"; do skip+="|$t"; done
skip+=')$'

echo "== aarch64: unit tests under qemu-aarch64 (not run by ctest here: $skip)"
ctest --test-dir build-arm64 -j2 --output-on-failure --no-tests=error -E "$skip"
# the kernel test names the kernels it checked: the NEON ones (it asserts that too)
$qemu_cmd build-arm64/tests/test_ops | grep -x '  kernels: aarch64 NEON'

echo "== aarch64: the ${#scripted[@]} tests driven by shell scripts, each ARM program through qemu, 2 at a time"
rm -rf build-arm64/qemu
mkdir -p build-arm64/qemu
# run_scripted N NAME: test N as ctest would run it, with wrappers; its exit status in NAME.rc
run_scripted() {
  local n=$1 name=$2 a args=() rc=0 t0
  eval "set -- ${cmd_of[$n]}"
  for a in "$@"; do
    if is_arm_exe "$a"; then
      printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$qemu_cmd" "$a" >"build-arm64/qemu/${a##*/}"
      chmod +x "build-arm64/qemu/${a##*/}"
      a=$root/build-arm64/qemu/${a##*/}
    fi
    args+=("$a")
  done
  t0=$(date +%s)
  (cd "${dir_of[$n]}" && "${args[@]}") >"build-arm64/qemu/$name.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" >"build-arm64/qemu/$name.rc"
}
for t in "${scripted[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  run_scripted ${t%% *} "${t#* }" &
done
wait
failed=()
for t in "${scripted[@]}"; do
  name=${t#* }
  read -r rc secs <"build-arm64/qemu/$name.rc"
  case $rc in
    0) echo "$name: passed ($secs s)" ;;
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
