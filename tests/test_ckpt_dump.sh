#!/bin/sh
# test_ckpt_dump.sh CKPT_DUMP RNN_NAMES CKPT_EDIT -- ckpt_dump prints a checkpoint it
# knows nothing about (meta, optimizer, every tensor's name, shape and statistics,
# values on request), escapes control bytes, and refuses bad files and arguments with
# the library's message.
set -u
DUMP=$1
NAMES=$2
EDIT=$3
T=$(mktemp -d /tmp/ckpt_dump.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1"; fails=$((fails + 1)); fi; }

(cd "$T" && "$NAMES" train --iters 50 --optim adam --save "$T/m.ckpt" >/dev/null 2>&1)
check "a checkpoint to look at" "[ -s '$T/m.ckpt' ]"

"$DUMP" "$T/m.ckpt" >"$T/out" 2>"$T/err"
check "dump exits 0" "[ $? -eq 0 ] && [ ! -s '$T/err' ]"
check "meta lines, indented" "grep -q '^  model=tutorial$' '$T/out' && grep -q '^  optim=adam$' '$T/out'"
check "the optimizer and its step" "grep -q '^optimizer: adam step=50 lr=0.005' '$T/out'"
# the tutorial RNN: 4 parameters and Adam's m and v for each
check "12 tensors" "grep -q '^tensors: 12 ' '$T/out'"
check "name, shape, count, statistics" "grep -q '^i2h.weight (128, 185) 23680 values: min -[0-9.e-]* max [0-9.e-]* mean [0-9.e-]* std [0-9.e-]*$' '$T/out'"
check "optimizer state listed" "grep -q '^adam.v.i2o.bias (18) 18 values: min ' '$T/out'"

"$DUMP" "$T/m.ckpt" --tensor i2o.bias --values >"$T/v" 2>&1
check "--tensor --values exits 0" "[ $? -eq 0 ]"
check "one heading, then 18 values" "[ \$(wc -l <'$T/v') -eq 4 ] && [ \$(sed 1d '$T/v' | wc -w) -eq 18 ]"
# the statistics agree with the printed values (min and max recomputed here)
min=$(sed 1d "$T/v" | tr ' ' '\n' | grep . | sort -g | head -1)
max=$(sed 1d "$T/v" | tr ' ' '\n' | grep . | sort -g | tail -1)
check "min and max match the values ($min, $max)" \
  "awk -v a=\"\$(sed -n 's/.* min \\([^ ]*\\) max.*/\\1/p' '$T/v')\" -v b=\"\$(sed -n 's/.* max \\([^ ]*\\) mean.*/\\1/p' '$T/v')\" \
   -v m=$min -v M=$max 'BEGIN { exit !((a - m)^2 < 1e-10 && (b - M)^2 < 1e-10) }'"

"$DUMP" "$T/m.ckpt" --tensor nope >"$T/e" 2>&1
check "unknown tensor -> exit 1, named" "[ $? -eq 1 ] && grep -q \"has no tensor 'nope'\" '$T/e'"
"$DUMP" --help >"$T/h" 2>&1
check "--help exits 0 with usage" "[ $? -eq 0 ] && grep -q '^usage: ckpt_dump FILE' '$T/h'"
"$DUMP" >"$T/e" 2>&1
check "no file -> exit 2" "[ $? -eq 2 ] && grep -q 'no checkpoint file given' '$T/e'"
"$DUMP" "$T/m.ckpt" --frobnicate >"$T/e" 2>&1
check "unknown option -> exit 2" "[ $? -eq 2 ] && grep -q \"unknown option '--frobnicate'\" '$T/e'"

# a control byte in the meta text (an ESC sequence) is printed escaped, never raw
"$EDIT" "$T/m.ckpt" "$T/esc.ckpt" "note=$(printf 'red\033[31m\\x')" >/dev/null 2>&1
"$DUMP" "$T/esc.ckpt" >"$T/out" 2>&1
check "control bytes escaped" "[ $? -eq 0 ] && grep -q '^  note=red\\\\x1b\\[31m\\\\\\\\x$' '$T/out' && ! grep -q \"\$(printf '\\033')\" '$T/out'"

printf 'hello, world\n%0100d\n' 0 >"$T/text"
"$DUMP" "$T/text" >"$T/e" 2>&1
check "not a checkpoint -> exit 1, the library's message" "[ $? -eq 1 ] && grep -q 'not a checkpoint (bad magic at offset 0)' '$T/e'"
head -c 300 "$T/m.ckpt" >"$T/short.ckpt"
"$DUMP" "$T/short.ckpt" >"$T/e" 2>&1
check "truncated -> exit 1" "[ $? -eq 1 ] && grep -q 'checksum mismatch' '$T/e'"
"$DUMP" "$T/missing.ckpt" >"$T/e" 2>&1
check "missing file -> exit 1" "[ $? -eq 1 ] && grep -q 'cannot open' '$T/e'"
"$DUMP" "$T" >"$T/e" 2>&1
check "a directory -> exit 1" "[ $? -eq 1 ] && grep -q 'not a regular file (a directory)' '$T/e'"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
