#!/bin/sh
# bench/run.sh [DATA_DIR] -- our speed figures and PyTorch's, back to back on the same
# machine and data, and the ratios. Needs PyTorch from Debian for the reference:
#   apt-get install -y python3-torch libopenblas0-pthread
set -eu
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/names}
REF=../shared/bench/torch_names.py
PY=/usr/bin/python3
B1=${B1:-20000}          # names for the batch-1 runs
OUT=$(mktemp -d /tmp/bench.XXXXXX)

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAG_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target bench_names rnn_names >/dev/null
echo "== ours (bench_names: 1 thread, then the batch-64 runs on 2)"
./build-bench/bench_names "$DATA" "$B1" | tee "$OUT/ours"
echo "== peak memory of whole training runs (rnn_names train)"
./build-bench/rnn_names train --data "$DATA" --iters "$B1" --quiet --save "$OUT/m.ckpt" 2>/dev/null |
  sed -n 's/^peak_rss_mb=/run_tutorial_b1_peak_rss_mb=/p' | tee -a "$OUT/ours"
./build-bench/rnn_names train --data "$DATA" --batch 64 --iters $((10 * B1)) --quiet --save "$OUT/m64.ckpt" 2>/dev/null |
  sed -n 's/^peak_rss_mb=/run_tutorial_b64_peak_rss_mb=/p' | tee -a "$OUT/ours"
./build-bench/rnn_names train --data "$DATA" --model gru --batch 64 --optim adam --lr 0.002 --clip 3 --epochs 1 \
  --quiet --save "$OUT/g.ckpt" 2>/dev/null | sed -n 's/^peak_rss_mb=/run_gru_b64_peak_rss_mb=/p' | tee -a "$OUT/ours"

if ! $PY -c "import torch" 2>/dev/null; then
  echo "PyTorch is not installed: apt-get install -y python3-torch libopenblas0-pthread"; exit 1
fi
echo "== PyTorch $($PY -c 'import torch; print(torch.__version__)') (1 thread)"
$PY "$REF" --data "$DATA" --mode persample --iters "$B1" --no-eval | tee "$OUT/t1"
$PY "$REF" --data "$DATA" --mode batched --iters $((10 * B1)) --batch 64 --no-eval | tee "$OUT/t64"
$PY "$REF" --data "$DATA" --mode gru --iters 17961 --batch 64 --lr 0.002 | tee "$OUT/tgru"
echo "== OpenBLAS sgemm through torch.mm, 1 thread, same shapes as the kernels"
$PY - <<'PY' | tee "$OUT/blas"
import time, torch
torch.set_num_threads(1)
for name, (n, m, k) in [("nt", (64, 128, 185)), ("nt", (64, 18, 185)), ("nn", (64, 185, 128)), ("tn", (128, 185, 64)), ("nt", (1, 128, 185))]:
    a = torch.rand(n, k) if name != "tn" else torch.rand(k, n)
    b = torch.rand(m, k) if name == "nt" else torch.rand(k, m)
    f = (lambda: a @ b.t()) if name == "nt" else (lambda: a @ b) if name == "nn" else (lambda: a.t() @ b)
    for _ in range(100): f()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        for _ in range(100): f()
        reps += 100
    print(f"blas_{name}_{n}x{m}x{k}_gflops={2*n*m*k*reps/(time.perf_counter()-t0)/1e9:.2f}")
PY

val() { sed -n "s/^.*$2=\([0-9.]*\).*$/\1/p" "$OUT/$1" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "== ratios (ours / PyTorch)"
o1=$(val ours tutorial_b1_names_per_s); t1=$(val t1 names_per_s)
o64=$(val ours tutorial_b64_names_per_s); t64=$(val t64 names_per_s)
og=$(val ours gru_b64_names_per_s); tg=$(val tgru names_per_s)
echo "tutorial batch 1:  ours $o1 names/s, PyTorch $t1 names/s, ratio $(ratio "$o1" "$t1") (target 20)"
echo "tutorial batch 64: ours $o64 names/s, PyTorch $t64 names/s, ratio $(ratio "$o64" "$t64") (target 3)"
echo "gru batch 64:  ours $og names/s, PyTorch $tg names/s, ratio $(ratio "$og" "$tg") (target 3)"
o64t=$(val ours tutorial_b64_2threads_names_per_s); ogt=$(val ours gru_b64_2threads_names_per_s)
echo "2 threads: tutorial batch 64 $o64t names/s, $(ratio "$o64t" "$o64")x one thread; gru batch 64 $ogt names/s, $(ratio "$ogt" "$og")x one thread (target 1.6)"
peak=$(val ours peak_fp32_gflops)
for k in nt_64x128x185 nt_64x18x185 nn_64x185x128 tn_128x185x64 nt_1x128x185; do
  g=$(val ours "kernel_${k}_gflops"); b=$(val blas "blas_${k}_gflops")
  echo "kernel $k: ours $g GFLOP/s ($(ratio "$g" "$peak") of peak $peak), OpenBLAS $b GFLOP/s"
done
echo "allocations per step after warm-up: tutorial batch 1 $(val ours tutorial_b1_allocs_per_step), gru batch 64 $(val ours gru_b64_allocs_per_step)"
echo "peak memory of a training run (max RSS, MiB): tutorial batch 1 $(val ours run_tutorial_b1_peak_rss_mb), tutorial batch 64 $(val ours run_tutorial_b64_peak_rss_mb), gru batch 64 $(val ours run_gru_b64_peak_rss_mb) (target < 20 MB)"
rm -rf "$OUT"
