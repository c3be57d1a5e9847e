#!/bin/sh
# test_api_docs.sh ROOT -- every public function declared in ag.h, nn.h and nn_dist.h
# (the MPI part, built with -DAG_MPI=ON) is in docs/api.md, so the reference cannot fall
# behind the headers.
set -u
ROOT=$1
missing=0
count=0
for f in $(grep -hoE '^[a-z][a-z0-9_ ]*[ *](ag|nn)_[a-z0-9_]+\(' "$ROOT/autograd/include/ag.h" "$ROOT/nn/include/nn.h" \
                                                            "$ROOT/nn/include/nn_dist.h" |
           grep -oE '(ag|nn)_[a-z0-9_]+\($' | tr -d '(' | sort -u); do
  count=$((count + 1))
  grep -q "\b$f\b" "$ROOT/docs/api.md" || { echo "docs/api.md does not mention $f"; missing=$((missing + 1)); }
done
echo "$count public functions, $missing missing from docs/api.md"
[ "$count" -gt 90 ] && [ "$missing" -eq 0 ] && echo "1 passed, 0 failed"
