#!/usr/bin/env bash
# CI, issue 15: training across processes on MPI. Installs Open MPI if it is missing,
# configures build-mpi with -DAG_MPI=ON, builds, and runs the MPI tests:
#   test_nn_dist, test_nn_dist_np2  nn_dist.h on 3 and 2 ranks (sums bit for bit in rank order, ...)
#   test_mpi_train                  rnn_names train under mpirun: -np 2 = --threads 2 byte for
#                                   byte, -np 3 on uneven slices, kill and --resume on another
#                                   process count, a rank failing at start-up stops all
#   test_mpi_char_lm                char_lm train under mpirun: -np 2 --batch 4 = one process
#                                   --batch 4 byte for byte (and -np 3 --batch 5), --resume on
#                                   another process count, -np 3 --batch 2 refused, rank 0
#                                   failing alone stops all
#   test_mpi_names                  names_train on 2 ranks: rank 1 out of memory (before the
#                                   first step, inside it) stops both with one message
#   test_guide_mpi_example(_np2)    docs/guide.md's MPI program, alone and on 2 ranks
#   test_api_docs                   nn_dist.h's functions are in docs/api.md
# mpirun runs more processes than this machine has cores (--oversubscribe) and, as root,
# with OMPI_ALLOW_RUN_AS_ROOT; every run in the tests is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

if ! command -v mpirun >/dev/null 2>&1 || ! dpkg -s libopenmpi-dev >/dev/null 2>&1; then
  apt-get update && apt-get install -y libopenmpi-dev openmpi-bin
fi
command -v cmake >/dev/null 2>&1 && dpkg -s libcmocka-dev >/dev/null 2>&1 ||
  { apt-get update && apt-get install -y gcc make cmake pkg-config libcmocka-dev; }

echo "== MPI build (AG_MPI=ON): build-mpi"
cmake -S . -B build-mpi -DAG_MPI=ON -DAG_BUILD_TESTS=ON
cmake --build build-mpi -j2 --target rnn_names char_lm test_nn_dist test_mpi_names test_guide_mpi_example
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build-mpi --output-on-failure --no-tests=error \
  -R '^(test_nn_dist|test_nn_dist_np2|test_mpi_train|test_mpi_char_lm|test_mpi_names|test_guide_mpi_example|test_guide_mpi_example_np2|test_api_docs)$'
echo "mpi: passed in $(($(date +%s) - start)) s"
