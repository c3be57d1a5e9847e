#!/bin/sh
# test_mpi_train.sh BIN MPIRUN [MPIRUN FLAGS...] -- rnn_names train under mpirun (built
# with -DAG_MPI=ON):
#   - `-np 2` writes the same checkpoint (and loss curve), byte for byte, as `--threads 2`
#     with the same seed; `-np 3` as `--threads 3`, on batches of 13 names (uneven slices,
#     a short last batch); `-np 2 --threads 2` as `--threads 4`;
#   - a run on 2 processes x 2 threads killed and resumed on 3 processes (4 slices: 1, 1
#     and 2 per process), and resumed in one process, ends as the uninterrupted run;
#   - a rank that fails at start-up (bad --data on rank 1 only, another copy of the data,
#     another seed) stops every rank with a message, never a hang (timeout 60 s each);
#   - a checkpoint of 2 slices is refused on 3 processes.
# Every run is bounded by `timeout`: a hang fails the test instead of blocking CTest.
set -u
BIN=$1
shift
MPI="$*"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d /tmp/mpi_train.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok: $1"; }
bad() { fails=$((fails + 1)); echo "FAIL: $1"; }
run() { timeout 60 "$@"; }

S="--model gru --bidirectional --pool mean --dropout 0.2 --optim adam --lr 0.003 --schedule cosine --clip 2
   --letter-noise 0.1 --hidden 16 --quiet"

# same NAME MPI_PROCS MPI_FLAGS THREADS SETTINGS...: mpirun -np MPI_PROCS with MPI_FLAGS
# against one process with THREADS threads
same() {
  name=$1 np=$2 mflags=$3 threads=$4
  shift 4
  run "$BIN" train "$@" --threads "$threads" --save "$T/$name-t.ckpt" >"$T/$name-t.out" 2>&1 ||
    { bad "$name: --threads $threads"; cat "$T/$name-t.out"; return; }
  # shellcheck disable=SC2086
  run $MPI -np "$np" "$BIN" train "$@" $mflags --save "$T/$name-m.ckpt" >"$T/$name-m.out" 2>&1 ||
    { bad "$name: -np $np"; cat "$T/$name-m.out"; return; }
  if cmp -s "$T/$name-t.ckpt" "$T/$name-m.ckpt" && cmp -s "$T/$name-t.loss.csv" "$T/$name-m.loss.csv"; then
    ok "$name: -np $np $mflags gives the checkpoint of --threads $threads, byte for byte"
  else
    bad "$name: -np $np $mflags and --threads $threads differ"
  fi
  grep -q "^test_accuracy=" "$T/$name-m.out" && [ "$(grep -c '^test_accuracy=' "$T/$name-m.out")" -eq 1 ] ||
    bad "$name: the report is not printed once (rank 0 alone)"
}

# shellcheck disable=SC2086
same np2 2 "" 2 $S --epochs 2 --batch 16
# shellcheck disable=SC2086
same np3-uneven 3 "" 3 $S --epochs 2 --batch 13
# shellcheck disable=SC2086
same np2x2 2 "--threads 2" 4 $S --iters 700 --batch 11

