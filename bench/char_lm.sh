#!/bin/sh
# bench/char_lm.sh [BIN] -- char_lm's training speed against the same model in PyTorch
# (bench/char_lm_torch.py), one thread each, on the same text with the same settings:
# Elman hidden 100 (min-char-rnn's size), Elman hidden 512, GRU hidden 128; seq 25,
# Adam, clipping at 5, one-hot input. Prints chars/s for both and the ratio (ours /
# PyTorch's: above 1, ours is faster). BIN defaults to build/char_lm.
#   BATCH=1 (default) or e.g. BATCH=32; STEPS scales the run length (default 1).
#   TEXT: the text (default examples/char_lm/harbour.txt, the built-in one).
#   CONFIGS: the models to run, each MODEL/HIDDEN/STEPS (default
#     "elman/100/1500 elman/512/300 gru/128/800"; bench/run.sh runs "elman/100/1500").
# The machine may be shared: each figure is the best of REPS runs (default 3).
# PyTorch's OpenBLAS runs on one thread (OPENBLAS_NUM_THREADS=1: torch.set_num_threads
# does not reach it); bench/run.sh also sets OPENBLAS_CORETYPE when OpenBLAS does not
# know the processor (see there).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/char_lm}
PY=${PYTHON:-/usr/bin/python3}
TEXT=${TEXT:-$ROOT/examples/char_lm/harbour.txt}
BATCH=${BATCH:-1}
STEPS=${STEPS:-1}
REPS=${REPS:-3}
CONFIGS=${CONFIGS:-elman/100/1500 elman/512/300 gru/128/800}
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
[ -x "$BIN" ] || { echo "no $BIN: build first (cmake --build build)"; exit 1; }
"$PY" -c "import torch" 2>/dev/null || { echo "PyTorch is not installed for $PY (apt-get install -y python3-torch)"; exit 1; }
printf 'char_lm vs PyTorch %s, one thread, seq 25, batch %s, Adam, text %s\n' \
  "$("$PY" -c 'import torch; print(torch.__version__)')" "$BATCH" "$(basename "$TEXT")"
printf '%-22s %14s %14s %8s\n' model "ours chars/s" "torch chars/s" ratio
best() { # best chars_per_s of REPS runs of the command
  b=0
  i=0
  while [ $i -lt "$REPS" ]; do
    v=$("$@" | sed -n 's/.*chars_per_s=\([0-9]*\).*/\1/p')
    [ "${v:-0}" -gt "$b" ] && b=$v
    i=$((i + 1))
  done
  echo "$b"
}
for cfg in $CONFIGS; do
  # shellcheck disable=SC2046 # split on purpose: MODEL HIDDEN STEPS
  set -- $(echo "$cfg" | tr / ' ')
  steps=$(($3 * STEPS))
  [ "$BATCH" -gt 1 ] && steps=$((steps / 4 + 10))
  ours=$(best "$BIN" train --text "$TEXT" --model "$1" --hidden "$2" --seq 25 --batch "$BATCH" --optim adam \
         --steps "$steps" --quiet)
  torch=$(best "$PY" "$ROOT/bench/char_lm_torch.py" --text "$TEXT" --model "$1" --hidden "$2" --seq 25 \
          --batch "$BATCH" --optim adam --steps "$steps")
  printf '%-22s %14s %14s %8s\n' "$1 hidden $2" "$ours" "$torch" "$(awk -v a="$ours" -v b="$torch" 'BEGIN { printf "%.2f", a / b }')"
done
