#!/bin/sh
# test_torch_roundtrip.sh RNN_NAMES NAMES_LOGP ROOT -- models cross between this project
# and PyTorch and predict the same:
#   ours -> PyTorch: rnn_names trains (the tutorial RNN, a 2-layer bidirectional GRU with
#     mean pooling, an LSTM, a 2-layer Elman) on its built-in sample; tools/ckpt_to_torch.py
#     loads each checkpoint into torch.nn modules; every language's log-probability of
#     a few names agrees with ours (names_logp: what `rnn_names predict` computes, in full).
#   PyTorch -> ours: torch trains the tutorial RNN and a GRU briefly on the same sample;
#     tools/torch_to_ckpt.py writes them; names_logp agrees with torch, `rnn_names predict`
#     prints torch's top 3 (to its two decimals), and `rnn_names eval` takes the file.
# Tolerance 2e-6 on each log-probability (about -1 to -5 nats). PyTorch computes in
# float64 from the checkpoint's float32 values, so the difference is our float32 forward
# pass alone: float32 rounds each value to 6e-8 relative, and a name of up to 10 letters
# through a few layers of 24-to-128-wide dot products and a log_softmax accumulates
# ~10 roundings of that relative size on values of magnitude 1-10, i.e. up to about
# 1e-6. Measured: 1e-7 to 5e-7 (the run prints it). A wrong weight, gate order or
# layer wiring moves them by 1e-2 or more (the reverse stack fed forwards: 0.5).
# Skipped (exit 77) when /usr/bin/python3 cannot import torch (apt-get install -y python3-torch).
set -u
RN=$1
LOGP=$2
ROOT=$3
PY=${TORCH_PYTHON:-/usr/bin/python3} # TORCH_PYTHON: another interpreter, e.g. to see the skip
TOL=2e-6
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "skipped: $PY cannot import torch (apt-get install -y python3-torch to run this test)"
  exit 77
