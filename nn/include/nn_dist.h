/* nn_dist.h -- data-parallel training across processes on MPI (built only with
 * -DAG_MPI=ON: the library nn_dist, which links nn and the MPI library).
 *
 * Overview
 * --------
 * R processes (ranks, started by `mpirun -np R`) each hold a copy of the same model.
 * Each takes its part of a batch, runs forward and backward on it, and then
 * nn_dist_allreduce_grads adds every rank's gradients so that each rank holds the
 * batch's gradient; each rank then takes the same optimizer step, and the copies stay
 * equal without ever sending a parameter.
 *
 *     nn_dist_init(&argc, &argv);                   // MPI_Init, once per process
 *     ... build the model from one seed on every rank, or nn_dist_broadcast_params(&ps)
 *     // per step:  nn_params_zero_grad(&ps); forward and backward on this rank's part;
 *     //            nn_dist_allreduce_grads(&ps);      // every rank: the sum of all parts
 *     //            nn_optim_step(&opt);               // the same step on every rank
 *     nn_dist_finalize();
 *
 * Determinism: MPI_Allreduce adds in an order of the implementation's choosing, so
 * runs could differ in their last bits. Here the sum is a chain in rank order: rank 0
 * sends its gradients to rank 1, which adds its own and passes the sum on, and the last
 * rank broadcasts the total: ((g0 + g1) + g2) + ..., element by element in ag_float,
 * exactly what nn_params_add_grads gives when one process adds the same copies in the
 * same order. A given model, data and number of ranks give the same sums on every run.
 *
 * Collectives: every function below except nn_dist_size and nn_dist_rank must be
 * called by every rank, in the same order, with registries of the same layout (the
 * same model). A function that can fail agrees on the failure first (an allocation
 * that fails on one rank fails the call on every rank), so no rank waits for one that
 * has given up. An MPI error (a process that died, a lost connection) ends every
 * process: MPI's default error handler, kept on purpose. Only the calling thread
 * uses MPI (MPI_THREAD_FUNNELED): threads of your own must not call these.
 *
 * Before nn_dist_init, or when it was never called, the process is rank 0 of 1 and
 * every function works on that one process (a sum of one, a broadcast to itself).
 */
#ifndef NN_DIST_H
#define NN_DIST_H

#include <stddef.h>

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) unless it already is;
 * argc and argv may be NULL. NN_OK, or NN_EIO when MPI cannot start. */
nn_status nn_dist_init(int *argc, char ***argv);

/* Frees nn_dist's message buffer and finalises MPI (when nn_dist_init started it and it
 * is not finalised yet). Collective. */
void nn_dist_finalize(void);

/* The number of processes and this one's rank, 0 .. size-1 (1 and 0 without MPI). */
int nn_dist_size(void);
int nn_dist_rank(void);

/* ps's gradients := the sum of every rank's ps gradients, in rank order (above), on
 * every rank. NN_OK; NN_ENOMEM on every rank when the message buffer could not grow on
 * one (gradients then unchanged); NN_EARG when the model is over 2^31 bytes. */
nn_status nn_dist_allreduce_grads(nn_params *ps);

/* The general form, for a rank that trains several copies of the model (threads) or
 * none in a step: out's gradients := the sum, over ranks in rank order and within a
 * rank over parts[0..n_parts) in order, of every part's gradients; a rank may pass
 * n_parts = 0 (it adds nothing; with no part anywhere the sum is 0). out may be one of
 * the parts. With n_vals > 0, vals[k * n_vals + j] is part k's value j (a loss, a count,
 * a flag) and sums[0..n_vals) receives, on every rank, the sum of value j over all parts
 * in the same order, in double, starting from 0. So R ranks of T copies give bit for bit
 * what one process gives adding R*T copies in order with nn_params_add_grads. The
 * layout and n_vals must be the same on every rank. Errors as above, and NN_EMISMATCH
 * on every rank (out unchanged) when a part on some rank has another number of values
 * than out. */
nn_status nn_dist_sum_grads(nn_params *out, nn_params *const *parts, int n_parts, const double *vals, int n_vals,
                            double *sums);

/* Every rank's parameter values := rank 0's (data only; gradients untouched). NN_OK,
 * NN_ENOMEM (on every rank), NN_EARG (over 2^31 bytes). */
nn_status nn_dist_broadcast_params(nn_params *ps);

/* Agreement on failure: every rank passes failed (0: all went well) and, when it
 * failed, a message in msg. Returns -1 when no rank failed; else the lowest rank that
 * failed, and msg (msglen bytes, the same or not on every rank) then holds that rank's
 * message on every rank, cut to 1023 bytes. Call it where one rank may fail alone
 * (reading its data, a file, memory) before the next step that needs every rank. */
int nn_dist_check(int failed, char *msg, size_t msglen);

/* The lowest rank whose n bytes at p differ from rank 0's (compared by a 64-bit hash
 * of the bytes and their count), or -1 when all agree: settings, data or a checkpoint
 * that every rank must hold alike. */
int nn_dist_compare(const void *p, size_t n);

/* The same for the values (grads 0) or the gradients (1) of ps, with every parameter's
 * name and shape. */
int nn_dist_compare_params(const nn_params *ps, int grads);

#ifdef __cplusplus
}
#endif

#endif
