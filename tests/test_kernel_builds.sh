#!/bin/sh
# test_kernel_builds.sh BIN -- the AVX2 and AVX-512 builds of the kernels (ag_kernels.c)
# add the same products in the same order, both fused, so a training run ends with the
# same checkpoint byte for byte on either (AG_KERNELS=avx2 picks the AVX2 build on an
# AVX-512 processor): every op that uses the kernels (linear, the GRU and LSTM cells'
# products, exp, tanh and sigmoid in the cells) is in these runs. Skipped (77) on a
# processor without AVX-512, which has only one of the two to run.
set -u
BIN=$1
T=$(mktemp -d /tmp/kernel_builds.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0

# (registered only for x86-64 builds with the AVX2 and AVX-512 kernels: tests/CMakeLists.txt)
for f in avx512f avx512bw avx512dq avx512vl avx2 fma; do
  grep -qw "$f" /proc/cpuinfo 2>/dev/null || { echo "skipped: this processor has no $f, so it runs one build only"; exit 77; }
done
for model in gru lstm tutorial; do
  set -- train --model "$model" --hidden 24 --batch 8 --epochs 1 --dropout 0.1 --optim adam --clip 1 --quiet
  [ "$model" = tutorial ] && set -- train --model tutorial --hidden 24 --iters 300 --quiet
  "$BIN" "$@" --save "$T/$model-avx512.ckpt" >/dev/null 2>&1 || { echo "FAIL: $model: the AVX-512 run"; fails=$((fails + 1)); continue; }
  AG_KERNELS=avx2 "$BIN" "$@" --save "$T/$model-avx2.ckpt" >/dev/null 2>&1 || { echo "FAIL: $model: the AVX2 run"; fails=$((fails + 1)); continue; }
  if cmp -s "$T/$model-avx512.ckpt" "$T/$model-avx2.ckpt"; then echo "$model: AVX2 and AVX-512 checkpoints identical"
  else echo "FAIL: $model: the AVX2 and AVX-512 runs' checkpoints differ"; fails=$((fails + 1)); fi
done
[ $fails -eq 0 ]
