#!/bin/sh
# bench/run.sh [DATA_DIR] -- our speed and memory figures and PyTorch's, back to back on
# the same machine and data, each next to its target (the README's table), then a
# summary: regime, ours, PyTorch (or the reference), figure, target, met or NOT met.
# Needs PyTorch from Debian for the reference:
#   apt-get install -y python3-torch libopenblas0-pthread
# Settings from the environment:
#   BUILD  the build directory (default build-bench)
#   B1     names of our batch-1 runs (default 20000; PyTorch's run B1/4, it is slower)
#   REPS   each short figure is the best of REPS runs (default 3): the machine may be shared
#   CORE   the core the README's GRU recipe is pinned to with taskset (default 0)
# About 5 minutes on 2 cores, 80 s of which is the recipe.
set -eu
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/names}
REF=../shared/bench/torch_names.py
PY=/usr/bin/python3
BUILD=${BUILD:-build-bench}
B1=${B1:-20000}
REPS=${REPS:-3}
CORE=${CORE:-0}
OUT=$(mktemp -d /tmp/bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
start=$(date +%s)

if ! $PY -c "import torch" 2>/dev/null; then
  echo "PyTorch is not installed: apt-get install -y python3-torch libopenblas0-pthread"; exit 1
fi
TORCH=$($PY -c 'import torch; print(torch.__version__)')
echo "bench/run.sh $(date '+%Y-%m-%d %H:%M:%S %Z'), $(uname -sm), $(nproc) cores:" \
  "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -1), PyTorch $TORCH"
# PyTorch's matrix products go to OpenBLAS. torch.set_num_threads(1) does not reach it
# (it starts a thread per core), so it is told here. And OpenBLAS 0.3.21 (Debian 12)
# does not know recent processors: it falls back to its Prescott (SSE3) kernels, at a
# sixth of the speed the processor has. Then it is given the kernels the processor can
# run, so that the reference is not handicapped. OPENBLAS_CORETYPE set by the caller
# (even to Prescott) is kept.
export OPENBLAS_NUM_THREADS=1
blas_core() {
  $PY -c 'import ctypes, torch; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p
print(l.openblas_get_corename().decode())' 2>/dev/null || echo "not found"
}
detected=$( (unset OPENBLAS_CORETYPE; blas_core) )
asis=""  # the kernels OpenBLAS picked itself, when the script gave it others
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$detected" = Prescott ]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
  fi
  [ -n "${OPENBLAS_CORETYPE:-}" ] && asis=$detected
fi
echo "OpenBLAS kernels: $detected as detected; in use: $(if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "$(blas_core) (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)"; else echo "$detected"; fi); 1 thread (OPENBLAS_NUM_THREADS=1)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"

# run FILE CMD...: CMD's stdout appended to OUT/FILE; its stderr shown only if it fails
run() {
  f=$1; shift
  "$@" >>"$OUT/$f" 2>"$OUT/stderr" || { cat "$OUT/stderr"; echo "failed: $*"; exit 1; }
}
# reps FILE CMD...: run it REPS times (the figures read from FILE are the best run's)
reps() {
  i=0
  while [ $i -lt "$REPS" ]; do run "$@"; i=$((i + 1)); done
}
# val FILE KEY: the largest value of KEY=... in OUT/FILE (with several runs, the best);
# KEY must start a line or follow a space
val() {
  awk -v k="$2=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) { s = substr($i, length(k) + 1);
    if (!n++ || s + 0 > m + 0) m = s } } END { if (n) print m }' "$OUT/$1"
}
# each FILE KEY: every value of KEY, in the order of the runs
each() {
  awk -v k="$2=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) printf "%s%s", n++ ? " " : "", substr($i, length(k) + 1) }
    END { print "" }' "$OUT/$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.0f", 100 * a / b; else print "n/a" }'; }

echo "== build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAG_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target bench_names rnn_names char_lm >/dev/null

echo "== ours: bench_names (1 thread, then batch 64 on 2; best of 3 where short)"
run ours "./$BUILD/bench_names" "$DATA" "$B1"
cat "$OUT/ours"
# The lower builds of the kernels (x86-64), as a processor without AVX-512 or AVX2 runs them
case $(uname -m) in x86_64|amd64)
  for k in avx2 baseline; do
    echo "== ours: the kernels of the $k build (AG_KERNELS=$k)"
    run "kern_$k" env AG_KERNELS=$k BENCH_KERNELS=1 "./$BUILD/bench_names" "$DATA"
    grep -v '^peak' "$OUT/kern_$k"
  done ;;
esac

