#!/bin/sh
# test_rnn_names_deep.sh BIN [SANITIZED] -- the deepest models `rnn_names train --help`
# allows (--layers 4 --bidirectional: 34 parameters, past the 32 the registry once held)
# train, save, load, evaluate and predict, for elman, gru and lstm. And a model that
# cannot be built names the cause nn/ passed up (skipped when SANITIZED is 1: the
# sanitizers do not run under a limit on virtual memory).
set -u
BIN=$1
SANITIZED=${2:-0}
T=$(mktemp -d /tmp/rnn_names_deep.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0

# run PATTERN -- command...: exit 0 and PATTERN in stdout+stderr
run() {
  pattern=$1; shift
  "$@" >"$T/out" 2>&1
  got=$?
  if [ "$got" -ne 0 ] || ! grep -q -- "$pattern" "$T/out"; then
    echo "FAIL: $* -> exit $got, output:"; sed 's/^/    /' "$T/out" | head -20
    echo "    (wanted: $pattern)"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

for kind in elman gru lstm; do
  run "test_accuracy=" "$BIN" train --model "$kind" --layers 4 --bidirectional --hidden 8 --iters 64 --batch 8 \
      --optim adam --threads 2 --quiet --save "$T/$kind.ckpt"
  run "model=$kind hidden=8" "$BIN" eval --load "$T/$kind.ckpt"
  run "Dovesky" "$BIN" predict --load "$T/$kind.ckpt" Dovesky
done

# 16384 x 4096 floats (an LSTM's weight_hh_l0, with its gradient) do not fit in 400 MB
# of address space: the allocator refuses, and the message says which parameter.
if [ "$SANITIZED" != 1 ]; then
  (ulimit -v 400000 && "$BIN" train --model lstm --layers 4 --bidirectional --hidden 4096 --iters 1 --quiet \
      --save "$T/big.ckpt") >"$T/out" 2>&1
  got=$?
  if [ "$got" -ne 1 ] || ! grep -q "cannot build the model: nn_params: out of memory for 'rnn.weight_hh_l0' (16384, 4096)" "$T/out"; then
    echo "FAIL: an LSTM of hidden 4096 in 400 MB -> exit $got, output:"; sed 's/^/    /' "$T/out" | head -5
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
