/* test_mpi_names.c -- names_train across 2 processes (mpirun -np 2), driven through its
 * library API with nn_dist: a process that runs out of memory stops both, with the same
 * message on each and no hang, whether it fails before the first step (its tape) or
 * inside a step (the tape's arena); then a run that works ends with the same parameters
 * on both processes, bit for bit those of --threads 2 in one process. The allocator hook
 * makes rank 1 fail: every allocation (MODE_ALL), or those of 1 MiB and more, which only
 * a tape's arena makes (MODE_BIG). Plain C: both ranks make the same calls in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_train.h"
#include "nn_dist.h"

enum { MODE_OK, MODE_ALL, MODE_BIG };
static int mode;
static int fails;

static void *hook_alloc(size_t n, void *ud)
{
    (void)ud;
    if (mode == MODE_ALL || (mode == MODE_BIG && n >= (1u << 20))) return NULL;
    return malloc(n);
}

static void hook_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "rank %d: FAIL line %d: ", nn_dist_rank(), __LINE__);                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            fails++;                                                                                                   \
        }                                                                                                              \
    } while (0)

/* A GRU with dropout trained on the sample for 200 names, batch 16, on `threads`
 * slices (dist: across the processes); rank 1 allocates under fail_mode meanwhile.
 * The return value of names_train, err its message; the model stays in *m. */
static int train(names_model *m, const names_data *d, const names_dist *dist, int threads, int fail_mode, char *err,
                 size_t errlen)
{
    ag_rng rng;
    ag_rng_seed(&rng, 3);
    if (names_model_build(m, NAMES_GRU, 16, 1, 0, d->n_classes, d->classes, &rng, err, errlen) != 0) return -2;
    names_train_opts o = {.optim = 1, .lr = 0.003, .iters = 200, .batch = 16, .seed = 3, .threads = threads,
                          .dropout = 0.2, .dist = dist};
    nn_optim opt;
    if (names_optim_init(&opt, m, &o, err, errlen) != 0) return -2;
    names_train_result r;
    if (nn_dist_rank() == 1) mode = fail_mode;
    int rc = names_train(m, &opt, d, &o, &r, err, errlen);
    mode = MODE_OK;
    if (rc == 0) names_train_result_free(&r);
    nn_optim_free(&opt);
    return rc;
}

int main(int argc, char **argv)
{
    if (nn_dist_init(&argc, &argv) != NN_OK) return 1;
    ag_set_allocator(&(ag_allocator){hook_alloc, hook_free, NULL});
    names_dist dist = {nn_dist_rank(), nn_dist_size(), nn_dist_sum_grads, nn_dist_check, nn_dist_compare,
                       nn_dist_compare_params};
    if (dist.ranks != 2) {
        fprintf(stderr, "test_mpi_names: run it on 2 processes (mpirun -np 2), not %d\n", dist.ranks);
        nn_dist_finalize();
        return 1;
    }
    names_data d;
    char err[1024];
    if (names_load_sample(&d, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    names_model m;

    /* out of memory on rank 1 before the first step: its tape cannot be made */
    strcpy(err, "untouched");
    int rc = train(&m, &d, &dist, 2, MODE_ALL, err, sizeof err);
    CHECK(rc == -1 && !strcmp(err, "rank 1 of 2: out of memory"), "setup: rc %d, '%s'", rc, err);
    names_model_free(&m);

    /* out of memory on rank 1 inside the first step: its tape's arena cannot grow */
    strcpy(err, "untouched");
    rc = train(&m, &d, &dist, 2, MODE_BIG, err, sizeof err);
    CHECK(rc == -1 && !strncmp(err, "rank 1 of 2: training step at name 0: ", 38), "step: rc %d, '%s'", rc, err);
    names_model_free(&m);

    /* a run that works: the same parameters everywhere, those of 2 threads in one process */
    rc = train(&m, &d, &dist, 2, MODE_OK, err, sizeof err);
    CHECK(rc == 0, "the run failed: %s", err);
    CHECK(nn_dist_compare_params(&m.ps, 0) == -1, "the processes' parameters differ");
    if (dist.rank == 0) {
        names_model alone;
        rc = train(&alone, &d, NULL, 2, MODE_OK, err, sizeof err);
        CHECK(rc == 0, "the run on 2 threads failed: %s", err);
        for (int k = 0; rc == 0 && k < m.ps.n; k++)
            CHECK(!memcmp(m.ps.p[k]->data, alone.ps.p[k]->data, (size_t)m.ps.p[k]->size * sizeof(ag_float)),
                  "'%s' differs from the run on 2 threads", m.ps.p[k]->name);
        names_model_free(&alone);
    }
    names_model_free(&m);
    names_free(&d);
    int any = nn_dist_check(fails != 0, NULL, 0);
    if (dist.rank == 0) printf("names_train on 2 processes: %s\n", any < 0 ? "5 passed, 0 failed" : "FAILED");
    nn_dist_finalize();
    ag_set_allocator(NULL);
    return any < 0 ? 0 : 1;
}