echo "== ours: whole training runs (rnn_names train)"
run rss_tut1 "./$BUILD/rnn_names" train --data "$DATA" --iters "$B1" --quiet --save "$OUT/m.ckpt"
run rss_tut64 "./$BUILD/rnn_names" train --data "$DATA" --batch 64 --iters $((10 * B1)) --quiet --save "$OUT/m64.ckpt"
run rss_gru "./$BUILD/rnn_names" train --data "$DATA" --model gru --batch 64 --optim adam --lr 0.002 --clip 3 \
  --epochs 1 --quiet --save "$OUT/g.ckpt"
echo "peak RSS (MiB): tutorial batch 1, $B1 names $(val rss_tut1 peak_rss_mb);" \
  "tutorial batch 64, $((10 * B1)) names $(val rss_tut64 peak_rss_mb);" \
  "GRU batch 64 Adam, 1 epoch $(val rss_gru peak_rss_mb)"
# The README's GRU recipe, on one core: its wall time (loading, training, evaluation, saving)
PIN=
if command -v taskset >/dev/null 2>&1; then PIN="taskset -c $CORE"; fi
set -- "./$BUILD/rnn_names" train --data "$DATA" --model gru --bidirectional --layers 2 --dropout 0.3 --pool mean \
  --batch 64 --optim adam --lr 0.005 --clip 3 --schedule cosine --epochs 15 --distinct --letter-noise 0.1 \
  --threads 1 --quiet --save "$OUT/recipe.ckpt"
echo "README GRU recipe (${PIN:-not pinned}): $*" | sed "s|$OUT/|OUT/|"
# shellcheck disable=SC2086 # $PIN split on purpose: a command and its arguments
if [ -x /usr/bin/time ]; then
  run recipe /usr/bin/time -f "recipe_wall_s=%e recipe_maxrss_kb=%M" -o "$OUT/recipe.time" $PIN "$@"
  cat "$OUT/recipe.time" >>"$OUT/recipe"
else
  t0=$(date +%s)
  run recipe $PIN "$@"
  echo "recipe_wall_s=$(($(date +%s) - t0))" >>"$OUT/recipe"
fi
echo "recipe: $(val recipe recipe_wall_s) s wall, test_accuracy $(val recipe test_accuracy)," \
  "macro_accuracy $(val recipe macro_accuracy), peak RSS $(val recipe peak_rss_mb) MiB"

echo "== char_lm against PyTorch: Elman hidden 100, batch 1 (bench/char_lm.sh, best of $REPS)"
run charlm env CONFIGS=elman/100/1500 REPS="$REPS" sh bench/char_lm.sh "$PWD/$BUILD/char_lm"
cat "$OUT/charlm"

echo "== PyTorch $TORCH (1 thread; best of $REPS, except hidden 1024)"
TB1=$((B1 / 4))
reps t1 $PY "$REF" --data "$DATA" --mode persample --iters "$TB1" --no-eval
echo "tutorial batch 1, $TB1 names: names_per_s $(each t1 names_per_s)"
reps t64 $PY "$REF" --data "$DATA" --mode batched --iters "$B1" --batch 64 --no-eval
echo "tutorial batch 64, $B1 names: names_per_s $(each t64 names_per_s)"
reps tgru $PY "$REF" --data "$DATA" --mode gru --iters 17961 --batch 64 --lr 0.002
echo "GRU hidden 128 batch 64 Adam, 1 epoch: names_per_s $(each tgru names_per_s)"
run tgru1024 $PY "$REF" --data "$DATA" --mode gru --hidden 1024 --iters 512 --batch 64 --lr 0.002
echo "GRU hidden 1024 batch 64 Adam, 512 names: names_per_s $(each tgru1024 names_per_s)"

if [ -n "$asis" ]; then # the same three regimes and char_lm with OpenBLAS as installed
  echo "== PyTorch $TORCH again, OpenBLAS as installed ($asis kernels), 1 thread, best of $REPS"
  reps t1a env OPENBLAS_CORETYPE="$asis" $PY "$REF" --data "$DATA" --mode persample --iters "$TB1" --no-eval
  echo "tutorial batch 1: names_per_s $(each t1a names_per_s)"
  reps t64a env OPENBLAS_CORETYPE="$asis" $PY "$REF" --data "$DATA" --mode batched --iters "$B1" --batch 64 --no-eval
  echo "tutorial batch 64: names_per_s $(each t64a names_per_s)"
  reps tgrua env OPENBLAS_CORETYPE="$asis" $PY "$REF" --data "$DATA" --mode gru --iters 17961 --batch 64 --lr 0.002
  echo "GRU hidden 128 batch 64 Adam: names_per_s $(each tgrua names_per_s)"
  reps tca env OPENBLAS_CORETYPE="$asis" $PY bench/char_lm_torch.py --text examples/char_lm/harbour.txt --model elman \
    --hidden 100 --seq 25 --batch 1 --optim adam --steps 1500
  echo "char_lm Elman hidden 100 batch 1: chars_per_s $(each tca chars_per_s)"
