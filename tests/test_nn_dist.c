/* test_nn_dist.c -- nn_dist.h under mpirun (any number of ranks; CTest runs 3): the
 * gradient sum is the left fold in rank order, bit for bit, with several parts or none
 * on a rank; values are summed the same way; broadcast, agreement on a failure, and the
 * comparisons. Each rank checks on its own and the program fails when any rank does.
 * Plain C (no cmocka): every rank must make the same calls in the same order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn_dist.h"

static int fails;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "rank %d: FAIL line %d: ", nn_dist_rank(), __LINE__);                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            fails++;                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Two parameters, (3, 5) and (7), as any model's registry. */
static void model(nn_params *ps)
{
    nn_params_init(ps);
    nn_params_new(ps, "fc.", "weight", 2, (int[]){3, 5});
    nn_params_new(ps, "fc.", "bias", 1, (int[]){7});
}

/* Part k of rank r's gradient j: values whose sum depends on the order of the adds in
 * float (1e8 and 1 do not commute with -1e8), and a -0.0 that a sum starting from +0
 * would lose. */
static float grad_value(int r, int k, int j)
{
    static const float v[] = {1e8f, 1.0f, -1e8f, 3.25f, 1e-3f, -7.5f, 0.1f};
    if (j == 0) return -0.0f;
    return v[(r * 3 + k * 5 + j) % 7] * (float)(1 + (j % 3));
}

/* How many parts rank r brings: rank 1 brings none, rank 2 two, the others one. */
static int parts_of(int r)
{
    return r == 1 ? 0 : r == 2 ? 2 : 1;
}

static void fill(nn_params *ps, int r, int k)
{
    for (int i = 0, j = 0; i < ps->n; i++)
        for (int e = 0; e < ps->p[i]->size; e++, j++) ps->p[i]->grad[e] = grad_value(r, k, j);
}

int main(int argc, char **argv)
{
    if (nn_dist_init(&argc, &argv) != NN_OK) {
        fprintf(stderr, "cannot start MPI\n");
        return 1;
    }
    int R = nn_dist_size(), rank = nn_dist_rank();
    CHECK(R >= 1 && rank >= 0 && rank < R, "size %d rank %d", R, rank);

    /* nn_dist_sum_grads: the fold over ranks, then parts, in float, starting from the first part */
    nn_params mine[2], out;
    model(&mine[0]);
    model(&mine[1]);
    model(&out);
    int np = parts_of(rank);
    double vals[4];
    for (int k = 0; k < np; k++) {
        fill(&mine[k], rank, k);
        vals[2 * k] = 0.1 * (rank + 1) + k; /* a "loss" */
        vals[2 * k + 1] = 1;                /* a count */
    }
    nn_params *parts[2] = {&mine[0], &mine[1]};
    double sums[2] = {-1, -1};
    CHECK(nn_dist_sum_grads(&out, parts, np, vals, 2, sums) == NN_OK, "sum_grads failed");
    long n = nn_params_numel(&out);
    float want[64];
    double want_loss = 0, want_count = 0;
    int seen = 0;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < parts_of(r); k++) {
            for (int j = 0; j < n; j++) want[j] = seen ? want[j] + grad_value(r, k, j) : grad_value(r, k, j);
            want_loss += 0.1 * (r + 1) + k;
            want_count += 1;
            seen = 1;
        }
    for (int i = 0, j = 0; i < out.n; i++)
        for (int e = 0; e < out.p[i]->size; e++, j++) {
            float got = out.p[i]->grad[e], w = seen ? want[j] : 0.0f;
            CHECK(memcmp(&got, &w, sizeof got) == 0, "gradient %d: %.9g, want %.9g (bit for bit)", j, got, w);
        }
    CHECK(sums[0] == want_loss && sums[1] == want_count, "sums %.17g %g, want %.17g %g", sums[0], sums[1], want_loss,
          want_count);

    /* nn_dist_allreduce_grads: one part per rank, into the same registry */
    fill(&mine[0], rank, 0);
    CHECK(nn_dist_allreduce_grads(&mine[0]) == NN_OK, "allreduce failed");
    for (int j = 0; j < n; j++) {
        float w = grad_value(0, 0, j);
        for (int r = 1; r < R; r++) w += grad_value(r, 0, j);
        float got = j < 15 ? mine[0].p[0]->grad[j] : mine[0].p[1]->grad[j - 15];
        CHECK(memcmp(&got, &w, sizeof got) == 0, "allreduce %d: %.9g, want %.9g", j, got, w);
    }

    /* a part of another size on the last rank: refused on every rank, out unchanged */
    nn_params odd;
    nn_params_init(&odd);
    nn_params_new(&odd, "fc.", "weight", 2, (int[]){3, 4});
    nn_params *one[1] = {rank == R - 1 ? &odd : &mine[0]};
    float before = mine[0].p[1]->grad[3];
    CHECK(nn_dist_sum_grads(&mine[0], one, 1, NULL, 0, NULL) == NN_EMISMATCH, "a part of another size was summed");
    CHECK(mine[0].p[1]->grad[3] == before, "a refused sum changed the gradients");
    nn_params_free(&odd);

    /* nn_dist_broadcast_params: rank 0's values everywhere */
    for (int i = 0; i < out.n; i++) ag_fill(out.p[i], (ag_float)(rank + 1));
    CHECK(nn_dist_broadcast_params(&out) == NN_OK, "broadcast failed");
    for (int i = 0; i < out.n; i++)
        for (int e = 0; e < out.p[i]->size; e++) CHECK(out.p[i]->data[e] == 1, "broadcast value %g", out.p[i]->data[e]);
    CHECK(nn_dist_compare_params(&out, 0) == -1, "parameters differ after a broadcast");

    /* nn_dist_check: nobody fails; then the last rank (and rank 1, when there are 3) fails */
    char msg[64] = "fine";
    CHECK(nn_dist_check(0, msg, sizeof msg) == -1, "a failure where there was none");
    int bad = rank == R - 1 || (R > 2 && rank == 1);
    snprintf(msg, sizeof msg, "rank %d ran out of something", rank);
    int low = R > 2 ? 1 : R - 1;
    int who = nn_dist_check(bad, msg, sizeof msg);
    char expect[64];
    snprintf(expect, sizeof expect, "rank %d ran out of something", low);
    CHECK(who == low && !strcmp(msg, expect), "check gave %d '%s', want %d '%s'", who, msg, low, expect);

    /* nn_dist_compare: the same bytes; then the last rank's differ */
    char text[32] = "settings=1";
    CHECK(nn_dist_compare(text, strlen(text)) == -1, "equal bytes compared as different");
    if (rank == R - 1 && R > 1) text[9] = '2';
    CHECK(nn_dist_compare(text, strlen(text)) == (R > 1 ? R - 1 : -1), "different bytes not found");
    if (rank == R - 1 && R > 1) out.p[1]->data[6] = nextafterf(1.0f, 2.0f);
    CHECK(nn_dist_compare_params(&out, 0) == (R > 1 ? R - 1 : -1), "a parameter one ulp off not found");

    nn_params_free(&mine[0]);
    nn_params_free(&mine[1]);
    nn_params_free(&out);
    int any = nn_dist_check(fails != 0, NULL, 0);
    if (rank == 0) printf("nn_dist on %d ranks: %s\n", R, any < 0 ? "1 passed, 0 failed" : "FAILED");
    nn_dist_finalize();
    return any < 0 ? 0 : 1;
}
