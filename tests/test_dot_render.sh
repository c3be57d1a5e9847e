#!/bin/sh
# test_dot_render.sh RNN_NAMES DOTFILE -- Graphviz renders our .dot files without a
# single complaint. Without Graphviz the test is skipped (exit 77) and says so; the
# program's own fallback (a hint, exit 0) is checked either way.
set -u
BIN=$1
DOTFILE=$2
T=$(mktemp -d /tmp/dot_render.XXXXXX)
trap 'rm -rf "$T"' EXIT

# rnn_names dot with no Graphviz on PATH: writes the .dot, says how to render, exits 0
"$BIN" train --model gru --layers 2 --hidden 8 --iters 64 --batch 8 --save "$T/m.ckpt" --quiet >/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }
out=$(PATH=/nonexistent "$BIN" dot --load "$T/m.ckpt" Abdulrahmanovich -o "$T/g.dot" 2>&1); rc=$?
case "$out" in *"dot is not installed"*"dot -Tsvg"*) ;; *) echo "FAIL: no rendering hint: $out"; exit 1 ;; esac
[ $rc -eq 0 ] && [ -s "$T/g.dot" ] && [ ! -e "$T/g.svg" ] || { echo "FAIL: without dot: rc=$rc"; exit 1; }

if ! command -v dot >/dev/null 2>&1; then
  echo "skipped: Graphviz's dot is not installed (apt-get install -y graphviz to run this test)"
  exit 77
fi
for f in "$DOTFILE" "$T/g.dot"; do
  if ! dot -Tsvg "$f" -o "$T/out.svg" 2>"$T/err" || [ -s "$T/err" ]; then
    echo "FAIL: Graphviz complained about $f:"; cat "$T/err"; exit 1
  fi
  grep -q "</svg>" "$T/out.svg" || { echo "FAIL: no SVG from $f"; exit 1; }
done
# and through rnn_names itself, with statistics, for a 16-letter name
"$BIN" dot --load "$T/m.ckpt" Abdulrahmanovich -o "$T/s.dot" --stats --target Arabic >"$T/log" 2>&1 || { cat "$T/log"; exit 1; }
grep -q "wrote $T/s.svg" "$T/log" && [ -s "$T/s.svg" ] || { echo "FAIL: rnn_names dot made no SVG"; cat "$T/log"; exit 1; }
echo "rendered: $(grep -c '<g id="node' "$T/s.svg") nodes, $(grep -c '<g id="clust' "$T/s.svg") clusters"
echo "2 passed, 0 failed"