fi

echo "== OpenBLAS sgemm through torch (C += A B as ours: addmm_), 1 thread, the kernels' shapes, best of 10"
run blas $PY - <<'PY'
import time, torch
torch.set_num_threads(1)
shapes = [("nt", (64, 128, 185)), ("nt", (64, 18, 185)), ("nn", (64, 185, 128)), ("tn", (128, 185, 64)),
          ("nt", (1, 128, 185)), ("nt", (64, 384, 128)), ("nt", (400, 384, 57)),
          ("nt", (64, 3072, 1024)), ("nn", (64, 1024, 3072)), ("tn", (3072, 1024, 64))]
for name, (n, m, k) in shapes:  # C (n, m) += op(A) op(B) over k
    a = torch.rand(k, n) if name == "tn" else torch.rand(n, k)
    b = torch.rand(m, k) if name == "nt" else torch.rand(k, m)
    a, b = (a.t() if name == "tn" else a), (b.t() if name == "nt" else b)
    c = torch.zeros(n, m)
    flops = 2.0 * n * m * k
    burst = int(5e7 / flops) + 1
    c.addmm_(a, b)
    best = 0
    for _ in range(10):  # stretches of 30 ms, as bench_names times ours
        reps, t0 = 0, time.perf_counter()
        while True:
            for _ in range(burst): c.addmm_(a, b)
            reps += burst
            t = time.perf_counter() - t0
            if t >= 0.03: break
        best = max(best, flops * reps / t)
    print(f"blas_{name}_{n}x{m}x{k}_gflops={best / 1e9:.2f}")
PY
cat "$OUT/blas"

# ---- the figures beside their targets ----
peak=$(val ours peak_fp32_gflops)
echo "== matrix kernels, GFLOP/s (share of the measured single-core peak, $peak GFLOP/s, $(sed -n 's/^kernel_path=//p' "$OUT/ours"))"
for k in nt_64x128x185 nt_64x18x185 nn_64x185x128 tn_128x185x64 nt_1x128x185 nt_64x384x128 nt_400x384x57 \
  nt_64x3072x1024 nn_64x1024x3072 tn_3072x1024x64; do
  g=$(val ours "kernel_${k}_gflops"); b=$(val blas "blas_${k}_gflops")
  printf '%-18s ours %7s (%3s%%)  OpenBLAS %7s (%3s%%)  ours/OpenBLAS %s\n' "$k" "$g" "$(pct "$g" "$peak")" "$b" \
    "$(pct "$b" "$peak")" "$(ratio "$g" "$b")"
done

for k in avx2 baseline; do
  [ -s "$OUT/kern_$k" ] || continue
  echo "== matrix kernels of the $(sed -n 's/^kernel_path=//p' "$OUT/kern_$k") build, GFLOP/s (share of the same peak)"
  for kk in nt_64x128x185 nn_64x185x128 tn_128x185x64 nt_1x128x185 nt_64x384x128 nt_64x3072x1024 nn_64x1024x3072 \
    tn_3072x1024x64; do
    g=$(val "kern_$k" "kernel_${kk}_gflops")
    printf '%-18s %7s (%3s%%)\n' "$kk" "$g" "$(pct "$g" "$peak")"
  done
done

n_met=0 n_rows=0
# row REGIME OURS REFERENCE FIGURE TARGET OP BOUND [VALUE]: one line of the summary; VALUE
# (default FIGURE) is compared with BOUND by OP (">=", "<=", "=" or "-" for no target)
row() {
  v=${8:-$4}
  if [ "$6" = "-" ]; then m="-"
  else
    m=$(awk -v a="$v" -v op="$6" -v b="$7" 'BEGIN { ok = a != "" && a != "n/a" &&
      (op == ">=" ? a + 0 >= b + 0 : op == "<=" ? a + 0 <= b + 0 : a + 0 == b + 0); print ok ? "met" : "NOT met" }')
    n_rows=$((n_rows + 1))
    if [ "$m" = met ]; then n_met=$((n_met + 1)); fi
  fi
  printf '%-44s %11s %11s %10s %14s  %s\n' "$1" "$2" "$3" "$4" "$5" "$m" >>"$OUT/summary"
}
o1=$(val ours tutorial_b1_names_per_s); t1=$(val t1 names_per_s)
o64=$(val ours tutorial_b64_names_per_s); t64=$(val t64 names_per_s)
og=$(val ours gru_b64_names_per_s); tg=$(val tgru names_per_s)
oc=$(awk '$1 == "elman" && $3 == 100 { print $4 }' "$OUT/charlm"); tc=$(awk '$1 == "elman" && $3 == 100 { print $5 }' "$OUT/charlm")
rss=$(awk -v a="$(val rss_gru peak_rss_mb)" 'BEGIN { printf "%.1f", a }')
rss_mb=$(awk -v a="$rss" 'BEGIN { printf "%.1f", a * 1.048576 }')
rec=$(val recipe recipe_wall_s)
oh=$(val ours gru_h1024_b64_names_per_s); th=$(val tgru1024 names_per_s)
o64t=$(val ours tutorial_b64_2threads_names_per_s); ogt=$(val ours gru_b64_2threads_names_per_s)