# killed on 2 processes x 2 threads, resumed on 3 and in one process
R="--model gru --dropout 0.2 --optim adam --lr 0.003 --hidden 32 --epochs 12 --batch 16 --quiet"
# shellcheck disable=SC2086
run "$BIN" train $R --threads 4 --save "$T/full.ckpt" >/dev/null 2>&1 || bad "resume: the uninterrupted run"
# shellcheck disable=SC2086
$MPI -np 2 "$BIN" train $R --threads 2 --save-every 1000 --save "$T/cut.ckpt" >/dev/null 2>&1 &
pid=$!
i=0
while [ ! -e "$T/cut.ckpt" ] && kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null
# mpirun ends its processes on SIGTERM; wait (up to 10 s) until none is left that could still save
i=0
while pgrep -f "$T/cut.ckpt" >/dev/null 2>&1 && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
at=$(grep -a '^state.names_seen=' "$T/cut.ckpt" | head -1)
grep -aq '^threads=4$' "$T/cut.ckpt" || bad "resume: the checkpoint of 2 x 2 does not record threads=4"
cp "$T/cut.ckpt" "$T/cut1.ckpt"
run $MPI -np 3 "$BIN" train --resume "$T/cut.ckpt" --quiet >"$T/r3.out" 2>&1 || { bad "resume on 3 processes"; cat "$T/r3.out"; }
cmp -s "$T/full.ckpt" "$T/cut.ckpt" && ok "killed on 2 x 2 after $at, resumed on 3 processes: identical" ||
  bad "resumed on 3 processes (from $at) differs from the uninterrupted run"
run "$BIN" train --resume "$T/cut1.ckpt" --quiet >/dev/null 2>&1 || bad "resume in one process"
cmp -s "$T/full.ckpt" "$T/cut1.ckpt" && ok "the same checkpoint resumed in one process (4 threads): identical" ||
  bad "resumed in one process (from $at) differs from the uninterrupted run"

# a rank that fails at start-up stops every rank, with a message
# fails NAME PATTERN... -- (mpirun arguments): exit status not 0, within the timeout, and each pattern in the output
fails_with() {
  name=$1
  shift
  pats=""
  while [ "$1" != "--" ]; do pats="$pats|$1"; shift; done
  shift
  start=$(date +%s)
  timeout 60 "$@" >"$T/f.out" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -eq 124 ]; then bad "$name: hung (killed after 60 s)"; return; fi
  if [ $rc -eq 0 ]; then bad "$name: succeeded"; return; fi
  IFS='|'
  for p in ${pats#|}; do
    grep -q "$p" "$T/f.out" || { unset IFS; bad "$name: no '$p' in:"; cat "$T/f.out"; return; }
  done
  unset IFS
  ok "$name: every rank stopped (exit $rc, ${took} s) with the message"
}
F="--model gru --hidden 8 --epochs 1 --batch 16 --quiet"
# shellcheck disable=SC2086
fails_with "bad --data on rank 1" "rank 1 of 2 cannot go on" "/nonexistent: cannot open data directory" -- \
  $MPI -np 1 "$BIN" train $F --save "$T/f.ckpt" : -np 1 "$BIN" train $F --data /nonexistent --save "$T/f.ckpt"
mkdir "$T/d1" "$T/d2"
printf 'Smith\nJones\nBaker\nBrown\nTaylor\n' > "$T/d1/English.txt"
printf 'Tanaka\nSato\nHonda\nIto\nSuzuki\n' > "$T/d1/Japanese.txt"
cp "$T/d1/"* "$T/d2/"
echo Kato >> "$T/d2/Japanese.txt"
# shellcheck disable=SC2086
fails_with "another copy of the data on rank 1" "rank 1's training names differ from rank 0's" -- \
  $MPI -np 1 "$BIN" train $F --data "$T/d1" --save "$T/f.ckpt" : -np 1 "$BIN" train $F --data "$T/d2" --save "$T/f.ckpt"
# shellcheck disable=SC2086
fails_with "another seed on rank 2" "rank 2's settings or starting state differ" -- \
  $MPI -np 2 "$BIN" train $F --save "$T/f.ckpt" : -np 1 "$BIN" train $F --seed 7 --save "$T/f.ckpt"
[ -e "$T/f.ckpt" ] && bad "a run that stopped at start-up wrote a checkpoint"
# shellcheck disable=SC2086
run "$BIN" train $F --threads 2 --save "$T/two.ckpt" >/dev/null 2>&1
fails_with "2 slices on 3 processes" "use at most 2 processes" -- $MPI -np 3 "$BIN" train --resume "$T/two.ckpt" --quiet

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
