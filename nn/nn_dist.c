/* nn_dist.c -- gradients summed across processes on MPI, in a fixed order (nn_dist.h).
 * Built only with -DAG_MPI=ON, into its own library (nn_dist), so nn itself never
 * depends on MPI. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "nn_dist.h"

enum { MSG_MAX = 1024, TAG_CHAIN = 15 };

/* The one message buffer: grown to the largest sum asked for, freed by nn_dist_finalize.
 * Its size depends only on the model and n_vals, which are the same on every rank, so
 * every rank grows it at the same call and they can agree on the outcome there. */
static unsigned char *msg_buf;
static size_t msg_cap;
static int started_mpi; /* 1: nn_dist_init called MPI_Init_thread */

static int mpi_on(void)
{
    int on = 0, off = 0;
    MPI_Initialized(&on);
    if (on) MPI_Finalized(&off);
    return on && !off;
}

nn_status nn_dist_init(int *argc, char ***argv)
{
    if (mpi_on()) return NN_OK;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return NN_EIO;
    started_mpi = 1;
    return NN_OK;
}

void nn_dist_finalize(void)
{
    free(msg_buf);
    msg_buf = NULL;
    msg_cap = 0;
    if (started_mpi && mpi_on()) MPI_Finalize();
    started_mpi = 0;
}

