#!/bin/sh
# test_char_lm.sh BIN -- char_lm trains on its built-in text and on a --text file (the
# loss goes down), writes a checkpoint and a loss curve, samples, resumes byte for byte
# (a stop, a kill -9, a longer run), and refuses bad input with a clear message.
set -u
BIN=$1
T=$(mktemp -d /tmp/char_lm.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1"; fails=$((fails + 1)); cat "$T/e" 2>/dev/null | head -5; fi; }
# refuse DESC EXPECTED-STATUS MESSAGE-PATTERN ARGS...: the command fails with that status
# and message, and leaves no checkpoint behind
refuse() {
  desc=$1; want=$2; pat=$3; shift 3
  "$BIN" "$@" >"$T/o" 2>"$T/e"
  st=$?
  if [ "$st" -eq "$want" ] && grep -q -- "$pat" "$T/e" && ! grep -q 'Sanitizer\|runtime error' "$T/e"; then passes=$((passes + 1)); else
    echo "FAIL: $desc: status $st (want $want), stderr:"; cat "$T/e"; fails=$((fails + 1)); fi
}

# ---- the built-in text ----
"$BIN" train --model elman --hidden 64 --steps 600 --log-every 100 --save "$T/a.ckpt" >"$T/out" 2>"$T/e"
check "train on the built-in text exits 0" "[ $? -eq 0 ]"
first=$(sed -n 's/^step 100\/600.* loss \([0-9.]*\) .*/\1/p' "$T/out")
last=$(sed -n 's/^steps=.* loss=//p' "$T/out")
echo "built-in text, elman 64: loss per character $first -> $last"
# untrained: about log(46) = 3.8 nats; 600 steps of Adam must bring it well below 3
check "the loss goes down ($first -> $last)" "awk -v s=$first -v e=$last 'BEGIN { exit !(e < s - 0.5 && e < 3) }'"
check "progress lines give chars/s" "grep -q 'step 300/600  epoch [0-9.]*  loss [0-9.]*  [0-9]* chars/s' '$T/out'"
check "summary line" "grep -q '^steps=600 chars=15000 seconds=[0-9.]* chars_per_s=[0-9]* loss=' '$T/out'"
check "checkpoint and loss curve written" "[ -s '$T/a.ckpt' ] && grep -q '<polyline' '$T/a.loss.svg' && [ ! -e '$T/a.ckpt.tmp' ]"
if command -v xmllint >/dev/null 2>&1; then
  check "the loss curve is well-formed XML" "xmllint --noout '$T/a.loss.svg'"
fi

# ---- sample ----
"$BIN" sample --load "$T/a.ckpt" --start "The lamp" --len 200 --seed 3 >"$T/s1" 2>"$T/e"
check "sample exits 0" "[ $? -eq 0 ]"
check "sample starts with --start" "head -c 8 '$T/s1' | grep -q '^The lamp'"
check "sample draws --len characters" "[ \$(cat '$T/s1' | wc -m) -eq 209 ]"
"$BIN" sample --load "$T/a.ckpt" --start "The lamp" --len 200 --seed 3 >"$T/s2" 2>&1
check "the same seed samples the same" "cmp -s '$T/s1' '$T/s2'"
"$BIN" sample --load "$T/a.ckpt" --start "The lamp" --len 200 --seed 4 >"$T/s3" 2>&1
check "another seed samples otherwise" "! cmp -s '$T/s1' '$T/s3'"
"$BIN" sample --load "$T/a.ckpt" --len 50 --temperature 0.01 >"$T/s4" 2>&1
check "sample without --start, low temperature" "[ $? -eq 0 ] && [ \$(cat '$T/s4' | wc -m) -eq 52 ]"

# ---- a --text file: UTF-8 beyond ASCII (a character is a code point), an LSTM, batch 4 ----
i=0
while [ $i -lt 40 ]; do printf 'Über die Brücke gehen Ärzte, Öfen und Bären; ça va, señor — naïve café.\n'; i=$((i + 1)); done >"$T/u.txt"
"$BIN" train --text "$T/u.txt" --model lstm --hidden 48 --layers 2 --batch 4 --seq 20 --epochs 12 --log-every 20 \
  --save "$T/u.ckpt" >"$T/out" 2>"$T/e"
check "train on a --text file (lstm, 2 layers, batch 4) exits 0" "[ $? -eq 0 ]"
check "vocabulary counts code points, not bytes" "grep -q '2880 characters, 34 distinct' '$T/out'"
first=$(sed -n 's/^step 20\/.* loss \([0-9.]*\) .*/\1/p' "$T/out")
last=$(sed -n 's/^steps=.* loss=//p' "$T/out")
echo "--text file, lstm 48 x 2: loss per character $first -> $last"
check "the loss goes down on the --text file ($first -> $last)" "awk -v s=$first -v e=$last 'BEGIN { exit !(e < s - 0.5) }'"
"$BIN" sample --load "$T/u.ckpt" --start "Über" --len 100 --temperature 0.5 >"$T/s" 2>"$T/e"
check "sample from the --text model, multi-byte --start" "[ $? -eq 0 ] && head -c 5 '$T/s' | grep -q '^Über'"
refuse "a --start character outside the vocabulary" 1 "the character 'Q' (U+0051, byte offset 3) is not in the vocabulary" \
  sample --load "$T/u.ckpt" --start "ÜbQ"
"$BIN" train --text "$T/u.txt" --model gru --hidden 32 --optim sgd --steps 50 --quiet --save "$T/g.ckpt" >"$T/out" 2>"$T/e"
check "--optim sgd, --quiet prints only the summary" "[ $? -eq 0 ] && [ \$(wc -l < '$T/out') -eq 1 ] && grep -q '^steps=50 ' '$T/out'"

# ---- resume: byte for byte the checkpoint of a run that never stopped ----
# (no shell function: $! below must be char_lm's own pid, not a subshell's)
RUN="--model gru --hidden 32 --batch 3 --seq 16 --log-every 7"
run() { "$BIN" train $RUN "$@"; }
run --steps 150 --save "$T/full.ckpt" --quiet >/dev/null 2>&1
run --steps 61 --save "$T/part.ckpt" --quiet >/dev/null 2>&1           # stops mid-epoch, mid-window
"$BIN" train --resume "$T/part.ckpt" --steps 150 --quiet >/dev/null 2>"$T/e"
check "resume after a shorter run gives the same checkpoint" "[ $? -eq 0 ] && cmp '$T/part.ckpt' '$T/full.ckpt'"
check "... and the same loss curve" "cmp '$T/part.loss.svg' '$T/full.loss.svg'"
# a kill -9 at any moment: the last checkpoint saved every 5 steps resumes to the same end
"$BIN" train $RUN --steps 150 --save "$T/k.ckpt" --save-every 5 --quiet >/dev/null 2>&1 &
pid=$!
n=0
while [ ! -e "$T/k.ckpt" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$BIN" train --resume "$T/k.ckpt" --quiet >/dev/null 2>"$T/e"
check "resume after kill -9 gives the same checkpoint" "[ $? -eq 0 ] && cmp '$T/k.ckpt' '$T/full.ckpt'"
# SIGTERM: stops after the current step, saves, says how to go on
"$BIN" train $RUN --steps 100000 --save "$T/t.ckpt" --quiet >/dev/null 2>"$T/e" &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
st=$?
check "SIGTERM stops with status 130 and a checkpoint" "[ $st -eq 130 ] && grep -q 'continue with --resume' '$T/e' && [ -s '$T/t.ckpt' ]"
k=$(sed -n 's/.*stopped at step \([0-9]*\) of.*/\1/p' "$T/e")
echo "SIGTERM: stopped at step $k"
"$BIN" train --resume "$T/t.ckpt" --steps $((k + 20)) --quiet >/dev/null 2>&1
run --steps $((k + 20)) --save "$T/t2.ckpt" --quiet >/dev/null 2>&1
check "resume after SIGTERM gives the same checkpoint as a run that never stopped" "cmp '$T/t.ckpt' '$T/t2.ckpt'"
refuse "--resume from a file that is not a checkpoint" 1 "cannot resume: checkpoint $T/a.loss.svg: not a checkpoint" train --resume "$T/a.loss.svg"
refuse "--resume with a model setting" 2 "besides it give only --save" train --resume "$T/full.ckpt" --hidden 64
cp "$T/u.txt" "$T/u2.txt"
"$BIN" train --text "$T/u2.txt" --hidden 16 --steps 10 --quiet --save "$T/u2.ckpt" >/dev/null 2>&1
echo "changed" >>"$T/u2.txt"
refuse "--resume with a changed text" 1 "is not the text it was trained on" train --resume "$T/u2.ckpt"

# ---- bad input: a message naming the file (and where), never a crash ----
: >"$T/empty.txt"
refuse "an empty file" 1 "$T/empty.txt: the file is empty" train --text "$T/empty.txt"
printf 'abc\nde\000f' >"$T/bin.txt"
refuse "a binary file (NUL)" 1 "$T/bin.txt: line 2, byte offset 6: a NUL byte: this looks like a binary file" train --text "$T/bin.txt"
printf 'hello\nw\303\251rld\nab\377cd\n' >"$T/bad.txt"
refuse "invalid UTF-8" 1 "$T/bad.txt: line 3, byte offset 15: invalid UTF-8 (byte 0xff)" train --text "$T/bad.txt"
printf 'ab\300\257' >"$T/overlong.txt"
refuse "an overlong UTF-8 form" 1 "byte offset 2: invalid UTF-8 (byte 0xc0)" train --text "$T/overlong.txt"
printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' >"$T/one.txt"
refuse "one distinct character" 1 "$T/one.txt: the text has only one distinct character ('a')" train --text "$T/one.txt"
printf 'abcab' >"$T/short.txt"
refuse "a text too short for --seq" 1 "has 5 characters; --seq 25 with --batch 1 needs at least 26" train --text "$T/short.txt"
mkfifo "$T/fifo"
refuse "a FIFO, refused without blocking" 1 "$T/fifo: not a regular file (a FIFO)" train --text "$T/fifo"
refuse "a directory" 1 "$T: not a regular file (a directory)" train --text "$T"
refuse "a missing file" 1 "$T/none.txt: cannot open: No such file or directory" train --text "$T/none.txt"
mkdir "$T/ro"
chmod 500 "$T/ro"
if [ "$(id -u)" != 0 ]; then
  refuse "an unwritable --save, before training" 1 "cannot write --save: $T/ro/x.ckpt" train --save "$T/ro/x.ckpt" --steps 100000
fi
refuse "--save in a missing directory, before training" 1 "cannot write --save: $T/nodir/x.ckpt" train --save "$T/nodir/x.ckpt" --steps 100000
check "... and it did not train" "! grep -q '^step' '$T/o'"
refuse "--save is a directory" 1 "cannot write --save" train --save "$T/ro" --steps 5

# ---- flags ----
refuse "--hidden out of range" 2 "--hidden expects a whole number from 1 to 4096, got '0'" train --hidden 0
refuse "--seq not a number" 2 "--seq expects a whole number from 1 to 1000, got 'ten'" train --seq ten
refuse "--lr negative" 2 "--lr expects a number from 1e-09 to 100, got '-1'" train --lr -1
refuse "--optim unknown" 2 "--optim expects one of adam adagrad rmsprop adamw sgd, got 'lbfgs'" train --optim lbfgs
refuse "--model unknown" 2 "--model expects one of elman gru lstm, got 'transformer'" train --model transformer
refuse "--steps and --epochs" 2 "give --steps or --epochs, not both" train --steps 5 --epochs 1
refuse "--steps 0" 2 "--steps expects a whole number from 1 to 1000000000, got '0'" train --steps 0
refuse "a flag twice" 2 "--batch is given twice" train --batch 2 --batch 3
refuse "a flag without its value" 2 "--text needs a value" train --text
refuse "an unknown flag" 2 "unknown option '--load'" train --load x
refuse "sample without --load" 2 "--load FILE is required" sample
refuse "--temperature 0" 2 "--temperature expects a number from 1e-06 to 100, got '0'" sample --load "$T/a.ckpt" --temperature 0
refuse "--len too large" 2 "--len expects a whole number from 1 to 1000000" sample --load "$T/a.ckpt" --len 2000000
refuse "sample from a file that is not a checkpoint" 1 "cannot load" sample --load "$T/u.txt"
refuse "an unknown command" 2 "unknown command 'fly'" fly
"$BIN" train --help >"$T/o" 2>&1
check "train --help" "[ $? -eq 0 ] && grep -q 'usage: char_lm train' '$T/o' && grep -q -- '--resume FILE' '$T/o'"
"$BIN" sample --help >"$T/o" 2>&1
check "sample --help" "[ $? -eq 0 ] && grep -q 'usage: char_lm sample' '$T/o' && grep -q -- '--temperature' '$T/o'"
# every optimizer trains, and resumes byte for byte with its state (Adagrad's sums, ...)
for opt in adagrad rmsprop adamw; do
  "$BIN" train --optim $opt --hidden 24 --steps 40 --log-every 10 --quiet --save "$T/$opt.ckpt" >/dev/null 2>"$T/e"
  check "--optim $opt trains" "[ $? -eq 0 ]"
  "$BIN" train --optim $opt --hidden 24 --steps 17 --log-every 10 --quiet --save "$T/$opt-r.ckpt" >/dev/null 2>&1
  "$BIN" train --resume "$T/$opt-r.ckpt" --steps 40 --quiet >/dev/null 2>"$T/e"
  check "--optim $opt resumes byte for byte" "cmp '$T/$opt.ckpt' '$T/$opt-r.ckpt'"
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
