#!/bin/sh
# test_readme_commands.sh ROOT -- the README's two commands each do their own job
# whatever ran before: the test command must not reuse the main command's build
# directory (configured with the tests off) unless it turns them on itself, and every
# ctest in the test command and in .ci/run fails when it finds no test.
set -u
ROOT=$1
fails=0
passes=0
block() { # the shell block after MARKER in README.md
  awk -v m="$1" 'index($0, m) == 1 {f=1; next} f && /^```/ {if (n++) exit; next} f && n' "$ROOT/README.md"
}
dir_of() { # the -B directory of the first `cmake -S . -B DIR` in $1
  echo "$1" | sed -n 's/.*cmake -S [^ ]* -B \([^ ]*\).*/\1/p' | head -1
}
main=$(block '<!-- main-command -->')
tests=$(block '<!-- test-command -->')
[ -n "$main" ] && [ -n "$tests" ] || { echo "FAIL: README.md lacks the main or the test command"; exit 1; }
main_dir=$(dir_of "$main")
test_dir=$(dir_of "$tests")
if [ "$main_dir" != "$test_dir" ] || echo "$tests" | grep -q -- "-DAG_BUILD_TESTS=ON"; then
  passes=$((passes + 1))
else
  echo "FAIL: the test command reuses $main_dir, which the main command configures with the tests off"
  fails=$((fails + 1))
fi
for where in "README.md test command" ".ci/run"; do
  case $where in
    README*) lines=$(echo "$tests" | grep -o 'ctest --[^&;]*') ;;
    *) lines=$(grep -v '^ *#' "$ROOT/.ci/run" | grep -o 'ctest --[^&;]*') ;;
  esac
  [ -n "$lines" ] || { echo "FAIL: no ctest in $where"; fails=$((fails + 1)); continue; }
  echo "$lines" | while read -r l; do
    case $l in *--no-tests=error*) ;; *) echo "FAIL: $where: '$l' passes when it runs no test (--no-tests=error)"; exit 1 ;; esac
  done && passes=$((passes + 1)) || fails=$((fails + 1))
done
echo "$passes passed, $fails failed"
test "$fails" -eq 0
