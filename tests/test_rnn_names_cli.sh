#!/bin/sh
# test_rnn_names_cli.sh BIN -- rnn_names end to end on the built-in sample, and its
# answers to bad flags, bad data and bad checkpoints: a message and a non-zero exit,
# never a crash (exit >= 128) and no half-written output.
set -u
BIN=$1
T=$(mktemp -d /tmp/rnn_names_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0

# expect CODE PATTERN -- command...: exit code CODE and PATTERN in stdout+stderr
expect() {
  code=$1; pattern=$2; shift 2
  "$@" >"$T/out" 2>&1
  got=$?
  if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" "$T/out"; then
    echo "FAIL: $* -> exit $got (want $code), output:"; sed 's/^/    /' "$T/out" | head -20
    echo "    (wanted: $pattern)"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

expect 0 "usage: rnn_names <command>" "$BIN" --help
expect 2 "usage: rnn_names <command>" "$BIN"
expect 2 "unknown command 'fly'" "$BIN" fly
expect 0 "--epochs E" "$BIN" train --help
expect 0 "top\|most likely" "$BIN" predict --help
expect 2 "unknown option '--hiden'" "$BIN" train --hiden 5
expect 2 "--hidden expects a whole number from 1 to 4096, got 'abc'" "$BIN" train --hidden abc
expect 2 "--hidden expects a whole number from 1 to 4096, got '0'" "$BIN" train --hidden 0
expect 2 "--threads expects a whole number from 1 to 64, got '0'" "$BIN" train --threads 0
expect 2 "--lr expects a number" "$BIN" train --lr -1
expect 2 "--lr expects a number" "$BIN" train --lr nan
expect 2 "option '--batch' needs a value" "$BIN" train --batch
expect 2 "--model must be tutorial, elman, gru or lstm, got 'rnn'" "$BIN" train --model rnn
expect 2 "--optim must be sgd or adam" "$BIN" train --optim rmsprop
expect 2 "give --iters or --epochs, not both" "$BIN" train --iters 5 --epochs 1
expect 2 "unexpected argument 'extra'" "$BIN" train extra
expect 2 "--load FILE is required" "$BIN" eval
expect 2 "give at least one NAME" "$BIN" predict --load x.ckpt
expect 1 "cannot open data directory" "$BIN" train --data "$T/nowhere" --save "$T/m.ckpt"
mkdir "$T/empty"
expect 1 "no <Language>.txt files" "$BIN" train --data "$T/empty" --save "$T/m.ckpt"
test ! -e "$T/m.ckpt" || { echo "FAIL: a failed run wrote a checkpoint"; fails=$((fails + 1)); }

# a real run on the sample, every model kind, short
for model in tutorial elman gru lstm; do
  expect 0 "test_accuracy=0\.[0-9]*" "$BIN" train --model $model --hidden 16 --iters 300 --batch 4 --save "$T/$model.ckpt" --quiet
  grep -q "train_names_per_s=" "$T/out" || { echo "FAIL: no train_names_per_s for $model"; fails=$((fails + 1)); }
  grep -q "macro_accuracy=" "$T/out" || { echo "FAIL: no macro_accuracy for $model"; fails=$((fails + 1)); }
  for f in "$T/$model.ckpt" "$T/$model.loss.csv" "$T/$model.loss.svg" "$T/$model.confusion.svg"; do
    test -s "$f" || { echo "FAIL: $f missing"; fails=$((fails + 1)); }
  done
  head -c 4 "$T/$model.loss.svg" | grep -q "<svg" && tail -1 "$T/$model.confusion.svg" | grep -q "</svg>" ||
    { echo "FAIL: $model svg files are not whole"; fails=$((fails + 1)); }
  expect 0 "^([-0-9.]*) [A-Z]" "$BIN" predict --load "$T/$model.ckpt" Satoshi "Ślusàrski"
  test "$(grep -c '^(' "$T/out")" -eq 6 || { echo "FAIL: predict should print 3 lines per name"; fails=$((fails + 1)); }
done
# the tutorial's model under its old name: accepted, and the checkpoint says model=tutorial
expect 0 "model=tutorial" "$BIN" train --model seed --hidden 8 --iters 50 --save "$T/old_name.ckpt" --quiet
expect 0 "^([-0-9.]*) [A-Z]" "$BIN" predict --load "$T/old_name.ckpt" Satoshi
# a name that cannot be predicted says so under its header on stdout too, the others still go
"$BIN" predict --load "$T/old_name.ckpt" "佐藤" Sato >"$T/stdout" 2>/dev/null
grep -q "^(skipped: no letter left after folding to ASCII)" "$T/stdout" && test "$(grep -c '^(' "$T/stdout")" -eq 4 ||
  { echo "FAIL: predict of a name with no letters: stdout does not say it was skipped"; fails=$((fails + 1)); }
# a bidirectional LSTM whose classifier also reads the mean state: its checkpoint says so
expect 0 "pool=mean" "$BIN" train --model lstm --bidirectional --pool mean --hidden 8 --iters 100 --batch 4 --save "$T/pool.ckpt" --quiet
expect 0 "^([-0-9.]*) [A-Z]" "$BIN" predict --load "$T/pool.ckpt" Satoshi
expect 0 "test_accuracy=" "$BIN" eval --load "$T/pool.ckpt"
expect 2 "--pool must be last or mean, got 'max'" "$BIN" train --model gru --pool max
expect 2 "--layers, --bidirectional, --pool and --dropout are for elman, gru and lstm" "$BIN" train --pool mean
# --distinct on data with repeated lines: each pair once, the shares put back at prediction
mkdir "$T/dups"
printf 'Haddad\nHaddad\nNahas\nHaddad\nSaliba\nHaddad\nKhoury\n' > "$T/dups/Arabic.txt"
printf 'Smith\nBaker\nAbel\nSmith\nMuller\n' > "$T/dups/English.txt"
expect 0 "distinct: 4 training lines repeat a (name, language) pair and are left out; 8 remain" \
  "$BIN" train --data "$T/dups" --model gru --hidden 8 --distinct --letter-noise 0.2 --epochs 3 --batch 4 --optim adam \
  --save "$T/dups.ckpt" --quiet
grep -q "distinct=1 letter_noise=0.2" "$T/out" || { echo "FAIL: --distinct run summary"; fails=$((fails + 1)); }
grep -aq "^prior_shift=" "$T/dups.ckpt" || { echo "FAIL: --distinct checkpoint lacks prior_shift"; fails=$((fails + 1)); }
expect 0 "^([-0-9.]*) Arabic" "$BIN" predict --load "$T/dups.ckpt" Haddad
# (no line of dups goes to the test split: eval says there is nothing to evaluate)
expect 1 "has no test names (a name is in the test split when the CRC-32 of its line is 0 mod 10): nothing to evaluate" \
  "$BIN" eval --load "$T/dups.ckpt"
expect 2 "--distinct needs --epochs" "$BIN" train --distinct
expect 2 "--letter-noise expects a number from 0 to 0.5, got '0.7'" "$BIN" train --letter-noise 0.7
expect 0 "confusion matrix" "$BIN" eval --load "$T/gru.ckpt"
expect 0 "macro_accuracy=" "$BIN" eval --load "$T/tutorial.ckpt"
head -3 "$T/tutorial.loss.csv" | grep -q "names_seen,mean_loss" || { echo "FAIL: loss csv header"; fails=$((fails + 1)); }
expect 1 "no letter left after folding" "$BIN" predict --load "$T/tutorial.ckpt" "日本"

# bad checkpoints
expect 1 "cannot open" "$BIN" predict --load "$T/none.ckpt" Smith
head -c 100 "$T/tutorial.ckpt" > "$T/cut.ckpt"
expect 1 "cut.ckpt: checksum mismatch" "$BIN" predict --load "$T/cut.ckpt" Smith
printf 'hello world, not a checkpoint at all\n' > "$T/text.ckpt"
expect 1 "not a checkpoint (bad magic" "$BIN" eval --load "$T/text.ckpt"
expect 1 "not a regular file" "$BIN" eval --load "$T"

# a data directory whose languages differ from the model's
mkdir "$T/two"; printf 'Abe\nBo\nCy\nDee\nEd\nFlo\nGus\nHal\nIke\n' > "$T/two/A.txt"; cp "$T/two/A.txt" "$T/two/B.txt"
expect 1 "languages are not the 18 the model was trained on" "$BIN" eval --load "$T/tutorial.ckpt" --data "$T/two"
# bad lines warn with file and line, and the run goes on
printf 'Abe\n\377\376\nBo\n' > "$T/two/C.txt"
expect 0 "C.txt:2: invalid UTF-8" "$BIN" train --data "$T/two" --iters 50 --save "$T/two.ckpt" --quiet

# a run that blows up stops at the first NaN, names the step, and keeps the last good checkpoint
expect 1 "step [0-9]* (after [0-9]* names): the loss is .*nan" "$BIN" train --lr 1 --iters 3000 --save-every 2 --save "$T/nan.ckpt" --quiet
grep -q "the last good checkpoint, after [0-9]* names, is kept in $T/nan.ckpt" "$T/out" ||
  { echo "FAIL: no word of the last good checkpoint"; fails=$((fails + 1)); }
expect 0 "^(-[0-9.]*) " "$BIN" predict --load "$T/nan.ckpt" Smith
expect 2 "--save-every expects a whole number" "$BIN" train --save-every 0

echo "$passes passed, $fails failed"
test "$fails" -eq 0