int nn_dist_size(void)
{
    int n = 1;
    if (mpi_on()) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

int nn_dist_rank(void)
{
    int r = 0;
    if (mpi_on()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

/* 1 on every rank when any rank passes bad != 0. */
static int any(int bad)
{
    int all = bad != 0;
    if (nn_dist_size() > 1) MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return all;
}

/* msg_buf with room for n bytes, agreed: NN_OK on every rank, or NN_ENOMEM on every rank
 * when it could not grow on one. NN_EARG (everywhere alike: n is) past MPI's int count. */
static nn_status reserve(size_t n)
{
    if (n > INT_MAX) return NN_EARG;
    if (n <= msg_cap) return NN_OK;
    unsigned char *b = realloc(msg_buf, n);
    if (b) {
        msg_buf = b;
        msg_cap = n;
    }
    return any(b == NULL) ? NN_ENOMEM : NN_OK;
}

/* The message: [count][refused][sums: n_vals doubles][every gradient, parameter after
 * parameter]. count is how many parts the sum holds so far, refused how many ranks had a
 * part of another size than out (doubles, so the header stays aligned). */
enum { HEAD = 2 };

static size_t message_bytes(const nn_params *ps, int n_vals)
{
    return (size_t)(HEAD + n_vals) * sizeof(double) + (size_t)nn_params_numel(ps) * sizeof(ag_float);
}

/* acc (header + gradients) += one part: its gradients are copied when the sum is
 * still empty (so a lone part is exact, -0.0 included) and added otherwise, in ag_float,
 * element by element as nn_params_add_grads adds. */
static void add_part(unsigned char *acc, const nn_params *part, const double *vals, int n_vals)
{
    double *head = (double *)(void *)acc;
    ag_float *g = (ag_float *)(void *)(head + HEAD + n_vals);
    int first = head[0] == 0;
    for (int j = 0; j < n_vals; j++) head[HEAD + j] += vals[j];
    for (int k = 0; k < part->n; k++) {
        const ag_float *h = part->p[k]->grad;
        int n = part->p[k]->size;
        if (first) memcpy(g, h, (size_t)n * sizeof *g);
        else
            for (int j = 0; j < n; j++) g[j] += h[j];
        g += n;
    }
    head[0] += 1;
}

nn_status nn_dist_sum_grads(nn_params *out, nn_params *const *parts, int n_parts, const double *vals, int n_vals,
                            double *sums)
{
    if (n_parts < 0 || n_vals < 0 || (n_vals > 0 && !sums) || (n_vals > 0 && n_parts > 0 && !vals)) return NN_EARG;
    size_t bytes = message_bytes(out, n_vals);
    nn_status s = reserve(bytes);
    if (s != NN_OK) return s;
    int R = nn_dist_size(), rank = nn_dist_rank();
    double *head = (double *)(void *)msg_buf;
    if (rank == 0) memset(msg_buf, 0, (size_t)(HEAD + n_vals) * sizeof(double));
    else MPI_Recv(msg_buf, (int)bytes, MPI_BYTE, rank - 1, TAG_CHAIN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    long numel = nn_params_numel(out);
    int fits = 1;
    for (int k = 0; k < n_parts; k++) fits &= nn_params_numel(parts[k]) == numel;
    if (!fits) head[1] += 1; /* passed on, so that every rank refuses the sum */
    for (int k = 0; fits && k < n_parts; k++)
        add_part(msg_buf, parts[k], vals ? vals + (size_t)k * n_vals : NULL, n_vals);
    if (rank < R - 1) MPI_Send(msg_buf, (int)bytes, MPI_BYTE, rank + 1, TAG_CHAIN, MPI_COMM_WORLD);
    if (R > 1) MPI_Bcast(msg_buf, (int)bytes, MPI_BYTE, R - 1, MPI_COMM_WORLD);
    if (head[1] > 0) return NN_EMISMATCH;
    const ag_float *g = (const ag_float *)(const void *)(head + HEAD + n_vals);
    for (int k = 0; k < out->n; k++) {
        int n = out->p[k]->size;
        if (head[0] > 0) memcpy(out->p[k]->grad, g, (size_t)n * sizeof *g);
        else memset(out->p[k]->grad, 0, (size_t)n * sizeof *g);
        g += n;
    }
    for (int j = 0; j < n_vals; j++) sums[j] = head[HEAD + j];
    return NN_OK;
}

nn_status nn_dist_allreduce_grads(nn_params *ps)
{
    return nn_dist_sum_grads(ps, &ps, 1, NULL, 0, NULL);
}

nn_status nn_dist_broadcast_params(nn_params *ps)
{
    if (nn_dist_size() < 2) return NN_OK;
    size_t bytes = (size_t)nn_params_numel(ps) * sizeof(ag_float);
    nn_status s = reserve(bytes);
    if (s != NN_OK) return s;
    int root = nn_dist_rank() == 0;
    ag_float *v = (ag_float *)(void *)msg_buf;
    for (int k = 0; root && k < ps->n; k++) {
        memcpy(v, ps->p[k]->data, (size_t)ps->p[k]->size * sizeof *v);
        v += ps->p[k]->size;
    }
    MPI_Bcast(msg_buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    v = (ag_float *)(void *)msg_buf;
    for (int k = 0; !root && k < ps->n; k++) {
        memcpy(ps->p[k]->data, v, (size_t)ps->p[k]->size * sizeof *v);
        v += ps->p[k]->size;
    }
    return NN_OK;
}

int nn_dist_check(int failed, char *msg, size_t msglen)
{
    if (nn_dist_size() < 2) return failed ? 0 : -1;
    int mine = failed ? nn_dist_rank() : INT_MAX, low = INT_MAX;
    MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (low == INT_MAX) return -1;
    char text[MSG_MAX] = "";
    if (mine == low && msg) {
        strncpy(text, msg, MSG_MAX - 1);
        text[MSG_MAX - 1] = '\0';
    }
    MPI_Bcast(text, MSG_MAX, MPI_CHAR, low, MPI_COMM_WORLD);
    if (msg && msglen) {
        strncpy(msg, text, msglen - 1);
        msg[msglen - 1] = '\0';
    }
    return low;
}

/* FNV-1a, 64 bits: a fingerprint, not a defence against anyone. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The lowest rank whose h differs from rank 0's, or -1. */
static int differ(uint64_t h)
{
    if (nn_dist_size() < 2) return -1;
    uint64_t h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int mine = h0 == h ? INT_MAX : nn_dist_rank(), low = INT_MAX;
    MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return low == INT_MAX ? -1 : low;
}

int nn_dist_compare(const void *p, size_t n)
{
    uint64_t len = n;
    return differ(fnv(fnv(0xcbf29ce484222325ull, &len, sizeof len), p, n));
}

int nn_dist_compare_params(const nn_params *ps, int grads)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, &ps->n, sizeof ps->n);
    for (int k = 0; k < ps->n; k++) {
        const ag_tensor *t = ps->p[k];
        h = fnv(h, t->name, strlen(t->name) + 1);
        h = fnv(h, &t->rank, sizeof t->rank);
        h = fnv(h, t->shape, (size_t)t->rank * sizeof t->shape[0]);
        const ag_float *v = grads ? t->grad : t->data;
        if (v) h = fnv(h, v, (size_t)t->size * sizeof *v);
    }
    return differ(h);
}
