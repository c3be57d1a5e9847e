#!/bin/sh
# test_mpi_char_lm.sh BIN MPIRUN [MPIRUN FLAGS...] -- char_lm train under mpirun (built with
# -DAG_MPI=ON; issue 15):
#   - `-np 2 --batch 4` writes the same checkpoint and loss curve, byte for byte, as one
#     process with `--batch 4` (gru); `-np 3 --batch 5` (blocks of 1, 2 and 2 streams, a
#     2-layer LSTM, clipping) as one process;
#   - a run of 4 streams stopped after 20 steps on 2 processes, resumed on 3 processes to
#     step 35 and in one process to step 50 (and the other way round), ends as the run
#     that never stopped;
#   - more processes than streams (-np 3 --batch 2, also on --resume) is refused on every
#     rank with a message, nothing written;
#   - rank 0 failing alone at start-up (--save in a directory that does not exist: only
#     rank 0 writes) stops every rank with a message, never a hang.
# Every run is bounded by `timeout`: a hang fails the test instead of blocking CTest.
set -u
BIN=$1
shift
MPI="$*"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d /tmp/mpi_char_lm.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok: $1"; }
bad() { fails=$((fails + 1)); echo "FAIL: $1"; }
run() { timeout 60 "$@"; }
mpi() { np=$1; shift; run $MPI -np "$np" "$BIN" train "$@"; } # shellcheck disable=SC2086

# same NAME NP SETTINGS...: mpirun -np NP against one process, the same settings
same() {
  name=$1 np=$2
  shift 2
  run "$BIN" train "$@" --save "$T/$name-1.ckpt" >"$T/$name-1.out" 2>&1 ||
    { bad "$name: one process"; cat "$T/$name-1.out"; return; }
  mpi "$np" "$@" --save "$T/$name-m.ckpt" >"$T/$name-m.out" 2>&1 ||
    { bad "$name: -np $np"; cat "$T/$name-m.out"; return; }
  if cmp -s "$T/$name-1.ckpt" "$T/$name-m.ckpt" && cmp -s "$T/$name-1.loss.svg" "$T/$name-m.loss.svg"; then
    ok "$name: -np $np gives the checkpoint and loss curve of one process, byte for byte"
  else
    bad "$name: -np $np and one process differ"
  fi
  [ "$(grep -c '^steps=' "$T/$name-m.out")" -eq 1 ] || bad "$name: the summary is not printed once (rank 0 alone)"
  [ "$(grep -c '^step ' "$T/$name-m.out")" -eq "$(grep -c '^step ' "$T/$name-1.out")" ] ||
    bad "$name: progress is not printed by rank 0 alone"
}

same gru4 2 --batch 4 --model gru --hidden 24 --steps 30 --log-every 10 --save-every 10
same lstm5 3 --batch 5 --model lstm --layers 2 --hidden 16 --steps 25 --clip 1 --optim adagrad --log-every 5

# a resume across process counts; 4 streams, 40 steps (48 chunks per epoch: the state
# carried over is not zero)
S="--batch 4 --model lstm --hidden 16 --log-every 5 --quiet"
run "$BIN" train $S --steps 50 --save "$T/full.ckpt" >/dev/null 2>&1 || bad "the uninterrupted run"
mpi 2 $S --steps 20 --save "$T/r.ckpt" >/dev/null 2>&1 &&
  mpi 3 --resume "$T/r.ckpt" --steps 35 --quiet >/dev/null 2>&1 &&
  run "$BIN" train --resume "$T/r.ckpt" --steps 50 --quiet >/dev/null 2>&1
if [ $? -eq 0 ] && cmp -s "$T/r.ckpt" "$T/full.ckpt" && cmp -s "$T/r.loss.svg" "$T/full.loss.svg"; then
  ok "-np 2, then --resume on -np 3, then in one process: the checkpoint of the run that never stopped"
else
  bad "a resume across process counts differs from the run that never stopped"
fi
run "$BIN" train $S --steps 15 --save "$T/q.ckpt" >/dev/null 2>&1 &&
  mpi 4 --resume "$T/q.ckpt" --steps 50 --quiet >/dev/null 2>&1
if [ $? -eq 0 ] && cmp -s "$T/q.ckpt" "$T/full.ckpt"; then
  ok "one process, then --resume on -np 4: the same checkpoint"
else
  bad "one process resumed on -np 4 differs"
fi

# more processes than streams: refused on every rank, no hang, nothing written
mpi 3 --batch 2 --steps 5 --save "$T/no.ckpt" >"$T/no.out" 2>&1
rc=$?
n=$(grep -c 'batch 2 streams cannot be split over 3 processes' "$T/no.out")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -eq 3 ] && [ ! -e "$T/no.ckpt" ]; then
  ok "-np 3 --batch 2 is refused by every rank with a message (exit $rc)"
else
  bad "-np 3 --batch 2: exit $rc, $n messages"; cat "$T/no.out"
fi
run "$BIN" train --batch 2 --hidden 8 --steps 3 --quiet --save "$T/two.ckpt" >/dev/null 2>&1
mpi 3 --resume "$T/two.ckpt" --steps 6 >"$T/no2.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'cannot be split over 3 processes' "$T/no2.out"; then
  ok "a checkpoint of 2 streams is refused on 3 processes"
else
  bad "--resume of 2 streams on 3 processes: exit $rc"; cat "$T/no2.out"
fi

# rank 0 fails alone at start-up: every rank stops, with a message
mpi 2 --batch 4 --steps 5 --save "$T/missing/dir/x.ckpt" >"$T/fail.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'cannot write --save' "$T/fail.out" &&
  grep -q 'stopping: process 0 of 2 failed' "$T/fail.out"; then
  ok "rank 0 failing alone stops both ranks with its message (exit $rc)"
else
  bad "rank 0 failing alone: exit $rc"; cat "$T/fail.out"
fi

echo "test_mpi_char_lm: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
