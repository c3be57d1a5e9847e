#!/bin/sh
# test_resume.sh BIN -- a run killed (SIGKILL) at some point and continued with
# `train --resume` ends with exactly the checkpoint of a run never interrupted: same
# parameters, optimizer state, random state and position, compared byte for byte.
set -u
BIN=$1
T=$(mktemp -d /tmp/resume.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0

# run_case NAME SETTINGS...: the uninterrupted run, then three interrupted ones
run_case() {
  name=$1; shift
  "$BIN" train "$@" --quiet --save "$T/$name-full.ckpt" >/dev/null 2>&1 || { echo "FAIL: $name: full run"; fails=$((fails + 1)); return; }
  for delay in 0 0.1 0.3; do
    ck="$T/$name-$delay.ckpt"
    "$BIN" train "$@" --quiet --save-every 150 --save "$ck" >/dev/null 2>&1 &
    pid=$!
    while [ ! -e "$ck" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
    sleep $delay
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    at=$(grep -a '^state.names_seen=' "$ck" | head -1)
    "$BIN" train --resume "$ck" --quiet >/dev/null 2>&1 || { echo "FAIL: $name: resume from $at"; fails=$((fails + 1)); continue; }
    if cmp -s "$T/$name-full.ckpt" "$ck"; then
      passes=$((passes + 1)); echo "$name: killed, resumed from $at: identical"
    else
      echo "FAIL: $name: resumed from $at differs from the uninterrupted run"; fails=$((fails + 1))
    fi
  done
}

run_case gru --model gru --bidirectional --layers 2 --dropout 0.2 --optim adam --lr 0.003 --schedule cosine --clip 2 --epochs 3 --batch 16 --hidden 16
run_case gru-2threads-pool --model gru --pool mean --dropout 0.2 --optim adam --lr 0.003 --epochs 2 --batch 16 --hidden 16 --threads 2
# --distinct and --letter-noise, on data whose lines repeat (the noise has its own random stream)
mkdir "$T/dups"
for n in Haddad Nahas Saliba Khoury Haddad Haddad Nahas Shadid Tahan Haddad; do echo "$n"; done > "$T/dups/Arabic.txt"
for n in Smith Baker Abel Smith Muller Jones Baker Brown; do echo "$n"; done > "$T/dups/English.txt"
for n in Tanaka Suzuki Tanaka Honda Sato Ito Tanaka; do echo "$n"; done > "$T/dups/Japanese.txt"
run_case distinct-noise --data "$T/dups" --model gru --hidden 16 --distinct --letter-noise 0.2 --optim adam --epochs 40 --batch 4
run_case seed --iters 3000 --momentum 0.9 --weight-decay 0.0001 --lr 0.002

# refusals
"$BIN" train --resume "$T/seed-full.ckpt" --hidden 3 >"$T/e" 2>&1
[ $? -eq 2 ] && grep -q "resume takes every setting from the checkpoint" "$T/e" && passes=$((passes + 1)) || { echo "FAIL: settings beside --resume"; fails=$((fails + 1)); }
head -c 200 "$T/seed-full.ckpt" > "$T/cut.ckpt"
"$BIN" train --resume "$T/cut.ckpt" >"$T/e" 2>&1
[ $? -eq 1 ] && grep -q "cut.ckpt: checksum mismatch" "$T/e" && passes=$((passes + 1)) || { echo "FAIL: truncated resume file"; fails=$((fails + 1)); }
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
