#!/bin/sh
# test_name_gen.sh BIN -- the generator trains (its held-out loss goes down), generates
# names that start with the asked letters, and refuses bad arguments clearly.
set -u
BIN=$1
T=$(mktemp -d /tmp/name_gen.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1"; fails=$((fails + 1)); fi; }

"$BIN" train --iters 4000 --hidden 64 --save "$T/g.ckpt" --quiet >"$T/out" 2>&1
check "train exits 0" "[ $? -eq 0 ]"
start=$(sed -n 's/^heldout_loss_start=//p' "$T/out"); end=$(sed -n 's/^heldout_loss_end=//p' "$T/out")
echo "held-out loss per letter: $start -> $end"
# an untrained model is near log(58) = 4.06 per letter; training must bring it well down
check "held-out loss goes down ($start -> $end)" "awk -v s=$start -v e=$end 'BEGIN { exit !(e < s - 0.5) }'"

"$BIN" generate --load "$T/g.ckpt" --language Russian --start RUS >"$T/names" 2>&1
check "generate exits 0" "[ $? -eq 0 ]"
check "one name per start letter" "[ \$(wc -l < '$T/names') -eq 3 ]"
check "names start with R, U, S" "[ \"\$(cut -c1 '$T/names' | tr -d '\n')\" = RUS ]"
"$BIN" generate --load "$T/g.ckpt" --language German --greedy --start G >"$T/g1" 2>&1
"$BIN" generate --load "$T/g.ckpt" --language German --greedy --start G >"$T/g2" 2>&1
check "greedy is deterministic" "cmp -s '$T/g1' '$T/g2'"
"$BIN" generate --load "$T/g.ckpt" --language German --temperature 1.5 --count 5 --start K --seed 3 >"$T/k" 2>&1
check "sampling gives --count names" "[ \$(wc -l < '$T/k') -eq 5 ]"

"$BIN" generate --load "$T/g.ckpt" --language Klingon >"$T/e" 2>&1
check "unknown language -> exit 1 with the list" "[ $? -eq 1 ] && grep -q \"'Klingon' is not one of the model's languages: Arabic\" '$T/e'"
"$BIN" generate --load "$T/g.ckpt" --language Irish --start '1' >"$T/e" 2>&1
check "bad start letter" "[ $? -eq 1 ] && grep -q \"start letter '1'\" '$T/e'"
"$BIN" generate --load "$T/none.ckpt" --language Irish >"$T/e" 2>&1
check "missing checkpoint" "[ $? -eq 1 ] && grep -q 'cannot open' '$T/e'"
"$BIN" train --iters abc >"$T/e" 2>&1
check "bad number -> exit 2" "[ $? -eq 2 ] && grep -q \"iters expects a whole number\" '$T/e'"
"$BIN" fly >"$T/e" 2>&1
check "unknown command -> exit 2" "[ $? -eq 2 ]"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
