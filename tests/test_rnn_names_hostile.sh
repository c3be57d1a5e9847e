#!/bin/sh
# test_rnn_names_hostile.sh BIN CKPT_EDIT -- rnn_names against the inputs of issue 13:
# files that are not regular files, limits that used to cut text silently, language
# names that do not survive a file, checkpoints whose settings the command line would
# refuse, failures found only after the work, and messages that named the wrong cause.
# Every command runs under `timeout`, so a command that blocks fails instead of hanging.
set -u
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
EDIT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
T=$(mktemp -d /tmp/rnn_names_hostile.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0

# expect CODE PATTERN -- command...: exit code CODE and PATTERN in stdout+stderr
expect() {
  code=$1; pattern=$2; shift 2
  timeout 60 "$@" >"$T/out" 2>&1
  got=$?
  if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" "$T/out"; then
    echo "FAIL: $(echo "$*" | cut -c1-300) -> exit $got (want $code), output:"; cut -c1-300 "$T/out" | sed 's/^/    /' | head -20
    echo "    (wanted: $pattern)"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# no_raw_escape: the last output holds no raw ESC byte (names reach the terminal escaped)
no_raw_escape() { if grep -q "$(printf '\033')" "$T/out"; then fail "an escape character reached the terminal raw"; else passes=$((passes + 1)); fi; }
IN_DIR='cd "$0" && exec "$@"' # sh -c "$IN_DIR" DIR command...: the command run from DIR
ok() { passes=$((passes + 1)); }

timeout 120 "$BIN" train --model gru --hidden 8 --epochs 1 --batch 8 --save "$T/m.ckpt" --quiet >/dev/null 2>&1 || fail "train m.ckpt"

# ---- files that are not regular files: refused at once, never opened so as to block ----
mkfifo "$T/fifo.ckpt"
for cmd in predict dot; do
  expect 1 "fifo.ckpt: not a regular file (a FIFO)" "$BIN" $cmd --load "$T/fifo.ckpt" Smith
done
expect 1 "fifo.ckpt: not a regular file (a FIFO)" "$BIN" eval --load "$T/fifo.ckpt"
expect 1 "fifo.ckpt: not a regular file (a FIFO)" "$BIN" train --resume "$T/fifo.ckpt"
expect 1 "not a regular file (a character device)" "$BIN" predict --load /dev/zero Smith
mkdir "$T/fifodata"
printf 'Abe\nBob\nCyd\nDee\n' > "$T/fifodata/A.txt"
mkfifo "$T/fifodata/B.txt"
expect 1 "B.txt: not a regular file (a FIFO), refusing" "$BIN" train --data "$T/fifodata" --save "$T/f.ckpt"
# a FIFO where an output's temporary file goes: replaced by a fresh file, no block
mkfifo "$T/out.ckpt.tmp" "$T/out.loss.svg.tmp" "$T/g.dot.tmp"
expect 0 "test_accuracy=" "$BIN" train --iters 50 --hidden 8 --save "$T/out.ckpt" --quiet
expect 0 "wrote $T/g.dot" "$BIN" dot --load "$T/m.ckpt" Smith -o "$T/g.dot"
# a checkpoint of exactly 2^30 bytes (sparse): its header is read, then its size refused
printf 'agckpt\n\000\001\000\000\000' > "$T/big.ckpt"
truncate -s 1073741824 "$T/big.ckpt"
expect 1 "big.ckpt: 1073741824 bytes; a checkpoint is under 1 GiB" "$BIN" predict --load "$T/big.ckpt" Smith
printf 'not a checkpoint' > "$T/bigbad.ckpt"
truncate -s 1073741823 "$T/bigbad.ckpt"
expect 1 "bigbad.ckpt: not a checkpoint (bad magic" "$BIN" eval --load "$T/bigbad.ckpt"

# ---- nothing written is cut: a --data path near PATH_MAX, 64 long language names ----
long="$T"
while [ ${#long} -lt 3700 ]; do long="$long/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"; done
mkdir -p "$long"
printf 'Abe\nBob\nCyd\nDee\nEve\nFay\nIke\n' > "$long/Alpha.txt"
printf 'Gus\nHal\nJo\nKip\nLu\nMo\nIke\n' > "$long/Beta.txt"
expect 0 "test_accuracy=" "$BIN" train --data "$long" --model gru --hidden 4 --epochs 2 --batch 4 --save "$T/long.ckpt" --save-every 4 --quiet
expect 0 "test_accuracy=" "$BIN" eval --load "$T/long.ckpt"
expect 0 "^([-0-9.]*) " "$BIN" predict --load "$T/long.ckpt" Abe
"$EDIT" "$T/long.ckpt" "$T/long-resume.ckpt" epochs=3 || fail "ckpt_edit"
expect 0 "test_accuracy=" "$BIN" train --resume "$T/long-resume.ckpt" --quiet
mkdir "$T/many"
i=0
while [ $i -lt 64 ]; do
  f="$T/many/Language_with_a_rather_long_name_number_$(printf %03d $i).txt"
  printf 'Abe\nBob\nCyd\n' > "$f"
  j=0; while [ $j -lt $((i % 3)) ]; do echo Abe >> "$f"; j=$((j + 1)); done # shares differ: a prior_shift
  i=$((i + 1))
done
expect 0 "test_accuracy=\|test_names=" "$BIN" train --data "$T/many" --model gru --hidden 4 --distinct --epochs 1 --batch 16 --save "$T/many.ckpt" --quiet
grep -aq "^prior_shift=.*,.*" "$T/many.ckpt" || fail "64 languages under --distinct: no prior_shift"
expect 0 "Language_with_a_rather_long_name_number_" "$BIN" predict --load "$T/many.ckpt" Abe
expect 0 "resuming" "$BIN" train --resume "$T/many.ckpt" --quiet

# ---- language names: what cannot go into a file is refused when the data is loaded ----
bad_language() { # FILE_NAME PATTERN
  rm -rf "$T/lang"; mkdir "$T/lang"
  printf 'Abe\nBob\nCyd\n' > "$T/lang/Good.txt"
  printf 'Dee\nEve\nFay\n' > "$T/lang/$1"
  expect 1 "$2" "$BIN" train --data "$T/lang" --iters 10 --save "$T/lang.ckpt"
  no_raw_escape
}
bad_language "A,B.txt" "A,B.txt: a language name must not hold a ','"
bad_language "$(printf 'Bad\033[31m.txt')" 'Bad\\x1b\[31m.txt: a language name must not hold a control character'
bad_language "$(printf 'New\nline.txt')" 'New\\x0aline.txt: a language name must not hold a control character'
bad_language "$(printf 'Latin\377.txt')" 'Latin\\xff.txt: a language name must be valid UTF-8'
bad_language "$(printf '%048d.txt' 0)" "a language name is 1 to 47 bytes, this one is 48"
# a checkpoint whose class list holds what the loader refuses: refused, naming the key
"$EDIT" "$T/m.ckpt" "$T/cls.ckpt" "classes=Arabic,Chinese,Czech,Dutch,English,French,German,Greek,Irish,Italian,Japanese,Korean,Polish,Portuguese,Russian,Scottish,Spanish,$(printf 'Viet\001')"
expect 1 "its setting 'classes': language 18: a language name must not hold a control character" "$BIN" predict --load "$T/cls.ckpt" Smith

# ---- a checkpoint's settings are checked like the flags ----
resume_refused() { # PATTERN KEY=VALUE|-KEY ...   (m.ckpt: gru, --epochs 1, so iters=0)
  pattern=$1; shift
  "$EDIT" "$T/m.ckpt" "$T/r.ckpt" "$@" || fail "ckpt_edit $*"
  expect 1 "cannot resume from checkpoint $T/r.ckpt: $pattern" "$BIN" train --resume "$T/r.ckpt" --quiet
}
resume_refused "its setting 'batch' expects a whole number from 1 to 65536, got '0'" batch=0
resume_refused "its setting 'batch' expects a whole number from 1 to 65536, got '-1'" batch=-1
resume_refused "its setting 'epochs' expects a whole number from 1 to 100000 (or 0: not used), got '-2'" epochs=-2
resume_refused "its setting 'iters' expects a whole number from 1 to 2000000000 (or 0: not used), got '-5'" iters=-5
resume_refused "its settings iters=100 and epochs=1: exactly one of them must be 0" iters=100
resume_refused "its settings iters=0 and epochs=0: exactly one of them must be 0" epochs=0
resume_refused "its setting 'hidden' expects a whole number from 1 to 4096, got '0'" hidden=0
resume_refused "its setting 'threads' expects a whole number from 1 to 64, got '65'" threads=65
resume_refused "its setting 'lr' expects a number from 1e-12 to 1000, got 'nan'" lr=nan
resume_refused "its setting 'model' must be tutorial, elman, gru or lstm, got 'rnn'" model=rnn
resume_refused "its setting 'bidirectional' expects a whole number from 0 to 1, got '2'" bidirectional=2
resume_refused "its setting 'dropout' expects a number from 0 to 0.95, got '0.99'" dropout=0.99
resume_refused "its setting 'seed' expects a whole number from 0 to 2147483647, got '-3'" seed=-3
resume_refused "it lacks the 'batch' setting" -batch
resume_refused "its setting 'letters': the checkpoint was trained on another alphabet" letters=abc
resume_refused "it lacks the 'letters' setting" -letters
resume_refused "its training state 'state.pos' is not a whole number" state.pos=x
resume_refused "its training state 'state.rng' is missing" -state.rng
resume_refused "its settings do not go together: --distinct needs --epochs" distinct=1 epochs=0 iters=100
resume_refused "its settings do not go together: --layers, --bidirectional, --pool and --dropout are for elman" model=seed bidirectional=1
"$EDIT" "$T/m.ckpt" "$T/r.ckpt" classes=Arabic,Chinese || fail "ckpt_edit classes"
expect 1 "its setting 'classes' lists 2 languages (Arabic, Chinese, ...) but its data" "$BIN" train --resume "$T/r.ckpt" --quiet
"$EDIT" "$T/m.ckpt" "$T/r.ckpt" hidden=0 || fail "ckpt_edit hidden"
expect 1 "checkpoint $T/r.ckpt: its setting 'hidden' expects a whole number from 1 to 4096, got '0'" "$BIN" predict --load "$T/r.ckpt" Smith

# ---- fail before the work ----
expect 1 "cannot write the checkpoint: /nonexistent/dir/x.ckpt: cannot create /nonexistent/dir/x.ckpt.tmp: No such file or directory (checked before training)" \
  "$BIN" train --iters 100000 --save /nonexistent/dir/x.ckpt
grep -q "model:" "$T/out" && fail "train --save /nonexistent/...: it started training" || ok
mkdir "$T/adir.ckpt"
expect 1 "adir.ckpt: is a directory" "$BIN" train --iters 100000 --save "$T/adir.ckpt"
# eval from another directory: the checkpoint stores the data's absolute path
mkdir -p "$T/work/d" "$T/elsewhere"
printf 'Abe\nBob\nCyd\nDee\nEve\nFay\nIke\n' > "$T/work/d/A.txt"
printf 'Gus\nHal\nJo\nKip\nLu\nMo\nIke\n' > "$T/work/d/B.txt"
(cd "$T/work" && timeout 60 "$BIN" train --data d --iters 50 --hidden 4 --save m.ckpt --quiet >/dev/null 2>&1) || fail "train --data d (relative)"
grep -aq "^data=$(cd "$T/work/d" && pwd -P)$" "$T/work/m.ckpt" || fail "the checkpoint does not store the absolute data path"
expect 0 "test_accuracy=" sh -c "$IN_DIR" "$T/elsewhere" "$BIN" eval --load ../work/m.ckpt
"$EDIT" "$T/work/m.ckpt" "$T/work/rel.ckpt" data=d || fail "ckpt_edit data"
expect 1 "d is the data directory checkpoint ../work/rel.ckpt was trained on (a path relative to the directory it was trained in); give --data DIR" \
  sh -c "$IN_DIR" "$T/elsewhere" "$BIN" eval --load ../work/rel.ckpt

# ---- messages that name the real cause ----
expect 1 "'Abdulrahmanovichabdulrahmanovichabdulrahmanovichabdulrahmanovichx': too long: 65 letters after folding to ASCII, at most 64" \
  "$BIN" dot --load "$T/m.ckpt" Abdulrahmanovichabdulrahmanovichabdulrahmanovichabdulrahmanovichx -o "$T/x.dot"
expect 1 "invalid UTF-8 at byte 3" "$BIN" dot --load "$T/m.ckpt" "$(printf 'Ab\377')" -o "$T/x.dot"
expect 1 "no letter left after folding to ASCII" "$BIN" dot --load "$T/m.ckpt" "日本" -o "$T/x.dot"
huge=$(head -c 100000 /dev/zero | tr '\0' a)
expect 1 "\.\.\.(100000 bytes)': too long: 100000 letters after folding to ASCII, at most 64" "$BIN" predict --load "$T/m.ckpt" "$huge"
[ "$(wc -c < "$T/out")" -lt 1000 ] && ok || fail "predict echoes a 100 kB name ($(wc -c < "$T/out") bytes of output)"
expect 0 "^(-[0-9.]*) " "$BIN" predict --load "$T/m.ckpt" "$(printf '\033[2J\033]0;owned\007Bob')"
no_raw_escape
grep -q '^> \\x1b\[2J\\x1b\]0;owned\\x07Bob$' "$T/out" && ok || fail "predict did not echo the name escaped: $(cat "$T/out")"
mkdir "$T/notest"
printf 'Abe\nBob\nCyd\n' > "$T/notest/A.txt"; printf 'Dee\nEve\nFay\n' > "$T/notest/B.txt"
timeout 60 "$BIN" train --data "$T/notest" --iters 20 --hidden 4 --save "$T/notest.ckpt" --quiet >"$T/out" 2>&1 || fail "train on data without test names"
grep -q "has no test names (a name is in the test split when the CRC-32 of its line is 0 mod 10), so the model was not evaluated" "$T/out" && ok ||
  fail "train with 0 test names does not say so: $(cat "$T/out")"
grep -q "test_accuracy" "$T/out" && fail "train with 0 test names printed an accuracy" || ok
expect 1 "has no test names .*: nothing to evaluate" "$BIN" eval --load "$T/notest.ckpt"
expect 1 "the loss is .*nan.*" "$BIN" train --lr 1000 --iters 3000 --save-every 2000 --save "$T/nan0.ckpt" --quiet
grep -q "no checkpoint was written (the run stopped before its first save)" "$T/out" && ok || fail "no word that no checkpoint was written"
test ! -e "$T/nan0.ckpt" && ok || fail "a stopped run left $T/nan0.ckpt"
expect 1 "no checkpoint was written (the run stopped before its first save; --save-every N saves as it goes)" \
  "$BIN" train --lr 1000 --iters 3000 --save "$T/nan1.ckpt" --quiet
expect 2 "unknown option '--\\\\x1b\[31mx'" "$BIN" train "$(printf -- '--\033[31mx')"
expect 2 "--hidden expects a whole number from 1 to 4096, got '\\\\x1b'" "$BIN" train --hidden "$(printf '\033')"

echo "$passes passed, $fails failed"
test "$fails" -eq 0