echo "== summary (names/s or chars/s unless said; ratio = ours / PyTorch, one thread each;" \
  "PyTorch's OpenBLAS with the kernels above${asis:+, and indented: as installed, $asis})"
printf '%-44s %11s %11s %10s %14s  %s\n' regime ours PyTorch/ref figure target "" >"$OUT/summary"
row "tutorial RNN, batch 1 (names/s)" "$o1" "$t1" "$(ratio "$o1" "$t1")x" ">= 30x" ">=" 30 "$(ratio "$o1" "$t1")"
row "tutorial RNN, batch 64" "$o64" "$t64" "$(ratio "$o64" "$t64")x" ">= 8x" ">=" 8 "$(ratio "$o64" "$t64")"
row "GRU h128, batch 64, Adam" "$og" "$tg" "$(ratio "$og" "$tg")x" ">= 6x" ">=" 6 "$(ratio "$og" "$tg")"
row "char_lm Elman h100, batch 1 (chars/s)" "$oc" "$tc" "$(ratio "$oc" "$tc")x" ">= 15x" ">=" 15 "$(ratio "$oc" "$tc")"
if [ -n "$asis" ]; then
  t1a=$(val t1a names_per_s); t64a=$(val t64a names_per_s); tga=$(val tgrua names_per_s); tca=$(val tca chars_per_s)
  row "  the same, PyTorch's OpenBLAS as installed" "$o1" "$t1a" "$(ratio "$o1" "$t1a")x" ">= 30x" ">=" 30 "$(ratio "$o1" "$t1a")"
  row "  (its $asis kernels): tutorial b1, b64," "$o64" "$t64a" "$(ratio "$o64" "$t64a")x" ">= 8x" ">=" 8 "$(ratio "$o64" "$t64a")"
  row "  GRU h128 b64, char_lm Elman h100 b1" "$og" "$tga" "$(ratio "$og" "$tga")x" ">= 6x" ">=" 6 "$(ratio "$og" "$tga")"
  row "" "$oc" "$tca" "$(ratio "$oc" "$tca")x" ">= 15x" ">=" 15 "$(ratio "$oc" "$tca")"
fi
row "GRU batch 64 run, 1 epoch: peak RSS" "${rss}MiB" "-" "${rss_mb}MB" "<= 10 MB" "<=" 10 "$rss_mb"
row "README GRU recipe, 1 core: wall" "${rec}s" "-" "${rec}s" "<= 30 s" "<=" 30 "$rec"
for k in nt_64x3072x1024 nn_64x1024x3072 tn_3072x1024x64; do
  g=$(val ours "kernel_${k}_gflops"); b=$(val blas "blas_${k}_gflops")
  row "GRU h1024 kernel $k (GFLOP/s)" "$g" "$b" "$(pct "$g" "$peak")%" ">= 80% of peak" ">=" 80 "$(pct "$g" "$peak")"
done
row "GRU h1024, batch 64, Adam: whole step" "$oh" "$th" "$(ratio "$oh" "$th")x" "(no target)" "-" 0
row "2 threads vs 1: tutorial, batch 64" "$o64t" "1t $o64" "$(ratio "$o64t" "$o64")x" ">= 1.85x" ">=" 1.85 "$(ratio "$o64t" "$o64")"
row "2 threads vs 1: GRU h128, batch 64" "$ogt" "1t $og" "$(ratio "$ogt" "$og")x" ">= 1.85x" ">=" 1.85 "$(ratio "$ogt" "$og")"
for r in tutorial_b1 tutorial_b64 gru_b64; do
  a=$(val ours "${r}_allocs_per_step")
  row "allocations/step after warm-up: $r" "$a" "-" "$a" "0" "=" 0
done
cat "$OUT/summary"
echo "$n_met of $n_rows targets met; peak $peak GFLOP/s; load average at the end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a); took $(($(date +%s) - start)) s"