fi
T=$(mktemp -d /tmp/torch_rt.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1"; fails=$((fails + 1)); fi; }
NAMES="Dovesky Jackson Satoshi Nguyen O'Neal Abandonato Schmidt Yi"

# compare A B: both "name<TAB>language<TAB>logp" lines; the same pairs, |difference| <= TOL
compare() {
  "$PY" - "$1" "$2" "$TOL" <<'PYEOF'
import sys
def read(p):
    out = {}
    for line in open(p, encoding="utf-8"):
        n, c, v = line.rstrip("\n").split("\t")
        out[(n, c)] = float(v)
    return out
a, b, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
if set(a) != set(b) or not a:
    sys.exit(f"different names or languages: {len(a)} against {len(b)} entries")
worst = max(abs(a[k] - b[k]) for k in a)
print(f"  {len(a)} log-probabilities, max |difference| {worst:.2e} (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
PYEOF
}

# ---- ours -> PyTorch ----
for cfg in "tutorial|--model tutorial --iters 300" \
           "gru|--model gru --hidden 24 --layers 2 --bidirectional --pool mean --batch 8 --optim adam --lr 0.01 --iters 400" \
           "lstm|--model lstm --hidden 16 --batch 4 --optim adam --lr 0.01 --iters 200" \
           "elman|--model elman --hidden 16 --layers 2 --batch 4 --iters 200"; do
  name=${cfg%%|*}
  args=${cfg#*|}
  # shellcheck disable=SC2086
  "$RN" train $args --save "$T/$name.ckpt" --quiet >"$T/out" 2>&1
  check "rnn_names trains the $name model" "[ $? -eq 0 ]"
  # shellcheck disable=SC2086
  "$LOGP" "$T/$name.ckpt" $NAMES >"$T/$name.ours" 2>"$T/err"
  check "names_logp reads the $name checkpoint" "[ $? -eq 0 ]"
  # shellcheck disable=SC2086
  "$PY" "$ROOT/tools/ckpt_to_torch.py" "$T/$name.ckpt" --double --all --names $NAMES >"$T/$name.torch" 2>"$T/err"
  check "ckpt_to_torch.py loads the $name checkpoint" "[ $? -eq 0 ] || { cat '$T/err'; false; }"
  echo "ours -> torch, $name:"
  check "$name: torch's log-probabilities are ours" "compare '$T/$name.ours' '$T/$name.torch'"
done
"$PY" "$ROOT/tools/ckpt_to_torch.py" "$T/gru.ckpt" "$T/gru.pt" >"$T/out" 2>&1
check "ckpt_to_torch.py writes a torch.save file" "[ $? -eq 0 ] && grep -q 'wrote' '$T/out'"
"$PY" "$ROOT/tools/torch_to_ckpt.py" "$T/gru.pt" "$T/gru_back.ckpt" >"$T/out" 2>&1
# shellcheck disable=SC2086
"$LOGP" "$T/gru_back.ckpt" $NAMES >"$T/gru_back.ours" 2>&1
check "ours -> torch -> ours: the same predictions, exactly" "cmp -s '$T/gru.ours' '$T/gru_back.ours'"
printf 'x' >"$T/bad.ckpt"
"$PY" "$ROOT/tools/ckpt_to_torch.py" "$T/bad.ckpt" >"$T/out" 2>&1
check "ckpt_to_torch.py refuses a file that is not a checkpoint" "[ $? -ne 0 ] && grep -q 'not a checkpoint' '$T/out'"

# ---- PyTorch -> ours: trained in torch, written with torch_to_ckpt.py ----
classes=$(sed -n 's/^classes=//p' "$T/tutorial.ckpt" | head -1)
"$PY" - "$ROOT" "$T" "$classes" $NAMES <<'PYEOF'
import sys, random
import torch
root, out, classes, names = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
sys.path.insert(0, root + "/tools")
from ckpt_to_torch import NamesModel, fold
from torch_to_ckpt import write_names_model
torch.manual_seed(0)
random.seed(0)
data = []
for line in open(root + "/examples/rnn_names/sample_names.tsv", encoding="utf-8"):
    if line.startswith("#") or "\t" not in line:
        continue
    lang, name = line.rstrip("\n").split("\t")
    if lang in classes and fold(name):
        data.append((name, classes.index(lang)))
for kind, kw, steps in (("tutorial", {}, 300), ("gru", dict(layers=2, bidirectional=True, pool_mean=True), 150)):
    model = NamesModel(kind, 24, kw.get("layers", 1), classes, bidirectional=kw.get("bidirectional", False),
                       pool_mean=kw.get("pool_mean", False))
    opt = torch.optim.SGD(model.parameters(), lr=0.005) if kind == "tutorial" else \
        torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(steps):
        name, label = random.choice(data)
        loss = torch.nn.functional.nll_loss(model(model.encode(name)), torch.tensor([label]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    write_names_model(f"{out}/pt_{kind}.ckpt", model)
    model = model.double()  # the same float32 values, computed in float64
    with open(f"{out}/pt_{kind}.torch", "w", encoding="utf-8") as f:
        for n in names:
            for c, v in enumerate(model.predict_logp(n)):
                f.write(f"{n}\t{classes[c]}\t{v:.9e}\n")
PYEOF
check "torch trains and torch_to_ckpt.py writes" "[ $? -eq 0 ] && [ -s '$T/pt_tutorial.ckpt' ] && [ -s '$T/pt_gru.ckpt' ]"
for kind in tutorial gru; do
  # shellcheck disable=SC2086
  "$LOGP" "$T/pt_$kind.ckpt" $NAMES >"$T/pt_$kind.ours" 2>"$T/err"
  check "names_logp reads torch's $kind checkpoint" "[ $? -eq 0 ] || { cat '$T/err'; false; }"
  echo "torch -> ours, $kind:"
  check "$kind: our log-probabilities are torch's" "compare '$T/pt_$kind.ours' '$T/pt_$kind.torch'"
  # shellcheck disable=SC2086
  "$RN" predict --load "$T/pt_$kind.ckpt" $NAMES >"$T/pred" 2>"$T/err"
  check "rnn_names predict takes torch's $kind checkpoint" "[ $? -eq 0 ] || { cat '$T/err'; false; }"
  # predict's lines "(-1.23) Language" under "> Name": torch's top 3, to two decimals
  "$PY" - "$T/pred" "$T/pt_$kind.torch" <<'PYEOF'
import sys
want = {}
for line in open(sys.argv[2], encoding="utf-8"):
    n, c, v = line.rstrip("\n").split("\t")
    want.setdefault(n, []).append((float(v), c))
got, name = {}, None
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith("> "):
        name = line[2:]
        got[name] = []
    else:
        v, c = line.split(" ", 1)
        got[name].append((float(v.strip("()")), c))
assert set(got) == set(want), (sorted(got), sorted(want))
for n, rows in got.items():
    top = sorted(want[n], reverse=True)[:3]
    assert [c for _, c in rows] == [c for _, c in top], (n, rows, top)
    assert all(abs(a - b) <= 0.005 + 1e-6 for (a, _), (b, _) in zip(rows, top)), (n, rows, top)
print(f"  rnn_names predict: torch's top 3 for {len(got)} names")
PYEOF
  check "$kind: rnn_names predict prints torch's top 3" "[ $? -eq 0 ]"
  "$RN" eval --load "$T/pt_$kind.ckpt" >"$T/eval" 2>"$T/err"
  check "rnn_names eval takes torch's $kind checkpoint" "[ $? -eq 0 ] && grep -qi 'accuracy' '$T/eval' || { cat '$T/err'; false; }"
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
