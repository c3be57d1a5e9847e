#!/bin/sh
# test_svg_xml.sh BIN ROOT -- every SVG the project writes parses as XML (xmllint, from
# Debian's libxml2-utils), with hostile language names and paths: the loss curve and the
# confusion matrix of a training run, the graph `rnn_names dot` renders through
# Graphviz, and the pictures in docs/img. Without xmllint the test is skipped (exit 77)
# and says so.
set -u
BIN=$1
ROOT=$2
if ! command -v xmllint >/dev/null 2>&1; then
  echo "skipped: xmllint is not installed (apt-get install -y libxml2-utils to run this test)"
  exit 77
fi
T=$(mktemp -d /tmp/svg_xml.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
parses() { # FILE...: each is well-formed XML
  for f in "$@"; do
    if xmllint --noout "$f" 2>"$T/xmlerr"; then passes=$((passes + 1)); else
      echo "FAIL: $f is not well-formed XML:"; head -5 "$T/xmlerr"; fails=$((fails + 1)); fi
  done
}

# language names that XML and SVG must escape, all of them allowed
mkdir "$T/data"
for lang in 'A&B' '<script>' '"Quoted"' "It's" ']]>' 'Ünïcødé ✓' 'Ελληνικά' '&amp;lt;' 'x y'; do
  printf 'Abe\nBob\nCyd\nIke\n' > "$T/data/$lang.txt"
done
# a checkpoint path of the same kind: it goes into the graph's title
dir="$T/a&b<c>\"d'e"
mkdir "$dir"
timeout 120 "$BIN" train --data "$T/data" --model gru --hidden 4 --epochs 2 --batch 4 --save "$dir/m.ckpt" --quiet >"$T/log" 2>&1 ||
  { echo "FAIL: train on hostile language names:"; cat "$T/log"; exit 1; }
parses "$dir/m.loss.svg" "$dir/m.confusion.svg"
grep -q '&lt;script&gt;' "$dir/m.confusion.svg" && passes=$((passes + 1)) || { echo "FAIL: <script> not escaped"; fails=$((fails + 1)); }

# names XML cannot hold at all: refused when the data is loaded, or (were they let
# through) their SVG must still parse
for lang in "$(printf 'Latin\377')" "$(printf 'Ctl\001')" "$(printf 'Non\357\277\276')"; do
  rm -rf "$T/bad"; mkdir "$T/bad"
  printf 'Abe\nBob\nCyd\nIke\n' > "$T/bad/Good.txt"
  printf 'Dee\nEve\nFay\nIke\n' > "$T/bad/$lang.txt"
  if timeout 60 "$BIN" train --data "$T/bad" --iters 20 --hidden 4 --save "$T/bad.ckpt" --quiet >/dev/null 2>&1; then
    parses "$T/bad.confusion.svg"
  else
    passes=$((passes + 1))
  fi
done

# Graphviz's rendering of `rnn_names dot`, with that path and a hostile --target
if command -v dot >/dev/null 2>&1; then
  timeout 60 "$BIN" dot --load "$dir/m.ckpt" Abe --target '<script>' --stats -o "$T/g.dot" >"$T/log" 2>&1 ||
    { echo "FAIL: rnn_names dot:"; cat "$T/log"; fails=$((fails + 1)); }
  parses "$T/g.svg"
else
  echo "(Graphviz's dot is not installed: the rendered graph is not checked)"
fi
parses "$ROOT"/docs/img/*.svg
echo "$passes passed, $fails failed"
test "$fails" -eq 0
