#!/bin/sh
# test_abi_guard.sh CC INCLUDE_DIR LIBAUTOGRAD [CFLAGS] -- a program built with -DAG_DOUBLE does
# not link against the float library (ag.h gives ag_tape_new the element type in its
# link name), and the same program without it does: a mismatch is a link error, not a
# run on misread memory.
set -u
CC=$1 INC=$2 LIB=$3 FLAGS=${4:-} # FLAGS: the sanitizer flags the library was built with
T=$(mktemp -d /tmp/test_abi_guard.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat > "$T/p.c" <<'C'
#include "ag.h"
int main(void)
{
    ag_tape *t = ag_tape_new();
    ag_tensor *p = ag_param_new(1, (int[]){2}, "p");
    ag_param_free(p);
    ag_tape_free(t);
    return t && p ? 0 : 1;
}
C
fails=0
if "$CC" $FLAGS -I"$INC" "$T/p.c" "$LIB" -lm -o "$T/ok" 2>"$T/err1" && "$T/ok"; then echo "ok: the float program links and runs"
else echo "FAIL: the float program does not build or run:"; cat "$T/err1"; fails=$((fails + 1)); fi
if "$CC" $FLAGS -DAG_DOUBLE -I"$INC" "$T/p.c" "$LIB" -lm -o "$T/bad" 2>"$T/err2"; then
  echo "FAIL: a -DAG_DOUBLE program linked against the float library"; fails=$((fails + 1))
elif grep -q "ag_tape_new_f64" "$T/err2"; then echo "ok: -DAG_DOUBLE against the float library: link error naming ag_tape_new_f64"
else echo "FAIL: the link error does not name ag_tape_new_f64:"; cat "$T/err2"; fails=$((fails + 1)); fi
echo "$((2 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
